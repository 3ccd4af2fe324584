/**
 * The page wait table (mm/filemap.c page_wait_table, wait_on_page_bit, wake_up_page_bit),
 * in its asynchronous form (v5.9 "async page locking", seed 000): a reader that finds a
 * page locked does not sleep; it leaves a wait entry with a callback in the page's hashed
 * wait queue and returns to the event loop. The unlock that ends the I/O walks the
 * bucket and calls back every entry whose key (page, bit) matches; the callback resumes
 * the read where it stopped.
 *
 *   page_wait_table (256 buckets, hashed on (ino, index))
 *   +-----+-----+-----+-----+-- ... --+-----+
 *   |  0  |  1  |  2  |  3  |         | 255 |
 *   +-----+-----+-----+-----+-- ... --+-----+
 *            |
 *            v  entries in arrival order
 *          {P7,locked,cb} -> {P9,locked,cb} -> {P7,writeback,cb}
 *
 *   unlockPage(P7): clear PG_locked; PG_waiters set? walk bucket 1:
 *     {P7,locked}    matches -> removed, called           (wake_page)
 *     {P9,locked}    other page -> stays                   (wake_spurious)
 *     {P7,writeback} other bit  -> stays, P7 keeps PG_waiters
 *
 * Many pages share a bucket (the kernel's thundering herd: a wake must skip the entries of
 * other pages). PG_waiters on a page says "an entry for me may be queued": unlock skips the
 * walk entirely when it is clear, which keeps the cached and uncontended paths cheap.
 *
 * Callbacks run synchronously from the wake, after the bucket walk is finished (so a
 * callback may queue new entries or unlock other pages without disturbing the walk).
 * Every entry is removed from its bucket before its callback runs: no callback is lost,
 * none runs twice.
 *
 * Wakes from an I/O completion are different (`runIoCompletion`): there the callbacks
 * are queued and run once the whole completion has finished, as the kernel's async
 * waiters are (wake_page_function queues io_uring task work; a sleeping reader only
 * becomes runnable). A 32-page bio then resumes its reader once, with every page
 * unlocked, instead of 32 times, page by page, from inside the unlock loop.
 *
 * One table per PageCache (tests run several caches in one process); a page finds its
 * table through `page.owner.cache.waitTable`. `page.owner` stays when the page is deleted
 * from the cache (`page.mapping` does not): a page deleted while locked (truncate locks,
 * deletes, then unlocks) still wakes the bucket its waiters queued in.
 */

import type { Stats } from '../stats/registry.js';
import type { Trace } from '../stats/trace.js';
import { PG_locked, PG_waiters, PG_writeback, type Page } from './page.js';

/** The kernel's PAGE_WAIT_TABLE_BITS = 8: 256 buckets. */
export const PAGE_WAIT_TABLE_BITS = 8;
export const PAGE_WAIT_TABLE_SIZE = 1 << PAGE_WAIT_TABLE_BITS;

/** Called once, synchronously, from the wake that matched the entry. */
export type WaitCallback = () => void;

/** struct wait_page_queue: the key (page, bit) and the callback. */
export interface WaitEntry {
  readonly page: Page;
  readonly bit: number;
  readonly func: WaitCallback;
}

export class PageWaitTable {
  readonly buckets: WaitEntry[][] = [];

  constructor(
    readonly stats: Stats,
    readonly trace: Trace,
  ) {
    for (let i = 0; i < PAGE_WAIT_TABLE_SIZE; i++) this.buckets.push([]);
  }

  /** Entries queued now, in every bucket (for tests and the stats file). */
  get nrWaiting(): number {
    let n = 0;
    for (const b of this.buckets) n += b.length;
    return n;
  }
}

/** hash_ptr(page, PAGE_WAIT_TABLE_BITS), keyed on (ino, index): the bucket of a page. */
export function pageWaitHash(ino: number, index: number): number {
  // index may exceed 2^32 (files past 16 TiB): fold the high part in.
  const hi = Math.floor(index / 4294967296) >>> 0;
  let h = Math.imul(ino >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca6b) ^ Math.imul(hi, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> (32 - PAGE_WAIT_TABLE_BITS);
}

/** page_waitqueue(): the bucket this page's waiters queue in. */
export function pageWaitBucket(page: Page): number {
  return pageWaitHash(page.owner.ino, page.index);
}

function bitName(bit: number): string {
  return bit === PG_locked ? 'locked' : bit === PG_writeback ? 'writeback' : `0x${bit.toString(16)}`;
}

/** Add an entry, set PG_waiters. Returns the bucket. */
function addWaitEntry(page: Page, entry: WaitEntry): WaitEntry[] {
  const table = page.owner.cache.waitTable;
  const bucket = table.buckets[pageWaitBucket(page)]!;
  bucket.push(entry);
  page.set(PG_waiters);
  table.stats.c.wait_page++;
  if (table.trace.enabled) table.trace.emit(`wait ino=${page.owner.ino} index=${page.index} bit=${bitName(entry.bit)}`);
  return bucket;
}

/** Take `entry` out of `bucket` again (it was not woken); clear PG_waiters if it was the page's last. */
function removeWaitEntry(bucket: WaitEntry[], page: Page, entry: WaitEntry): void {
  const i = bucket.indexOf(entry);
  if (i >= 0) bucket.splice(i, 1);
  for (const e of bucket) if (e.page === page) return;
  page.clear(PG_waiters);
}

// ---------------------------------------------------------------------------------------
// Locking

/**
 * trylock_page: take PG_locked if it is free. The fast path: no table, no allocation.
 * Context: any; the caller owns the page lock when this returns true.
 */
export function trylockPage(page: Page): boolean {
  if ((page.flags & PG_locked) !== 0) return false;
  page.flags |= PG_locked;
  return true;
}

/**
 * lock_page_async: call `cb` once the caller holds the page lock. `cb` runs synchronously
 * (before lockPageAsync returns) when the lock is free now, otherwise from the unlock that
 * lets this caller take it.
 */
export function lockPageAsync(page: Page, cb: WaitCallback): void {
  if (trylockPage(page)) {
    cb();
    return;
  }
  __lockPageAsyncSlow(page, cb);
}

/**
 * __lock_page_async, the slow path of lockPageAsync: queue a wait entry, set PG_waiters,
 * THEN try the lock once more. Exported so that a test can unlock the page between a
 * failed trylockPage and this call.
 */
export function __lockPageAsyncSlow(page: Page, cb: WaitCallback): void {
  const entry: WaitEntry = {
    page,
    bit: PG_locked,
    // Woken by an unlock: the lock is free now, but an earlier callback of the same wake
    // may have taken it again: then queue again (which retries the lock once more).
    func: () => (trylockPage(page) ? cb() : __lockPageAsyncSlow(page, cb)),
  };
  const bucket = addWaitEntry(page, entry);
  // RACE: the holder may have unlocked between the caller's failed trylockPage and the
  // entry being queued; its unlock saw no PG_waiters (or an empty bucket) and woke
  // nobody. Trying again after queueing closes the window: either this trylock sees the
  // unlock, or the unlock (which clears PG_locked before it tests PG_waiters) sees our
  // entry. We were not woken, so take the entry back out and go on.
  if (trylockPage(page)) {
    removeWaitEntry(bucket, page, entry);
    cb();
  }
}

/**
 * unlock_page: release the page lock and wake whoever waits for it. Called by the
 * filesystem when a read completes (after setting PG_uptodate or PG_error), and by every
 * path in mm that took the lock.
 * Context: page locked by the caller. May run waiters' callbacks before it returns.
 */
export function unlockPage(page: Page): void {
  if ((page.flags & PG_locked) === 0) throw new Error(`unlockPage: page index=${page.index} is not locked`);
  // Clear the bit first, then test PG_waiters: pairs with the re-check in the slow paths.
  page.flags &= ~PG_locked;
  if ((page.flags & PG_waiters) !== 0) wakeUpPageBit(page, PG_locked);
}

/**
 * end_page_writeback: the write of this page finished; wake whoever waits for it.
 * Context: called by the filesystem's writepages completion.
 */
export function endPageWriteback(page: Page): void {
  if ((page.flags & PG_writeback) === 0) throw new Error(`endPageWriteback: page index=${page.index} is not under writeback`);
  page.flags &= ~PG_writeback;
  if ((page.flags & PG_waiters) !== 0) wakeUpPageBit(page, PG_writeback);
}

// ---------------------------------------------------------------------------------------
// Waiting for a bit to clear

/**
 * wait_on_page_bit_async: call `cb` once `bit` is clear on the page: at once (synchronously)
 * if it is clear now, otherwise from the wake that clears it.
 */
export function waitOnPageBitAsync(page: Page, bit: number, cb: WaitCallback): void {
  if ((page.flags & bit) === 0) {
    cb();
    return;
  }
  __waitOnPageBitAsyncSlow(page, bit, cb);
}

/** The slow part of waitOnPageBitAsync: queue, set PG_waiters, then test the bit again. */
export function __waitOnPageBitAsyncSlow(page: Page, bit: number, cb: WaitCallback): void {
  const entry: WaitEntry = {
    page,
    bit,
    // An earlier callback of the same wake may have set the bit again (e.g. a reader that
    // took the lock to re-read the page): keep waiting then.
    func: () => ((page.flags & bit) !== 0 ? __waitOnPageBitAsyncSlow(page, bit, cb) : cb()),
  };
  const bucket = addWaitEntry(page, entry);
  // RACE: the bit may have been cleared (and the wake skipped) between the caller's test
  // and the enqueue; test again now that the entry is visible.
  if ((page.flags & bit) === 0) {
    removeWaitEntry(bucket, page, entry);
    cb();
  }
}

/** wait_on_page_locked_async: `cb` once the page is unlocked (does not take the lock). */
export function waitOnPageLockedAsync(page: Page, cb: WaitCallback): void {
  waitOnPageBitAsync(page, PG_locked, cb);
}

/** wait_on_page_writeback, async: `cb` once the page is not under writeback. */
export function waitOnPageWritebackAsync(page: Page, cb: WaitCallback): void {
  waitOnPageBitAsync(page, PG_writeback, cb);
}

// ---------------------------------------------------------------------------------------
// Waking

/** > 0 while a completion handler runs (runIoCompletion); wakes then queue their callbacks. */
let completionDepth = 0;
/** Callbacks woken during the current completion, in wake order (the task work). */
let taskWork: WaitCallback[] = [];

/**
 * Run an I/O completion handler (a bio's end_io) "in interrupt context": the waiters its
 * unlocks wake are not resumed inside it but right after it returns, in wake order (the
 * kernel's task work). Nested calls join the outermost one.
 *
 * Context: the block layer's bio completion. If the handler or a callback throws, every
 * queued callback still runs and the first error is rethrown at the end.
 */
export function runIoCompletion(handler: () => void): void {
  completionDepth++;
  let handlerError: { err: unknown } | undefined;
  try {
    handler();
  } catch (err) {
    handlerError = { err };
  } finally {
    completionDepth--;
  }
  let workError: { err: unknown } | undefined;
  if (completionDepth === 0) {
    // Taken off the queue first: a callback runs outside any completion, so the wakes it
    // causes run at once (or are drained by a completion it runs itself).
    const work = taskWork;
    taskWork = [];
    workError = callEach(work);
  }
  const first = handlerError ?? workError;
  if (first) throw first.err;
}

/** Call every callback, even after one throws; the first error, if any. */
function callEach(funcs: readonly WaitCallback[]): { err: unknown } | undefined {
  let first: { err: unknown } | undefined;
  for (const fn of funcs) {
    try {
      fn();
    } catch (err) {
      first ??= { err };
    }
  }
  return first;
}

/**
 * wake_up_page_bit: `bit` was just cleared on `page`. Walk the page's bucket: take out and
 * call every entry waiting for this (page, bit) (stats wake_page), count every other entry
 * as spurious (stats wake_spurious). PG_waiters is cleared when no entry for the page
 * remains. Nothing is walked when PG_waiters is clear.
 *
 * Context: the bit is already clear. Callbacks run synchronously, after the walk (or, in
 * an I/O completion, after the completion); if one throws, the others still run and the
 * first error is rethrown at the end.
 */
export function wakeUpPageBit(page: Page, bit: number): void {
  if ((page.flags & PG_waiters) === 0) return;
  const table = page.owner.cache.waitTable;
  const bucket = table.buckets[pageWaitBucket(page)]!;

  let woken: (() => void)[] | undefined;
  let spurious = 0;
  let pageStillWaited = false;
  let keep = 0;
  for (let i = 0; i < bucket.length; i++) {
    const e = bucket[i]!;
    if (e.page === page && e.bit === bit) {
      (woken ??= []).push(e.func);
    } else {
      spurious++;
      if (e.page === page) pageStillWaited = true; // same page, another bit
      bucket[keep++] = e;
    }
  }
  bucket.length = keep;
  if (!pageStillWaited) page.clear(PG_waiters);

  const n = woken === undefined ? 0 : woken.length;
  table.stats.c.wake_page += n;
  table.stats.c.wake_spurious += spurious;
  if (table.trace.enabled) table.trace.emit(`wake ino=${page.owner.ino} index=${page.index} woken=${n} spurious=${spurious}`);
  if (woken === undefined) return;

  // The entries are out of the bucket: a callback that waits again queues a new entry.
  if (completionDepth > 0) {
    for (const fn of woken) taskWork.push(fn);
    return;
  }
  const first = callEach(woken);
  if (first) throw first.err;
}
