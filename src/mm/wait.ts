/**
 * The folio wait table (mm/filemap.c folio_wait_table, folio_wait_bit, folio_wake_bit; Linux 6.18),
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
 *   folioUnlock(P7): clear PG_locked; PG_waiters set? walk bucket 1:
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
 * Wakes from an I/O completion are different (`runIoCompletion` in src/block/completion.ts,
 * entered by the block layer's bio_endio): there the callbacks are queued and run once the
 * whole completion has finished.
 *
 * One wait-queue key per folio: a large folio's waiters all queue on (ino, folio.index),
 * whatever page of it they wanted.
 *
 * One table per PageCache (tests run several caches in one process); a page finds its
 * table through `page.owner.cache.waitTable`. `page.owner` stays when the page is deleted
 * from the cache (`page.mapping` does not): a page deleted while locked (truncate locks,
 * deletes, then unlocks) still wakes the bucket its waiters queued in.
 */

import { callEach, inIoCompletion, queueTaskWork } from '../block/completion.js';
import type { Stats } from '../stats/registry.js';
import { TraceEvent, type Trace } from '../stats/trace.js';
import type { Folio } from './folio.js';
import { PG_locked, PG_waiters, PG_writeback } from './page.js';

/** The kernel's PAGE_WAIT_TABLE_BITS = 8: 256 buckets. */
export const PAGE_WAIT_TABLE_BITS = 8;
export const PAGE_WAIT_TABLE_SIZE = 1 << PAGE_WAIT_TABLE_BITS;

/** Called once, synchronously, from the wake that matched the entry. */
export type WaitCallback = () => void;

/** struct wait_page_queue: the key (page, bit) and the callback. */
export interface WaitEntry {
  readonly folio: Folio;
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

/** folio_waitqueue(): the bucket this folio's waiters queue in (keyed on its first index). */
export function folioWaitBucket(folio: Folio): number {
  return pageWaitHash(folio.owner.ino, folio.index);
}

function bitName(bit: number): string {
  return bit === PG_locked ? 'locked' : bit === PG_writeback ? 'writeback' : `0x${bit.toString(16)}`;
}

/** Add an entry, set PG_waiters. Returns the bucket. */
function addWaitEntry(folio: Folio, entry: WaitEntry): WaitEntry[] {
  const table = folio.owner.cache.waitTable;
  const bucket = table.buckets[folioWaitBucket(folio)]!;
  bucket.push(entry);
  folio.set(PG_waiters);
  table.stats.c.wait_page++;
  if (table.trace.enabled) table.trace.emit(TraceEvent.wait, folio.owner.ino, folio.index, bitName(entry.bit));
  return bucket;
}

/** Take `entry` out of `bucket` again (it was not woken); clear PG_waiters if it was the page's last. */
function removeWaitEntry(bucket: WaitEntry[], folio: Folio, entry: WaitEntry): void {
  const i = bucket.indexOf(entry);
  if (i >= 0) bucket.splice(i, 1);
  for (const e of bucket) if (e.folio === folio) return;
  folio.clear(PG_waiters);
}

// ---------------------------------------------------------------------------------------
// Locking

/**
 * folio_trylock: take PG_locked if it is free. The fast path: no table, no allocation.
 * Context: any; the caller owns the page lock when this returns true.
 */
export function folioTrylock(folio: Folio): boolean {
  if ((folio.flags & PG_locked) !== 0) return false;
  folio.flags |= PG_locked;
  return true;
}

/**
 * folio_lock_async: call `cb` once the caller holds the page lock. `cb` runs synchronously
 * (before folioLockAsync returns) when the lock is free now, otherwise from the unlock that
 * lets this caller take it.
 */
export function folioLockAsync(folio: Folio, cb: WaitCallback): void {
  if (folioTrylock(folio)) {
    cb();
    return;
  }
  __folioLockAsyncSlow(folio, cb);
}

/**
 * __folio_lock_async, the slow path of folioLockAsync: queue a wait entry, set PG_waiters,
 * THEN try the lock once more. Exported so that a test can unlock the page between a
 * failed folioTrylock and this call.
 */
export function __folioLockAsyncSlow(folio: Folio, cb: WaitCallback): void {
  const entry: WaitEntry = {
    folio,
    bit: PG_locked,
    // Woken by an unlock: the lock is free now, but an earlier callback of the same wake
    // may have taken it again: then queue again (which retries the lock once more).
    func: () => (folioTrylock(folio) ? cb() : __folioLockAsyncSlow(folio, cb)),
  };
  const bucket = addWaitEntry(folio, entry);
  // RACE: the holder may have unlocked between the caller's failed folioTrylock and the
  // entry being queued; its unlock saw no PG_waiters (or an empty bucket) and woke
  // nobody. Trying again after queueing closes the window: either this trylock sees the
  // unlock, or the unlock (which clears PG_locked before it tests PG_waiters) sees our
  // entry. We were not woken, so take the entry back out and go on.
  if (folioTrylock(folio)) {
    removeWaitEntry(bucket, folio, entry);
    cb();
  }
}

/**
 * folio_unlock: release the folio lock and wake whoever waits for it. Called by the
 * filesystem when a read completes (after setting PG_uptodate or PG_error), and by every
 * path in mm that took the lock.
 * Context: page locked by the caller. May run waiters' callbacks before it returns.
 */
export function folioUnlock(folio: Folio): void {
  if ((folio.flags & PG_locked) === 0) throw new Error(`folioUnlock: folio index=${folio.index} is not locked`);
  // Clear the bit first, then test PG_waiters: pairs with the re-check in the slow paths.
  folio.flags &= ~PG_locked;
  if ((folio.flags & PG_waiters) !== 0) folioWakeBit(folio, PG_locked);
}

/**
 * folio_end_writeback: the write of this folio finished; wake whoever waits for it.
 * Context: called by the filesystem's writepages completion.
 */
export function folioEndWriteback(folio: Folio): void {
  if ((folio.flags & PG_writeback) === 0) throw new Error(`folioEndWriteback: folio index=${folio.index} is not under writeback`);
  folio.flags &= ~PG_writeback;
  if ((folio.flags & PG_waiters) !== 0) folioWakeBit(folio, PG_writeback);
}

// ---------------------------------------------------------------------------------------
// Waiting for a bit to clear

/**
 * folio_wait_bit (async): call `cb` once `bit` is clear on the folio: at once (synchronously)
 * if it is clear now, otherwise from the wake that clears it.
 */
export function folioWaitBitAsync(folio: Folio, bit: number, cb: WaitCallback): void {
  if ((folio.flags & bit) === 0) {
    cb();
    return;
  }
  __folioWaitBitAsyncSlow(folio, bit, cb);
}

/** The slow part of folioWaitBitAsync: queue, set PG_waiters, then test the bit again. */
export function __folioWaitBitAsyncSlow(folio: Folio, bit: number, cb: WaitCallback): void {
  const entry: WaitEntry = {
    folio,
    bit,
    // An earlier callback of the same wake may have set the bit again (e.g. a reader that
    // took the lock to re-read the page): keep waiting then.
    func: () => ((folio.flags & bit) !== 0 ? __folioWaitBitAsyncSlow(folio, bit, cb) : cb()),
  };
  const bucket = addWaitEntry(folio, entry);
  // RACE: the bit may have been cleared (and the wake skipped) between the caller's test
  // and the enqueue; test again now that the entry is visible.
  if ((folio.flags & bit) === 0) {
    removeWaitEntry(bucket, folio, entry);
    cb();
  }
}

/** folio_wait_locked (async): `cb` once the folio is unlocked (does not take the lock). */
export function folioWaitLockedAsync(folio: Folio, cb: WaitCallback): void {
  folioWaitBitAsync(folio, PG_locked, cb);
}

/** folio_wait_writeback (async): `cb` once the folio is not under writeback. */
export function folioWaitWritebackAsync(folio: Folio, cb: WaitCallback): void {
  folioWaitBitAsync(folio, PG_writeback, cb);
}

// ---------------------------------------------------------------------------------------
// Waking

/**
 * folio_wake_bit: `bit` was just cleared on the folio `page`. Walk the page's bucket: take out and
 * call every entry waiting for this (page, bit) (stats wake_page), count every other entry
 * as spurious (stats wake_spurious). PG_waiters is cleared when no entry for the page
 * remains. Nothing is walked when PG_waiters is clear.
 *
 * Context: the bit is already clear. Callbacks run synchronously, after the walk (or, in
 * an I/O completion, after the completion); if one throws, the others still run and the
 * first error is rethrown at the end.
 */
export function folioWakeBit(folio: Folio, bit: number): void {
  if ((folio.flags & PG_waiters) === 0) return;
  const table = folio.owner.cache.waitTable;
  const bucket = table.buckets[folioWaitBucket(folio)]!;

  let woken: (() => void)[] | undefined;
  let spurious = 0;
  let pageStillWaited = false;
  let keep = 0;
  for (let i = 0; i < bucket.length; i++) {
    const e = bucket[i]!;
    if (e.folio === folio && e.bit === bit) {
      (woken ??= []).push(e.func);
    } else {
      spurious++;
      if (e.folio === folio) pageStillWaited = true; // same page, another bit
      bucket[keep++] = e;
    }
  }
  bucket.length = keep;
  if (!pageStillWaited) folio.clear(PG_waiters);

  const n = woken === undefined ? 0 : woken.length;
  table.stats.c.wake_page += n;
  table.stats.c.wake_spurious += spurious;
  if (table.trace.enabled) table.trace.emit(TraceEvent.wake, folio.owner.ino, folio.index, n, spurious);
  if (woken === undefined) return;

  // The entries are out of the bucket: a callback that waits again queues a new entry.
  if (inIoCompletion()) {
    for (const fn of woken) queueTaskWork(fn);
    return;
  }
  const first = callEach(woken);
  if (first) throw first.err;
}
