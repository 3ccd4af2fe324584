/**
 * Disk statistics: the 17 fields of /sys/block/<dev>/stat (Documentation/block/stat.rst),
 * kept the way the kernel keeps them, and `iostat -x` computed from two samples.
 *
 *   idx field            when it moves
 *    0  read I/Os        a read request completes (one per request, however many bios)
 *    1  read merges      a bio joins a queued/plugged read request, or two requests merge
 *    2  read sectors     on completion, the request's sectors
 *    3  read ticks ms    on completion, completion - request creation (plug time included)
 *    4-7 the same for writes
 *    8  in_flight        requests handed to the device and not completed (the kernel's
 *                        blk-mq "in driver" count; queued requests are not in it)
 *    9  io_ticks ms      wall time with in_flight > 0
 *   10  time_in_queue ms sum of every request's ticks (read + write + flush), as
 *                        part_stat_show computes it since v5.0
 *   11-14 discards       always 0 (no discard support)
 *   15  flush I/Os       flush requests completed
 *   16  flush ticks ms
 *
 * Times are kept as fractional ms and floored when read, like the kernel's nsecs / 1e6.
 * A failed request is still an I/O: the kernel accounts it on completion whatever its status.
 */

import { SECTOR_SIZE } from './bio.js';
import type { Request } from './request.js';

export const DISKSTATS_FIELDS = 17;

/** Indexes into the diskstats array. */
export const DS = {
  readIos: 0,
  readMerges: 1,
  readSectors: 2,
  readTicks: 3,
  writeIos: 4,
  writeMerges: 5,
  writeSectors: 6,
  writeTicks: 7,
  inFlight: 8,
  ioTicks: 9,
  timeInQueue: 10,
  discardIos: 11,
  discardMerges: 12,
  discardSectors: 13,
  discardTicks: 14,
  flushIos: 15,
  flushTicks: 16,
} as const;

/** Width of each field in the sysfs file (`%8lu`), separated by one space. */
export const DISKSTATS_FIELD_WIDTH = 8;

export class DiskStats {
  private readonly ios = { read: 0, write: 0, flush: 0 };
  private readonly merges = { read: 0, write: 0 };
  private readonly sectors = { read: 0, write: 0 };
  private readonly ticks = { read: 0, write: 0, flush: 0 };
  private inFlight = 0;
  private ioTicks = 0;
  /** When in_flight last went from 0 to 1 (valid while inFlight > 0). */
  private busySince = 0;

  /** A bio or request merged into an existing request of direction `dir`. */
  accountMerge(dir: 'read' | 'write'): void {
    this.merges[dir]++;
  }

  /** A request was handed to the device. */
  accountStart(nowMs: number): void {
    if (this.inFlight++ === 0) this.busySince = nowMs;
  }

  /** A request completed (successfully or not). */
  accountDone(rq: Request, nowMs: number): void {
    const t = Math.max(0, nowMs - rq.startMs);
    this.ios[rq.op]++;
    this.ticks[rq.op] += t;
    if (rq.op !== 'flush') this.sectors[rq.op] += rq.nrSectors;
    if (--this.inFlight === 0) this.ioTicks += nowMs - this.busySince;
  }

  fields(nowMs: number): number[] {
    const busy = this.ioTicks + (this.inFlight > 0 ? nowMs - this.busySince : 0);
    const f = new Array<number>(DISKSTATS_FIELDS).fill(0);
    f[DS.readIos] = this.ios.read;
    f[DS.readMerges] = this.merges.read;
    f[DS.readSectors] = this.sectors.read;
    f[DS.readTicks] = Math.floor(this.ticks.read);
    f[DS.writeIos] = this.ios.write;
    f[DS.writeMerges] = this.merges.write;
    f[DS.writeSectors] = this.sectors.write;
    f[DS.writeTicks] = Math.floor(this.ticks.write);
    f[DS.inFlight] = this.inFlight;
    f[DS.ioTicks] = Math.floor(busy);
    f[DS.timeInQueue] = Math.floor(this.ticks.read + this.ticks.write + this.ticks.flush);
    f[DS.flushIos] = this.ios.flush;
    f[DS.flushTicks] = Math.floor(this.ticks.flush);
    return f;
  }
}

/** The sysfs line: each field right-aligned in 8 columns, one space apart, newline-terminated. */
export function formatDiskstats(fields: readonly number[]): string {
  return fields.map((v) => String(v).padStart(DISKSTATS_FIELD_WIDTH)).join(' ') + '\n';
}

/** One `iostat -x` row. Rates per second, sizes in kB, times in ms. */
export interface IostatX {
  rPerS: number;
  rkBPerS: number;
  rrqmPerS: number;
  rrqmPct: number;
  rAwait: number;
  rareqSz: number;
  wPerS: number;
  wkBPerS: number;
  wrqmPerS: number;
  wrqmPct: number;
  wAwait: number;
  wareqSz: number;
  aquSz: number;
  utilPct: number;
}

/** Column headers as iostat prints them, in iostat's order, with the field each one shows. */
export const IOSTAT_X_COLUMNS: readonly (readonly [string, keyof IostatX])[] = [
  ['r/s', 'rPerS'],
  ['rkB/s', 'rkBPerS'],
  ['rrqm/s', 'rrqmPerS'],
  ['%rrqm', 'rrqmPct'],
  ['r_await', 'rAwait'],
  ['rareq-sz', 'rareqSz'],
  ['w/s', 'wPerS'],
  ['wkB/s', 'wkBPerS'],
  ['wrqm/s', 'wrqmPerS'],
  ['%wrqm', 'wrqmPct'],
  ['w_await', 'wAwait'],
  ['wareq-sz', 'wareqSz'],
  ['aqu-sz', 'aquSz'],
  ['%util', 'utilPct'],
];

const KB_PER_SECTOR = SECTOR_SIZE / 1024;

/**
 * iostat -x from two diskstats samples `dtMs` apart (sysstat's formulas). A counter that
 * went backwards (stats reset) counts as 0; a division by zero gives 0; %util is capped at
 * 100 like sysstat does (timer granularity can make io_ticks exceed the interval).
 */
export function iostatX(prev: readonly number[], cur: readonly number[], dtMs: number): IostatX {
  const d = (i: number): number => Math.max(0, (cur[i] ?? 0) - (prev[i] ?? 0));
  const div = (a: number, b: number): number => (b > 0 ? a / b : 0);
  const dtS = dtMs / 1000;

  const rIos = d(DS.readIos);
  const rMerges = d(DS.readMerges);
  const rKb = d(DS.readSectors) * KB_PER_SECTOR;
  const wIos = d(DS.writeIos);
  const wMerges = d(DS.writeMerges);
  const wKb = d(DS.writeSectors) * KB_PER_SECTOR;

  return {
    rPerS: div(rIos, dtS),
    rkBPerS: div(rKb, dtS),
    rrqmPerS: div(rMerges, dtS),
    rrqmPct: 100 * div(rMerges, rMerges + rIos),
    rAwait: div(d(DS.readTicks), rIos),
    rareqSz: div(rKb, rIos),
    wPerS: div(wIos, dtS),
    wkBPerS: div(wKb, dtS),
    wrqmPerS: div(wMerges, dtS),
    wrqmPct: 100 * div(wMerges, wMerges + wIos),
    wAwait: div(d(DS.writeTicks), wIos),
    wareqSz: div(wKb, wIos),
    aquSz: div(d(DS.timeInQueue), dtMs),
    utilPct: Math.min(100, 100 * div(d(DS.ioTicks), dtMs)),
  };
}
