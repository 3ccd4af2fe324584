/**
 * The content of `<mnt>/.aheadfs/`, like /proc and /sys for the kernel. src/fuse serves
 * these names as files; this module knows what they say and what writes do.
 *
 *   stats          every counter, `name value` per line (like /proc/vmstat)
 *   stats.json     the same as one JSON object
 *   stats_interval `stats` per reader: each open is an interval for the high-water marks
 *                  (rq_inflight_max); a read at offset 0 reports the highest level since
 *                  that handle's previous read at offset 0 (or its open) and starts the
 *                  next interval. Counters are the same as in `stats` (readers subtract).
 *   diskstats      the device's 17 fields in /sys/block/<dev>/stat order
 *   trace          recent events, oldest first; any write clears it
 *   files          open files with their readahead state
 *   kmsg           the message ring (src/stats/kmsg.ts): why a write was refused, device
 *                  errors, fault-injection hits, reclaim trouble, the mount's options
 *   drop_caches    write 1: evict every clean, unlocked page (like /proc/sys/vm/drop_caches)
 *   sync           write 1: syncfs: every dirty page written back, the device and LMDB
 *                  flushed; the write(2) returns when that is done (FUSE 2 has no syncfs)
 *   tunables/<n>   read/write knobs (see tunables.ts)
 *   tunables/iosched/<n>  the active scheduler's knobs; absent with `none`
 *   fail_make_request/<n>, delay/<n>  fault injection and latency (see fault-files.ts)
 */

import { fsError, isFsError, type FsError } from '../errors.js';
import { Kmsg } from '../stats/kmsg.js';
import type { Stats } from '../stats/registry.js';
import type { Trace } from '../stats/trace.js';
import type { ControlGroup } from './fault-files.js';
import type { Tunables } from './tunables.js';

export interface ControlFiles {
  /** '' -> top-level names; 'tunables' -> the tunables' names; 'tunables/iosched' -> the scheduler's. */
  list(dir: string): string[];
  isDir(name: string): boolean;
  /** Throws FsError ENOENT for an unknown name. */
  read(name: string): string;
  /** Throws FsError EINVAL (bad value), EACCES (read-only file) or ENOENT. */
  /** `sync` resolves when done. */
  write(name: string, data: string): void | Promise<void>;
  /**
   * For a file whose content depends on the reader (`stats_interval`): the state of one
   * open handle, asked again at each read at offset 0; undefined for the other files.
   */
  openSession?(name: string): ControlSession | undefined;
}

/** One open handle's view of a per-reader file. */
export interface ControlSession {
  /** The content now (and, for stats_interval, the start of the next interval). */
  read(): string;
  close(): void;
}

export interface ControlSources {
  stats: Stats;
  trace: Trace;
  /** Refused writes are recorded here (default: a ring of its own). */
  kmsg?: Kmsg;
  tunables: Tunables;
  diskstats(): string;
  files(): string;
  dropCaches(): number;
  /** syncfs: write back everything, flush the device and the metadata. */
  sync?(): Promise<void>;
  /** Directories of plain knobs under `.aheadfs/` (fail_make_request/, delay/), by name. */
  groups?: Record<string, ControlGroup>;
}

const TOP = ['stats', 'stats.json', 'diskstats', 'trace', 'files', 'kmsg', 'drop_caches', 'sync', 'tunables', 'stats_interval'];

/** 'tunables' -> '', 'tunables/iosched/x' -> 'iosched/x'; undefined outside tunables/. */
function tunablePath(name: string): string | undefined {
  if (name === 'tunables') return '';
  return name.startsWith('tunables/') ? name.slice('tunables/'.length) : undefined;
}

export function makeControlFiles(src: ControlSources): ControlFiles {
  const groups = src.groups ?? {};
  const kmsg = src.kmsg ?? new Kmsg();
  /** 'delay/read_us' -> its knob; undefined for anything else. */
  const groupEntry = (name: string): { read(): string; write(v: string): void } | undefined => {
    const slash = name.indexOf('/');
    if (slash < 0) return undefined;
    const dir = name.slice(0, slash);
    return Object.hasOwn(groups, dir) ? groups[dir]!.get(name.slice(slash + 1)) : undefined;
  };
  const isDir = (name: string): boolean => {
    if (name === '' || Object.hasOwn(groups, name)) return true;
    const sub = tunablePath(name);
    return sub !== undefined && src.tunables.list(sub) !== undefined;
  };
  const readers: Record<string, () => string> = {
    stats: () => src.stats.format(),
    // Without a handle (getattr's size): the since-mount values, the same length.
    stats_interval: () => src.stats.format(),
    'stats.json': () => JSON.stringify(src.stats.snapshot(), null, 1) + '\n',
    diskstats: () => src.diskstats(),
    trace: () => {
      const lines = src.trace.read();
      return lines.length ? lines.join('\n') + '\n' : '';
    },
    files: () => src.files(),
    kmsg: () => kmsg.format(),
    drop_caches: () => '0\n',
    sync: () => '0\n',
  };
  return {
    list(dir) {
      if (dir === '') return [...TOP, ...Object.keys(groups)];
      if (Object.hasOwn(groups, dir)) return groups[dir]!.names();
      const sub = tunablePath(dir);
      const names = sub === undefined ? undefined : src.tunables.list(sub);
      if (names) return names;
      throw fsError('ENOENT', `.aheadfs/${dir}`);
    },
    isDir,
    read(name) {
      const reader = readers[name];
      if (reader) return reader();
      const path = tunablePath(name);
      const t = path ? src.tunables.get(path) : undefined;
      if (t) return t.read() + '\n';
      const g = groupEntry(name);
      if (g) return g.read() + '\n';
      if (isDir(name)) throw fsError('EISDIR', `.aheadfs/${name}`);
      throw fsError('ENOENT', `.aheadfs/${name}`);
    },
    openSession(name) {
      if (name !== 'stats_interval') return undefined;
      const interval = src.stats.openInterval();
      return { read: () => src.stats.format(interval.take()), close: () => interval.close() };
    },
    write(name, data) {
      if (name === 'sync') {
        // syncfs (FUSE 2 has no SYNCFS request): resolves once everything is written back.
        const v = data.trim();
        if (v !== '1') throw refused(name, data, fsError('EINVAL', `sync: write 1 (got ${JSON.stringify(v)})`));
        return src.sync?.();
      }
      try {
        write(name, data);
      } catch (err) {
        // The write fails with the errno; the reason goes where users look (dmesg).
        throw isFsError(err) ? refused(name, data, err) : err;
      }
    },
  };

  /** The write fails with the errno; the reason goes where users look (dmesg). */
  function refused(name: string, data: string, err: FsError): FsError {
    const why = err.message.startsWith(`${err.code}: `) ? err.message.slice(err.code.length + 2) : err.message;
    kmsg.emit('warn', name.split('/')[0]!, `write of ${JSON.stringify(data.trim().slice(0, 80))} to .aheadfs/${name} refused (${err.code}): ${why}`);
    return err;
  }

  function write(name: string, data: string): void {
    switch (name) {
      case 'trace':
        src.trace.clear();
        return;
      case 'drop_caches': {
        const v = data.trim();
        if (v !== '1' && v !== '3') throw fsError('EINVAL', `drop_caches: write 1 (got ${JSON.stringify(v)})`);
        src.dropCaches();
        return;
      }
    }
    const path = tunablePath(name);
    const t = path ? src.tunables.get(path) : undefined;
    if (t) return t.write(data);
    const g = groupEntry(name);
    if (g) return g.write(data);
    if (isDir(name)) throw fsError('EISDIR', `.aheadfs/${name}`);
    if (name in readers) throw fsError('EACCES', `.aheadfs/${name} is read-only`);
    throw fsError('ENOENT', `.aheadfs/${name}`);
  }
}
