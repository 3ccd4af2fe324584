/**
 * The content of `<mnt>/.aheadfs/`, like /proc and /sys for the kernel. src/fuse serves
 * these names as files; this module knows what they say and what writes do.
 *
 *   stats          every counter, `name value` per line (like /proc/vmstat)
 *   stats.json     the same as one JSON object
 *   diskstats      the device's 17 fields in /sys/block/<dev>/stat order
 *   trace          recent events, oldest first; any write clears it
 *   files          open files with their readahead state
 *   drop_caches    write 1: evict every clean, unlocked page (like /proc/sys/vm/drop_caches)
 *   tunables/<n>   read/write knobs (see tunables.ts)
 */

import { fsError } from '../errors.js';
import type { Stats } from '../stats/registry.js';
import type { Trace } from '../stats/trace.js';
import type { Tunable } from './tunables.js';

export interface ControlFiles {
  /** '' -> top-level names; 'tunables' -> the tunables' names. */
  list(dir: string): string[];
  isDir(name: string): boolean;
  /** Throws FsError ENOENT for an unknown name. */
  read(name: string): string;
  /** Throws FsError EINVAL (bad value), EACCES (read-only file) or ENOENT. */
  write(name: string, data: string): void;
}

export interface ControlSources {
  stats: Stats;
  trace: Trace;
  tunables: Map<string, Tunable>;
  diskstats(): string;
  files(): string;
  dropCaches(): number;
}

const TOP = ['stats', 'stats.json', 'diskstats', 'trace', 'files', 'drop_caches', 'tunables'];

export function makeControlFiles(src: ControlSources): ControlFiles {
  const readers: Record<string, () => string> = {
    stats: () => src.stats.format(),
    'stats.json': () => JSON.stringify(src.stats.snapshot(), null, 1) + '\n',
    diskstats: () => src.diskstats(),
    trace: () => {
      const lines = src.trace.read();
      return lines.length ? lines.join('\n') + '\n' : '';
    },
    files: () => src.files(),
    drop_caches: () => '0\n',
  };
  return {
    list(dir) {
      if (dir === '') return [...TOP];
      if (dir === 'tunables') return [...src.tunables.keys()];
      throw fsError('ENOENT', `.aheadfs/${dir}`);
    },
    isDir: (name) => name === '' || name === 'tunables',
    read(name) {
      const reader = readers[name];
      if (reader) return reader();
      if (name.startsWith('tunables/')) {
        const t = src.tunables.get(name.slice('tunables/'.length));
        if (t) return t.read() + '\n';
      }
      if (name === 'tunables' || name === '') throw fsError('EISDIR', `.aheadfs/${name}`);
      throw fsError('ENOENT', `.aheadfs/${name}`);
    },
    write(name, data) {
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
      if (name.startsWith('tunables/')) {
        const t = src.tunables.get(name.slice('tunables/'.length));
        if (t) return t.write(data);
      }
      if (name in readers) throw fsError('EACCES', `.aheadfs/${name} is read-only`);
      throw fsError('ENOENT', `.aheadfs/${name}`);
    },
  };
}
