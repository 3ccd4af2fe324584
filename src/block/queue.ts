/**
 * The request queue (block/blk-mq.c, blk-core.c): from bios to device I/O.
 *
 *   submitBio(bio)
 *     │ invalid (unaligned, beyond the device) ─────────────────────────▶ endIo(EIO)
 *     │ flush op ─────────────────────────────▶ dispatch list ─┐
 *     │ split at max_sectors (bio_split)                        │
 *     ├─ plug open?  merge into a plugged request, or add one   │
 *     │      (plug full at 16: flush it first)                  │
 *     │      blkFinishPlug: sort by sector ──▶ insert ─┐        │
 *     └─ no plug: merge into a queued request, or insert┤        │
 *                                                       ▼        ▼
 *                                  scheduler (none | mq-deadline)  ──▶ runQueue: while a
 *                                  tag is free (in flight < nr_requests) dispatch to dev
 *                                  (or fail_make_request: EIO without the device, fault-inject.ts)
 *                                                                  ──▶ (+ delay read_us/write_us)
 *                                                                  ──▶ completion: account,
 *                                  every bio's endIo (status EIO on error), dispatch more
 *
 * Differences from the kernel, on purpose: submitBio never blocks (JS cannot sleep), so
 * nr_requests limits requests in flight on the device (the driver tags), not requests
 * allocated; readahead backs off through `congested()` instead. A flush is sent as soon as
 * a tag is free and is not ordered against writes in flight: callers wait for their
 * writes to complete before they submit the flush (as fsync does).
 *
 * Trace events (only when trace.enabled; recorded as binary, read back as these lines
 * with `[ pid=<p>] t=<us>` appended):
 *   bio submit op=<read|write|flush> sector=<s> bytes=<n>
 *   bio split sector=<s> bytes=<n> parts=<k>
 *   bio complete op=<op> sector=<s> bytes=<n> status=<ok|EIO>
 *   plug flush requests=<n> reason=<finish|full|schedule>
 *   rq dispatch op=<op> sector=<s> bytes=<n> inflight=<n after dispatch>
 *   rq inject op=<op> sector=<s> bytes=<n> status=EIO     (fail_make_request chose it)
 *   rq complete op=<op> sector=<s> bytes=<n> status=<ok|EIO> ms=<creation to completion>
 *   rq scheduler from=<name> to=<name> moved=<n>
 */

import { dbg } from '../stats/debug.js';
import { fsError, type ErrorCode } from '../errors.js';
import type { Stats } from '../stats/registry.js';
import { TraceEvent, type Trace } from '../stats/trace.js';
import { runIoCompletion } from './completion.js';
import { bioAlloc, SECTOR_SIZE, type Bio, type Sector } from './bio.js';
import { DiskStats } from './diskstats.js';
import { DEFAULT_SCHEDULER, ELEVATOR_NAMES, elevatorAlloc, isSchedulerName, type Elevator, type ElevatorContext, type SchedulerName } from './elevator.js';
import type { ElvFsEntry } from './elv-attrs.js';
import { BLK_MAX_REQUEST_COUNT, blkAttemptPlugMerge, blkFlushPlugList, currentPlug, plugRequestCount, type PlugFlushReason } from './plug.js';
import { bioEnd, dataDir, rqAlloc, rqBytes, rqSegments, type DataDir, type Request } from './request.js';
import { bioSplit } from './split.js';
import { BlkFaults } from './fault-inject.js';
import type { LayerLog } from '../stats/kmsg.js';

/** Default tags (requests in flight on the device). */
export const BLK_DEF_NR_REQUESTS = 64;
export const BLK_MAX_NR_REQUESTS = 4096;
/**
 * BLKDEV_MIN_RQ: the fewest tags a user may set (queue/nr_requests, --nr-requests; the
 * kernel raises a smaller value to it). The queue itself takes 1 (tests run one request at a time).
 */
export const BLKDEV_MIN_RQ = 4;
/** Default largest request, in KiB (the kernel's BLK_DEF_MAX_SECTORS is 2560 sectors). */
export const BLK_DEF_MAX_SECTORS_KB = 1280;
export const BLK_MIN_MAX_SECTORS_KB = 4;
export const BLK_MAX_MAX_SECTORS_KB = 32768;
/** Congested when in flight >= nr_requests * 7/8 (the kernel's congestion-on threshold). */
export const BLK_CONGESTED_NUM = 7;
export const BLK_CONGESTED_DEN = 8;

/** What the queue needs of a device (BlockDevice, or a fake in tests). */
export interface QueueDevice {
  read(sector: Sector, segments: Uint8Array[]): Promise<void>;
  write(sector: Sector, segments: Uint8Array[]): Promise<void>;
  flush(): Promise<void>;
  /**
   * Optional: read or write in callback form, `done` called once, never synchronously. A
   * device that has it gets the queue's reads and writes through it (no promise per request).
   */
  transfer?(op: 'read' | 'write', sector: Sector, segments: Uint8Array[], done: (err: unknown) => void): void;
  /** When known, bios beyond the end fail with EIO at submit (bio_check_eod). */
  readonly nrSectors?: number;
}

export interface RequestQueueOptions {
  /** 1..4096, default 64. */
  nrRequests?: number;
  /** Multiple of 4 in 4..32768, default 1280. */
  maxSectorsKb?: number;
  /** Default 'mq-deadline'. */
  scheduler?: SchedulerName;
  stats: Stats;
  trace: Trace;
  /** Clock in ms (monotonic); default performance.now. Tests pass a fake. */
  now?: () => number;
  /** Where device errors and endIo bugs are reported; default console.error. */
  log?: LayerLog;
  /** fail_make_request and delay; default: a new BlkFaults (off) logging to `log`. */
  faults?: BlkFaults;
}

/** The error of a request failed by fail_make_request (never reaches a caller: bios get 'EIO'). */
const INJECTED = fsError('EIO', 'injected by fail_make_request');

export class RequestQueue {
  private _nrRequests = BLK_DEF_NR_REQUESTS;
  private _maxSectorsKb = BLK_DEF_MAX_SECTORS_KB;
  private elevator: Elevator;
  /** Requests that bypass the scheduler (flushes), sent before it (hctx->dispatch). */
  private readonly dispatchList: Request[] = [];
  private inFlight = 0;
  private congestedNow = false;
  private readonly ds = new DiskStats();
  private drainWaiters: (() => void)[] = [];
  private readonly stats: Stats;
  private readonly trace: Trace;
  private readonly now: () => number;
  private readonly log: LayerLog;
  /** fail_make_request and delay (fault-inject.ts); consulted at every dispatch. */
  readonly faults: BlkFaults;

  constructor(
    private readonly dev: QueueDevice,
    opts: RequestQueueOptions,
  ) {
    this.stats = opts.stats;
    this.trace = opts.trace;
    this.now = opts.now ?? (() => performance.now());
    this.log = opts.log ?? ((msg) => console.error(msg));
    this.faults = opts.faults ?? new BlkFaults({ log: this.log });
    // An interval of rq_inflight_max starts at the requests in flight then.
    this.stats.peakLevel('rq_inflight_max', () => this.inFlight);
    const name = opts.scheduler ?? DEFAULT_SCHEDULER;
    if (!isSchedulerName(name)) throw fsError('EINVAL', `unknown scheduler ${String(name)}`);
    this.elevator = elevatorAlloc(name, this.elevatorContext());
    if (opts.nrRequests !== undefined) this.setNrRequests(opts.nrRequests);
    if (opts.maxSectorsKb !== undefined) this.setMaxSectorsKb(opts.maxSectorsKb);
  }

  get nrRequests(): number {
    return this._nrRequests;
  }
  get maxSectorsKb(): number {
    return this._maxSectorsKb;
  }
  /** max_sectors_kb in 512-byte sectors. */
  get maxSectors(): number {
    return this._maxSectorsKb * 2;
  }
  get scheduler(): SchedulerName {
    return this.elevator.name;
  }
  /** Requests on the device now. */
  inFlightCount(): number {
    return this.inFlight;
  }
  /** Requests waiting in the scheduler or the dispatch list (not in a plug). */
  queuedCount(): number {
    return this.elevator.count() + this.dispatchList.length;
  }

  /** nr_requests: integer 1..4096. Raising it dispatches at once; lowering lets in-flight I/O finish. */
  setNrRequests(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > BLK_MAX_NR_REQUESTS) {
      throw fsError('EINVAL', `nr_requests must be an integer in 1..${BLK_MAX_NR_REQUESTS}, not ${n}`);
    }
    this._nrRequests = n;
    if (!this.congested()) this.congestedNow = false;
    this.runQueue();
  }

  /** max_sectors_kb: integer, multiple of 4, 4..32768. Applies to bios submitted from now on. */
  setMaxSectorsKb(n: number): void {
    if (!Number.isInteger(n) || n < BLK_MIN_MAX_SECTORS_KB || n > BLK_MAX_MAX_SECTORS_KB || n % 4 !== 0) {
      throw fsError('EINVAL', `max_sectors_kb must be a multiple of 4 in ${BLK_MIN_MAX_SECTORS_KB}..${BLK_MAX_MAX_SECTORS_KB}, not ${n}`);
    }
    this._maxSectorsKb = n;
  }

  /**
   * Switch the I/O scheduler; queued requests move to the new one (nothing is lost). The
   * new elevator starts from its default tunables, as the kernel's does.
   */
  setScheduler(name: string): void {
    const wanted = name.trim();
    if (!isSchedulerName(wanted)) throw fsError('EINVAL', `scheduler must be one of: ${ELEVATOR_NAMES.join(', ')}; not ${name}`);
    if (wanted === this.elevator.name) return;
    const old = this.elevator;
    const moved = old.drainAll();
    this.elevator = elevatorAlloc(wanted, this.elevatorContext());
    const now = this.now();
    for (const rq of moved) this.elevator.insert(rq, now);
    if (this.trace.enabled) this.trace.emit(TraceEvent.rqScheduler, old.name, wanted, moved.length);
    dbg.block('scheduler %s -> %s, %d queued requests moved', old.name, wanted, moved.length);
    this.runQueue();
  }

  /** `none [mq-deadline]`: every scheduler, the active one in brackets (sysfs style). */
  schedulerString(): string {
    return ELEVATOR_NAMES.map((n) => (n === this.elevator.name ? `[${n}]` : n)).join(' ');
  }

  /**
   * The active scheduler's iosched/ files (none for `none`). Ask again after a switch:
   * they belong to the elevator that was active when asked, and a switch replaces it.
   */
  elevatorAttrs(): readonly ElvFsEntry[] {
    return this.elevator.attrs;
  }

  /** In flight >= 7/8 of nr_requests (inode_read_congested for readahead). */
  congested(): boolean {
    return this.inFlight * BLK_CONGESTED_DEN >= this._nrRequests * BLK_CONGESTED_NUM;
  }

  /** The 17 fields of /sys/block/<dev>/stat. */
  diskstats(): number[] {
    return this.ds.fields(this.now());
  }

  /** Resolves when nothing is queued or in flight (plugged requests are not waited for). */
  drain(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * submit_bio. Context: any; never throws, never blocks; `bio.endIo` always runs later
   * (never inside this call).
   */
  submitBio(bio: Bio): void {
    this.stats.c.bio_submit++;
    if (this.trace.enabled) this.trace.emit(TraceEvent.bioSubmit, bio.op, bio.sector, bio.size);
    const bad = this.bioCheck(bio);
    if (bad !== undefined) {
      this.log(`block: rejecting bio op=${bio.op} sector=${bio.sector} bytes=${bio.size}: ${bad}`, { level: 'err', subsystem: 'blk', ratelimit: 'blk-reject' });
      queueMicrotask(() => this.bioEndIo(bio, 'EIO'));
      return;
    }
    if (bio.op === 'flush') {
      this.dispatchList.push(rqAlloc(this, bio, this.now()));
      this.runQueue();
      return;
    }
    const parts = bioSplit(bio, this.maxSectors);
    if (parts.length > 1) {
      this.stats.c.bio_split += parts.length - 1;
      if (this.trace.enabled) this.trace.emit(TraceEvent.bioSplit, bio.sector, bio.size, parts.length);
    }
    for (const part of parts) this.makeRequest(part);
  }

  /**
   * blk_mq_sched_insert_requests, from a plug flush: `rqs` are this queue's plugged
   * requests, sorted by sector. Context: called by plug.ts only.
   */
  insertRequests(rqs: Request[], reason: PlugFlushReason): void {
    this.stats.c.plug_flush++;
    if (this.trace.enabled) this.trace.emit(TraceEvent.plugFlush, rqs.length, reason);
    const now = this.now();
    for (const rq of rqs) this.elevator.insert(rq, now);
    this.runQueue();
  }

  /** blk_mq_make_request for one (already split) read/write bio. */
  private makeRequest(bio: Bio): void {
    const dir = dataDir(bio.op)!;
    const plug = currentPlug();
    if (plug) {
      if (blkAttemptPlugMerge(plug, this, bio, this.maxSectors)) {
        this.stats.c.plug_merge++;
        this.ds.accountMerge(dir);
        return;
      }
      if (plugRequestCount(plug, this) >= BLK_MAX_REQUEST_COUNT) blkFlushPlugList(plug, 'full');
      plug.mqList.push(rqAlloc(this, bio, this.now()));
      return;
    }
    if (this.elevator.bioMerge(bio)) return;
    const now = this.now();
    this.elevator.insert(rqAlloc(this, bio, now), now);
    this.runQueue();
  }

  /** Dispatch while a tag is free: flushes first, then the scheduler's choice. */
  private runQueue(): void {
    while (this.inFlight < this._nrRequests) {
      const rq = this.dispatchList.shift() ?? this.elevator.dispatch(this.now());
      if (!rq) break;
      this.startRequest(rq);
    }
    this.wakeDrainers();
  }

  private startRequest(rq: Request): void {
    const now = this.now();
    this.inFlight++;
    this.stats.peak('rq_inflight_max', this.inFlight);
    this.ds.accountStart(now);
    this.stats.c.rq_dispatch++;
    if (!this.congestedNow && this.congested()) {
      this.congestedNow = true;
      this.stats.c.queue_congested++;
    }
    if (this.trace.enabled) {
      this.trace.emit(TraceEvent.rqDispatch, rq.op, rq.sector, rqBytes(rq), this.inFlight);
    }
    const delayUs = this.faults.delayUs(rq.op);
    // dm-delay: the completion comes delayUs later than the device's (the tag stays held).
    const complete =
      delayUs === 0 ? (err: unknown) => this.completeRequest(rq, err) : (err: unknown) => afterUs(this.now, delayUs, () => this.completeRequest(rq, err));
    if (this.faults.shouldFailRequest(rq)) {
      // fail_make_request: no device I/O; the request completes with EIO like a device error.
      this.stats.c.fail_injected++;
      if (this.trace.enabled) this.trace.emit(TraceEvent.rqInject, rq.op, rq.sector, rqBytes(rq));
      queueMicrotask(() => complete(INJECTED));
    } else if (rq.op !== 'flush' && this.dev.transfer !== undefined) {
      this.dev.transfer(rq.op, rq.sector, rqSegments(rq), complete);
    } else {
      this.deviceIo(rq).then(() => complete(undefined), complete);
    }
  }

  /** The device's I/O for `rq` (a synchronous throw becomes a rejection). */
  private deviceIo(rq: Request): Promise<void> {
    try {
      switch (rq.op) {
        case 'read':
          return this.dev.read(rq.sector, rqSegments(rq));
        case 'write':
          return this.dev.write(rq.sector, rqSegments(rq));
        case 'flush':
          return this.dev.flush();
      }
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** blk_mq_end_request: account, free the tag, end every bio, dispatch more. */
  private completeRequest(rq: Request, err: unknown): void {
    const now = this.now();
    this.inFlight--;
    this.ds.accountDone(rq, now);
    this.stats.c.rq_complete++;
    if (this.congestedNow && !this.congested()) this.congestedNow = false;
    const status: ErrorCode | undefined = err === undefined ? undefined : 'EIO';
    if (err !== undefined && err !== INJECTED) {
      this.log(`block: ${rq.op} of ${rq.nrSectors} sectors at ${rq.sector} failed: ${err instanceof Error ? err.message : String(err)}`, { level: 'err', subsystem: 'blk', ratelimit: 'blk-ioerr' });
    }
    if (this.trace.enabled) {
      this.trace.emit(TraceEvent.rqComplete, rq.op, rq.sector, rqBytes(rq), status ?? 'ok', now - rq.startMs);
    }
    for (const bio of rq.bios) this.bioEndIo(bio, status);
    this.runQueue();
  }

  /**
   * bio_endio: the bio's endIo runs in the I/O completion context (runIoCompletion), so the
   * waiters it wakes resume once it has finished, not from inside it. A throwing endIo (or
   * woken waiter) is reported and must not wedge the queue.
   */
  private bioEndIo(bio: Bio, status: ErrorCode | undefined): void {
    bio.status = status;
    if (this.trace.enabled) this.trace.emit(TraceEvent.bioComplete, bio.op, bio.sector, bio.size, status ?? 'ok');
    try {
      runIoCompletion(() => bio.endIo(bio));
    } catch (err) {
      this.log(`block: endIo of bio at sector ${bio.sector} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, { level: 'err', subsystem: 'blk' });
    }
  }

  /** bio_check_eod and alignment: undefined when fine, else why not. */
  private bioCheck(bio: Bio): string | undefined {
    if (bio.op === 'flush') return bio.size === 0 ? undefined : 'a flush carries no data';
    if (!Number.isSafeInteger(bio.sector) || bio.sector < 0) return 'bad sector';
    let bytes = 0;
    for (const s of bio.segments) {
      if (s.byteLength % SECTOR_SIZE !== 0) return `segment of ${s.byteLength} bytes is not a multiple of ${SECTOR_SIZE}`;
      bytes += s.byteLength;
    }
    if (bytes === 0 || bytes !== bio.size) return `size ${bio.size} does not match its segments (${bytes})`;
    const end = this.dev.nrSectors;
    if (end !== undefined && bioEnd(bio) > end) return `beyond the device end (${end} sectors)`;
    return undefined;
  }

  private elevatorContext(): ElevatorContext {
    return {
      maxSectors: (): number => this.maxSectors,
      merged: (dir: DataDir): void => {
        this.stats.c.elv_merge++;
        this.ds.accountMerge(dir);
      },
    };
  }

  private idle(): boolean {
    return this.inFlight === 0 && this.queuedCount() === 0;
  }

  private wakeDrainers(): void {
    if (this.drainWaiters.length === 0 || !this.idle()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * Run `fn` once `us` microseconds have passed on the clock `now` (ms). Timers have 1 ms
 * granularity: whole milliseconds are waited with setTimeout, the rest with setImmediate
 * turns (less than 1 ms of polling per request).
 */
function afterUs(now: () => number, us: number, fn: () => void): void {
  const due = now() + us / 1000;
  const check = (): void => {
    const left = due - now();
    if (left <= 0) fn();
    else if (left >= 1) setTimeout(check, Math.floor(left));
    else setImmediate(check);
  };
  check();
}

/** submit_bio(q, bio): the same as `q.submitBio(bio)`. */
export function submitBio(q: RequestQueue, bio: Bio): void {
  q.submitBio(bio);
}

/**
 * blkdev_issue_flush: an empty flush bio through the queue (counted, traced and accounted
 * in diskstats like any request); resolves when the device has made earlier completed
 * writes durable. Context: the caller's writes have completed (see the header).
 */
export function blkdevIssueFlush(q: RequestQueue): Promise<void> {
  return new Promise((resolve, reject) => {
    q.submitBio(bioAlloc('flush', 0, [], (bio) => (bio.status === undefined ? resolve() : reject(fsError(bio.status, 'flush failed')))));
  });
}
