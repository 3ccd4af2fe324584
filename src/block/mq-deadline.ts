/**
 * mq-deadline (block/mq-deadline.c): per direction, every queued request sits on two lists.
 *
 *   sort[read]   by sector:  [ 8 ][ 40 ][ 96 ][ 200 ]      next[read] -> the one after the
 *   fifo[read]   by arrival: [ 96 ][ 8 ][ 200 ][ 40 ]      last dispatched, in sector order
 *   sort[write], fifo[write] the same
 *
 * Dispatch (__dd_dispatch_request):
 *   1. A batch is running (next[write] or else next[read] is set) and fewer than fifo_batch
 *      requests went out in it: send that next request (continue in sector order).
 *   2. Otherwise pick a direction: reads if any are queued, unless writes are queued and
 *      reads already won writes_starved times in a row (`starved++ >= writes_starved`);
 *      else writes (starved = 0).
 *   3. In that direction: if the fifo head has expired (now >= its fifo_time), or no next
 *      request in sector order exists (the last batch was the other way, or it ran off the
 *      end), restart from the fifo head; else continue from next. batching = 0.
 *   4. Sending a request sets next[dir] to the request after it in sector order and clears
 *      next of the other direction.
 *
 * Merges: a bio back-merges into the queued request that ends where it starts (a hash by
 * end sector, the kernel's elv_rqhash) or front-merges into the one that starts where it
 * ends (front_merges on); then the grown request tries to absorb its neighbour in sector
 * order (attempt_back_merge / attempt_front_merge). An inserted request (plug flush)
 * back-merges into a queued request ending at its start (elv_attempt_insert_merge). When
 * two requests merge, the survivor takes the earlier fifo_time and fifo place.
 *
 * Tunables (`attrs`, the kernel's iosched/ files, in its deadline_attrs order): read_expire,
 * write_expire, writes_starved, front_merges, fifo_batch. Not here: async_depth and
 * prio_aging_expire (no shallow tag depth, no I/O priorities in this queue).
 */

import type { Bio, Sector } from './bio.js';
import type { Elevator, ElevatorContext } from './elevator.js';
import { clampInt, INT_MAX, INT_MIN, kstrtoint, type ElvFsEntry } from './elv-attrs.js';
import {
  bioBackMerge,
  bioEnd,
  bioFrontMerge,
  canBackMerge,
  canFrontMerge,
  canRqMerge,
  dataDir,
  rqEnd,
  rqMerge,
  type DataDir,
  type Request,
} from './request.js';

/** Max time before a read is sent (soft). */
export const DD_READ_EXPIRE_MS = 500;
/** Max time before a write is sent (soft). */
export const DD_WRITE_EXPIRE_MS = 5000;
/** Requests sent in sector order as one batch before the fifo is looked at again. */
export const DD_FIFO_BATCH = 16;
/** How many times reads may be preferred while writes wait. */
export const DD_WRITES_STARVED = 2;
/** Front merges on (the kernel's default). */
export const DD_FRONT_MERGES = true;

/** The scheduler's tunables (the kernel's iosched/ files), defaulting to the constants. */
export interface DeadlineTunables {
  readExpireMs: number;
  writeExpireMs: number;
  fifoBatch: number;
  writesStarved: number;
  frontMerges: boolean;
}

interface DirLists {
  /** Sector order; equal sectors keep arrival order. */
  sort: Request[];
  /** Arrival order; fifo[0] expires first. */
  fifo: Request[];
  /** End sector -> request (elv_rqhash): back-merge candidates. */
  hash: Map<Sector, Request>;
}


export class MqDeadline implements Elevator {
  readonly name = 'mq-deadline' as const;
  readonly tunables: DeadlineTunables = {
    readExpireMs: DD_READ_EXPIRE_MS,
    writeExpireMs: DD_WRITE_EXPIRE_MS,
    fifoBatch: DD_FIFO_BATCH,
    writesStarved: DD_WRITES_STARVED,
    frontMerges: DD_FRONT_MERGES,
  };
  /** The iosched/ files over `tunables` (deadline_attrs). */
  readonly attrs: readonly ElvFsEntry[] = deadlineAttrs(this.tunables);
  private lists: Record<DataDir, DirLists> = { read: emptyLists(), write: emptyLists() };
  /** Next in sector order after the last dispatched; at most one direction is set. */
  private nextRq: Record<DataDir, Request | undefined> = { read: undefined, write: undefined };
  /** Requests sent in the current batch. */
  private batching = 0;
  /** Times reads were chosen while writes waited. */
  private starved = 0;

  constructor(private readonly ctx: ElevatorContext) {}

  count(): number {
    return this.lists.read.fifo.length + this.lists.write.fifo.length;
  }

  insert(rq: Request, nowMs: number): void {
    const dir = dataDir(rq.op);
    if (!dir) throw new Error('mq-deadline: a flush request is never queued in the scheduler');
    const l = this.lists[dir];
    // elv_attempt_insert_merge: a queued request that ends where this one starts absorbs it.
    const prev = l.hash.get(rq.sector);
    if (prev && canRqMerge(prev, rq, this.ctx.maxSectors())) {
      this.hashDel(l, prev);
      rqMerge(prev, rq);
      l.hash.set(rqEnd(prev), prev);
      this.ctx.merged(dir);
      return;
    }
    sortAdd(l.sort, rq);
    l.hash.set(rqEnd(rq), rq);
    rq.fifoTime = nowMs + (dir === 'read' ? this.tunables.readExpireMs : this.tunables.writeExpireMs);
    l.fifo.push(rq);
  }

  bioMerge(bio: Bio): boolean {
    const dir = dataDir(bio.op);
    if (!dir) return false;
    const l = this.lists[dir];
    const max = this.ctx.maxSectors();

    const back = l.hash.get(bio.sector);
    if (back && canBackMerge(back, bio, max)) {
      this.hashDel(l, back);
      bioBackMerge(back, bio);
      l.hash.set(rqEnd(back), back);
      this.ctx.merged(dir);
      // attempt_back_merge: the grown request may now touch the next one.
      const next = latter(l.sort, back);
      if (next && canRqMerge(back, next, max)) this.mergeRequests(l, back, next, dir);
      return true;
    }

    if (!this.tunables.frontMerges) return false;
    const front = sortFind(l.sort, bioEnd(bio));
    if (front && canFrontMerge(front, bio, max)) {
      // dd_request_merged: the start moves, so re-place it in sector order.
      sortDel(l.sort, front);
      bioFrontMerge(front, bio);
      sortAdd(l.sort, front);
      this.ctx.merged(dir);
      // attempt_front_merge: the previous request may now end where this one starts.
      const prev = former(l.sort, front);
      if (prev && canRqMerge(prev, front, max)) this.mergeRequests(l, prev, front, dir);
      return true;
    }
    return false;
  }

  dispatch(nowMs: number): Request | undefined {
    const t = this.tunables;
    // Continue the running batch in sector order.
    const batchNext = this.nextRq.write ?? this.nextRq.read;
    if (batchNext && this.batching < t.fifoBatch) return this.sendRequest(batchNext);

    let dir: DataDir;
    if (this.lists.read.fifo.length > 0) {
      dir = this.lists.write.fifo.length > 0 && this.starved++ >= t.writesStarved ? 'write' : 'read';
    } else if (this.lists.write.fifo.length > 0) {
      dir = 'write';
    } else {
      return undefined;
    }
    if (dir === 'write') this.starved = 0;

    const l = this.lists[dir];
    const next = this.nextRq[dir];
    const head = l.fifo[0]!;
    const rq = nowMs >= head.fifoTime || !next ? head : next;
    this.batching = 0;
    return this.sendRequest(rq);
  }

  drainAll(): Request[] {
    const all = [...this.lists.read.fifo, ...this.lists.write.fifo].sort((a, b) => a.startMs - b.startMs);
    this.lists = { read: emptyLists(), write: emptyLists() };
    this.nextRq = { read: undefined, write: undefined };
    this.batching = 0;
    this.starved = 0;
    return all;
  }

  /** deadline_move_request + the batch count. */
  private sendRequest(rq: Request): Request {
    const dir = dataDir(rq.op)!;
    this.batching++;
    this.nextRq.read = undefined;
    this.nextRq.write = undefined;
    this.nextRq[dir] = latter(this.lists[dir].sort, rq);
    this.removeRequest(this.lists[dir], rq, dir);
    return rq;
  }

  /** `next` joins `rq` (rq is in front on the device); dd_merged_requests, then next is gone. */
  private mergeRequests(l: DirLists, rq: Request, next: Request, dir: DataDir): void {
    if (next.fifoTime < rq.fifoTime) {
      // The survivor takes the earlier deadline and the earlier fifo place.
      l.fifo.splice(l.fifo.indexOf(rq), 1);
      l.fifo.splice(l.fifo.indexOf(next), 0, rq);
      rq.fifoTime = next.fifoTime;
    }
    this.removeRequest(l, next, dir);
    this.hashDel(l, rq);
    rqMerge(rq, next);
    l.hash.set(rqEnd(rq), rq);
    this.ctx.merged(dir);
  }

  /** deadline_remove_request: off the fifo, the sort list and the hash. */
  private removeRequest(l: DirLists, rq: Request, dir: DataDir): void {
    const i = l.fifo.indexOf(rq);
    if (i >= 0) l.fifo.splice(i, 1);
    if (this.nextRq[dir] === rq) this.nextRq[dir] = latter(l.sort, rq);
    sortDel(l.sort, rq);
    this.hashDel(l, rq);
  }

  private hashDel(l: DirLists, rq: Request): void {
    const end = rqEnd(rq);
    if (l.hash.get(end) === rq) l.hash.delete(end);
  }
}

/**
 * deadline_attrs: the SHOW_INT / SHOW_JIFFIES and STORE_INT / STORE_JIFFIES pairs. A store
 * parses an int (kstrtoint; EINVAL and nothing changed when it is not one) and clamps it to
 * the kernel's range. The expiries are kept in ms as written; the kernel keeps jiffies, so
 * with HZ=250 a read_expire of 3 reads back there as 4. A new expiry applies to requests
 * queued from then on (each request's deadline is set when it is queued).
 */
function deadlineAttrs(t: DeadlineTunables): ElvFsEntry[] {
  type IntKey = 'readExpireMs' | 'writeExpireMs' | 'writesStarved' | 'fifoBatch';
  const intAttr = (name: string, key: IntKey, min: number, max: number, doc: string): ElvFsEntry => ({
    name,
    doc,
    show: () => String(t[key]),
    store: (text) => {
      t[key] = clampInt(kstrtoint(name, text), min, max);
    },
  });
  const clamped0 = 'below 0 is taken as 0';
  return [
    intAttr('read_expire', 'readExpireMs', 0, INT_MAX, `ms a read may wait before it is sent ahead of the sector order (default ${DD_READ_EXPIRE_MS}); ${clamped0}`),
    intAttr('write_expire', 'writeExpireMs', 0, INT_MAX, `ms a write may wait before it is sent ahead of the sector order (default ${DD_WRITE_EXPIRE_MS}); ${clamped0}`),
    intAttr(
      'writes_starved',
      'writesStarved',
      INT_MIN,
      INT_MAX,
      `times in a row reads may be chosen over waiting writes (default ${DD_WRITES_STARVED}); any int, not clamped: 0 or below, a waiting write wins every choice`,
    ),
    {
      name: 'front_merges',
      doc: '1: a bio may merge in front of a request queued in the scheduler; 0: back merges only there (a plug still merges both ways, as in the kernel); any other int is clamped to 0 or 1, as the kernel does',
      show: () => (t.frontMerges ? '1' : '0'),
      store: (text) => {
        t.frontMerges = clampInt(kstrtoint('front_merges', text), 0, 1) === 1;
      },
    },
    intAttr(
      'fifo_batch',
      'fifoBatch',
      0,
      INT_MAX,
      `requests sent in sector order as one batch before the deadlines are looked at again (default ${DD_FIFO_BATCH}); ${clamped0}; 0 and 1 both look at them before every request`,
    ),
  ];
}

function emptyLists(): DirLists {
  return { sort: [], fifo: [], hash: new Map() };
}

/** First index whose sector is > `sector` (upper bound). */
function upperBound(sort: Request[], sector: Sector): number {
  let lo = 0;
  let hi = sort.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sort[mid]!.sector <= sector) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortAdd(sort: Request[], rq: Request): void {
  sort.splice(upperBound(sort, rq.sector), 0, rq);
}

function sortIndex(sort: Request[], rq: Request): number {
  // Requests with rq's sector sit just before upperBound; search back among them.
  for (let i = upperBound(sort, rq.sector) - 1; i >= 0 && sort[i]!.sector === rq.sector; i--) {
    if (sort[i] === rq) return i;
  }
  return sort.indexOf(rq);
}

function sortDel(sort: Request[], rq: Request): void {
  const i = sortIndex(sort, rq);
  if (i >= 0) sort.splice(i, 1);
}

/** elv_rb_find: the first queued request starting at `sector`. */
function sortFind(sort: Request[], sector: Sector): Request | undefined {
  let lo = 0;
  let hi = sort.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sort[mid]!.sector < sector) lo = mid + 1;
    else hi = mid;
  }
  const rq = sort[lo];
  return rq && rq.sector === sector ? rq : undefined;
}

/** The request after `rq` in sector order (deadline_latter_request). */
function latter(sort: Request[], rq: Request): Request | undefined {
  const i = sortIndex(sort, rq);
  return i >= 0 ? sort[i + 1] : undefined;
}

function former(sort: Request[], rq: Request): Request | undefined {
  const i = sortIndex(sort, rq);
  return i > 0 ? sort[i - 1] : undefined;
}
