/**
 * Tunables: the knobs under `<mnt>/.aheadfs/tunables/`, like /sys/block/<dev>/queue/*.
 * Each reads as one line and takes a write of one value; a bad value is refused with
 * EINVAL and changes nothing. Values, ranges and doc lines come from the knob table
 * (src/knobs/table.ts), as the mount flags' do: a flag and its file take the same values. They act on the live objects: the bdi (read_ahead_kb,
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
import { KNOBS, parseControl, type Knob } from '../knobs/table.js';
import type { ElvFsEntry } from '../block/elv-attrs.js';
import type { BackingDevInfo } from '../mm/types.js';
import type { DirtyKnobs } from '../mm/page-writeback.js';
import type { Trace } from '../stats/trace.js';

/** Re-exported: the knob table (src/knobs/table.ts) holds the ranges. */
export { READ_AHEAD_KB_MAX } from '../knobs/table.js';

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

/**
 * /proc/sys/vm/dirty_*: the kernel's names and rules (mm/page-writeback.c): writing a
 * _bytes knob zeroes its _ratio twin and the other way round; reading the one not in use
 * gives 0. Ratios are percents of the page cache. dirty_bytes below two pages is EINVAL,
 * as in the kernel. Values are parsed by the knob table, as the mount flags are.
 */
function vmTunables(vm: NonNullable<TunableTargets['vm']>): Map<string, Tunable> {
  const k = vm.wb.knobs;
  const t = new Map<string, Tunable>();
  const add = (knob: Knob<number>, field: keyof DirtyKnobs, twin?: keyof DirtyKnobs): void => {
    t.set(knob.name, {
      doc: knob.doc,
      read: () => String(k[field]),
      write: (v) => {
        const n = parseControl(knob, v);
        k[field] = n;
        // The twin is zeroed when a _bytes knob is set non-zero, and always by a ratio.
        if (twin !== undefined && (n > 0 || knob.unit === '%')) k[twin] = 0;
        vm.changed();
        vm.wb.wakeup(); // a lower threshold may mean work now
      },
    });
  };
  add(KNOBS.dirtyBackgroundBytes, 'dirtyBackgroundBytes', 'dirtyBackgroundRatio');
  add(KNOBS.dirtyBackgroundRatio, 'dirtyBackgroundRatio', 'dirtyBackgroundBytes');
  add(KNOBS.dirtyBytes, 'dirtyBytes', 'dirtyRatio');
  add(KNOBS.dirtyRatio, 'dirtyRatio', 'dirtyBytes');
  add(KNOBS.dirtyExpireCentisecs, 'dirtyExpireCentisecs');
  add(KNOBS.dirtyWritebackCentisecs, 'dirtyWritebackCentisecs');
  return t;
}

export function makeTunables({ bdi, queue, cache, trace, vm }: TunableTargets): Tunables {
  const vmT = vm ? vmTunables(vm) : undefined;
  const t = new Map<string, Tunable>();
  const doc = (k: Knob<unknown>): string => k.doc;
  t.set('read_ahead_kb', {
    doc: doc(KNOBS.readAheadKb),
    read: () => String(bdi.raPages * 4),
    write: (v) => {
      bdi.raPages = Math.floor(parseControl(KNOBS.readAheadKb, v) / 4);
    },
  });
  t.set('max_sectors_kb', {
    doc: doc(KNOBS.maxSectorsKb),
    read: () => String(queue.maxSectorsKb),
    write: (v) => {
      const kb = parseControl(KNOBS.maxSectorsKb, v);
      queue.setMaxSectorsKb(kb);
      bdi.ioPages = Math.floor(kb / 4);
    },
  });
  t.set('nr_requests', {
    doc: doc(KNOBS.nrRequests),
    read: () => String(queue.nrRequests),
    write: (v) => queue.setNrRequests(parseControl(KNOBS.nrRequests, v)),
  });
  t.set('scheduler', {
    doc: doc(KNOBS.scheduler),
    read: () => queue.schedulerString(),
    write: (v) => queue.setScheduler(parseControl(KNOBS.scheduler, v)),
  });
  t.set('readpages', {
    doc: doc(KNOBS.readpages),
    read: () => (cache.useReadahead ? '1' : '0'),
    write: (v) => {
      cache.useReadahead = parseControl(KNOBS.readpages, v);
    },
  });
  const kernel = cache.kernel;
  if (kernel !== undefined) t.set('kernel', {
    doc: doc(KNOBS.kernel),
    read: () => kernel,
    write: () => {
      throw fsError('EPERM', `kernel: read-only (chosen at mount with --kernel ${kernel})`);
    },
  });
  t.set('trace', {
    doc: doc(KNOBS.trace),
    read: () => (!trace.enabled ? '0' : trace.reads ? '2' : '1'),
    write: (v) => {
      const level = parseControl(KNOBS.trace, v);
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
