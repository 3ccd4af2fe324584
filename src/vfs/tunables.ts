/**
 * Tunables: the knobs under `<mnt>/.aheadfs/tunables/`, like /sys/block/<dev>/queue/*.
 * Each reads as one line and takes a write of one value; a bad value is refused with
 * EINVAL and changes nothing. They act on the live objects: the bdi (read_ahead_kb,
 * io_pages), the request queue (nr_requests, max_sectors_kb, scheduler), the page cache
 * (readpages) and the trace (trace). `kernel` (4.18 or 6.18) is read-only: the mount's --kernel.
 *
 * read_ahead_kb applies to files opened afterwards, like the kernel's per-device value
 * (each open file copies ra_pages at open).
 *
 * `iosched/<name>` are the active scheduler's own tunables, like
 * /sys/block/<dev>/queue/iosched/ (mq-deadline: read_expire, write_expire, writes_starved,
 * front_merges, fifo_batch; see src/block/mq-deadline.ts for ranges and clamps). They are
 * looked up on the queue's current elevator at every access, so they always act on the
 * scheduler active now: a switch gives a new elevator with default values. With `none`
 * there is no iosched/ (the kernel removes the directory): it and its files are absent
 * (ENOENT); a write through a handle opened before the switch fails the same way, a read
 * through it still returns what it read at open. (Through FUSE, the kernel's entry
 * cache may let a `stat` find them for up to a second; open, read and write fail.)
 */

import { fsError } from '../errors.js';
import type { ElvFsEntry } from '../block/elv-attrs.js';
import type { BackingDevInfo } from '../mm/types.js';
import type { DirtyKnobs } from '../mm/page-writeback.js';
import type { Trace } from '../stats/trace.js';

/** Largest read_ahead_kb accepted: 64 MiB windows (the kernel accepts more; no device here needs it). */
export const READ_AHEAD_KB_MAX = 65536;

export interface TunableQueue {
  setNrRequests(n: number): void;
  setMaxSectorsKb(kb: number): void;
  setScheduler(name: string): void;
  readonly nrRequests: number;
  readonly maxSectorsKb: number;
  schedulerString(): string;
  /** The active scheduler's iosched/ files (empty for `none`). */
  elevatorAttrs(): readonly ElvFsEntry[];
}

/** The subdirectory of tunables/ holding the scheduler's tunables. */
export const IOSCHED_DIR = 'iosched';

/** What is under tunables/ right now: the flat knobs, and iosched/ while the scheduler has tunables. */
export interface Tunables {
  /** Names in `dir` ('' = tunables/ itself, 'iosched'); undefined when no such directory exists now. */
  list(dir: string): string[] | undefined;
  /** The tunable at `path` ('read_ahead_kb', 'iosched/fifo_batch'), or undefined. Look up at each access. */
  get(path: string): Tunable | undefined;
}

export interface Tunable {
  readonly doc: string;
  read(): string;
  /** Throws FsError EINVAL for a bad value (nothing changed). */
  write(value: string): void;
}

/** Parse a whole non-negative integer, or throw EINVAL naming the tunable. */
export function parseTunableInt(name: string, text: string, min: number, max: number): number {
  const s = text.trim();
  if (!/^\d+$/.test(s)) throw fsError('EINVAL', `${name}: not a whole number: ${JSON.stringify(s)}`);
  const n = Number(s);
  if (n < min || n > max) throw fsError('EINVAL', `${name}: ${n} is out of range ${min}..${max}`);
  return n;
}

function parseBool(name: string, text: string): boolean {
  const s = text.trim();
  if (s === '1' || s === 'on') return true;
  if (s === '0' || s === 'off') return false;
  throw fsError('EINVAL', `${name}: expected 0 or 1, got ${JSON.stringify(s)}`);
}

export interface TunableTargets {
  bdi: BackingDevInfo;
  queue: TunableQueue;
  cache: { useReadahead: boolean; readonly kernel?: string };
  trace: Trace;
  /** Writeback mounts: the vm.dirty_* knobs under vm/, and what to tell when one changed. */
  vm?: { wb: { knobs: DirtyKnobs; wakeup(): void }; changed(): void };
}

/** The subdirectory of tunables/ with the vm.dirty_* knobs (writeback mounts only). */
export const VM_DIR = 'vm';

/** Largest dirty_*_bytes accepted (the cache is at most 4 GiB; the limit is clamped to it anyway). */
const DIRTY_BYTES_MAX = 2 ** 40;

/**
 * /proc/sys/vm/dirty_*: the kernel's names and rules (mm/page-writeback.c): writing a
 * _bytes knob zeroes its _ratio twin and the other way round; reading the one not in use
 * gives 0. Ratios are percents of the page cache. dirty_bytes below two pages is EINVAL,
 * as in the kernel.
 */
function vmTunables(vm: NonNullable<TunableTargets['vm']>): Map<string, Tunable> {
  const k = vm.wb.knobs;
  const t = new Map<string, Tunable>();
  const set = (fn: () => void): void => {
    fn();
    vm.changed();
    vm.wb.wakeup(); // a lower threshold may mean work now
  };
  t.set('dirty_background_bytes', {
    doc: 'dirty bytes at which the flusher starts writing back (0: use dirty_background_ratio)',
    read: () => String(k.dirtyBackgroundBytes),
    write: (v) => {
      const n = parseTunableInt('dirty_background_bytes', v, 0, DIRTY_BYTES_MAX);
      set(() => {
        k.dirtyBackgroundBytes = n;
        if (n > 0) k.dirtyBackgroundRatio = 0;
      });
    },
  });
  t.set('dirty_background_ratio', {
    doc: 'percent of the page cache dirty at which the flusher starts writing back',
    read: () => String(k.dirtyBackgroundRatio),
    write: (v) => {
      const n = parseTunableInt('dirty_background_ratio', v, 0, 100);
      set(() => {
        k.dirtyBackgroundRatio = n;
        k.dirtyBackgroundBytes = 0;
      });
    },
  });
  t.set('dirty_bytes', {
    doc: 'dirty + writeback bytes at which writers wait (0: use dirty_ratio)',
    read: () => String(k.dirtyBytes),
    write: (v) => {
      const n = parseTunableInt('dirty_bytes', v, 0, DIRTY_BYTES_MAX);
      if (n > 0 && n < 2 * 4096) throw fsError('EINVAL', `dirty_bytes: ${n} is below two pages (8192)`);
      set(() => {
        k.dirtyBytes = n;
        if (n > 0) k.dirtyRatio = 0;
      });
    },
  });
  t.set('dirty_ratio', {
    doc: 'percent of the page cache dirty or under writeback at which writers wait (at most 7/8 of the cache is used)',
    read: () => String(k.dirtyRatio),
    write: (v) => {
      const n = parseTunableInt('dirty_ratio', v, 1, 100);
      set(() => {
        k.dirtyRatio = n;
        k.dirtyBytes = 0;
      });
    },
  });
  t.set('dirty_expire_centisecs', {
    doc: 'dirty data older than this (1/100 s) is written back by the periodic flush',
    read: () => String(k.dirtyExpireCentisecs),
    write: (v) => {
      const n = parseTunableInt('dirty_expire_centisecs', v, 0, 2 ** 31 - 1);
      set(() => (k.dirtyExpireCentisecs = n));
    },
  });
  t.set('dirty_writeback_centisecs', {
    doc: 'interval of the periodic flush in 1/100 s (0: no periodic flush)',
    read: () => String(k.dirtyWritebackCentisecs),
    write: (v) => {
      const n = parseTunableInt('dirty_writeback_centisecs', v, 0, 2 ** 31 - 1);
      set(() => (k.dirtyWritebackCentisecs = n));
    },
  });
  return t;
}

export function makeTunables({ bdi, queue, cache, trace, vm }: TunableTargets): Tunables {
  const vmT = vm ? vmTunables(vm) : undefined;
  const t = new Map<string, Tunable>();
  t.set('read_ahead_kb', {
    doc: 'maximum readahead window in KiB for files opened from now on (0 = readahead off)',
    read: () => String(bdi.raPages * 4),
    write: (v) => {
      bdi.raPages = Math.floor(parseTunableInt('read_ahead_kb', v, 0, READ_AHEAD_KB_MAX) / 4);
    },
  });
  t.set('max_sectors_kb', {
    doc: 'largest request sent to the device in KiB; also the optimal I/O size (io_pages) readahead may use',
    read: () => String(queue.maxSectorsKb),
    write: (v) => {
      const kb = parseTunableInt('max_sectors_kb', v, 0, Number.MAX_SAFE_INTEGER);
      queue.setMaxSectorsKb(kb); // validates
      bdi.ioPages = Math.floor(kb / 4);
    },
  });
  t.set('nr_requests', {
    doc: 'request tags of the queue: requests in flight at most',
    read: () => String(queue.nrRequests),
    write: (v) => queue.setNrRequests(parseTunableInt('nr_requests', v, 0, Number.MAX_SAFE_INTEGER)),
  });
  t.set('scheduler', {
    doc: 'I/O scheduler: none or mq-deadline (the active one in brackets)',
    read: () => queue.schedulerString(),
    write: (v) => queue.setScheduler(v.trim()),
  });
  t.set('readpages', {
    doc: "1: readahead batches use the filesystem's multi-page readahead; 0: readpage per page, merged by the plug",
    read: () => (cache.useReadahead ? '1' : '0'),
    write: (v) => {
      cache.useReadahead = parseBool('readpages', v);
    },
  });
  const kernel = cache.kernel;
  if (kernel !== undefined) t.set('kernel', {
    doc: 'the kernel whose read loop and readahead this mount runs: 4.18 or 6.18 (chosen at mount with --kernel; read-only)',
    read: () => kernel,
    write: () => {
      throw fsError('EPERM', `kernel: read-only (chosen at mount with --kernel ${kernel})`);
    },
  });
  t.set('trace', {
    doc: '1: record events in .aheadfs/trace; 2: also one `read` line per FUSE read; 0: off (costs nothing)',
    read: () => (!trace.enabled ? '0' : trace.reads ? '2' : '1'),
    write: (v) => {
      const level = v.trim();
      if (level !== '0' && level !== '1' && level !== '2') throw fsError('EINVAL', `trace: expected 0, 1 or 2, got ${JSON.stringify(level)}`);
      trace.enabled = level !== '0';
      trace.reads = level === '2';
    },
  });
  const ioschedNames = (): string[] | undefined => {
    const attrs = queue.elevatorAttrs();
    return attrs.length > 0 ? attrs.map((a) => a.name) : undefined;
  };
  return {
    list(dir) {
      if (dir === '') return [...t.keys(), ...(ioschedNames() ? [IOSCHED_DIR] : []), ...(vmT ? [VM_DIR] : [])];
      if (dir === VM_DIR) return vmT ? [...vmT.keys()] : undefined;
      return dir === IOSCHED_DIR ? ioschedNames() : undefined;
    },
    get(path) {
      if (path.startsWith(VM_DIR + '/')) return vmT?.get(path.slice(VM_DIR.length + 1));
      if (!path.startsWith(IOSCHED_DIR + '/')) return t.get(path);
      const name = path.slice(IOSCHED_DIR.length + 1);
      const attr = queue.elevatorAttrs().find((a) => a.name === name);
      return attr && { doc: attr.doc, read: () => attr.show(), write: (v) => attr.store(v) };
    },
  };
}
