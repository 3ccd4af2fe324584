/**
 * The extent allocator: free device blocks (4 KiB units) as extents (start, len).
 *
 * Three views of free space, because of the ordered rule (docs/architecture.md, section 4):
 *
 *   durable   what the LMDB free db holds once every queued transaction has committed.
 *             The allocator keeps it as a mirror and turns each change into the
 *             put/del records of the transaction that makes it (see `Change`).
 *   avail     what `allocate` may hand out now.  avail ⊆ durable.
 *   reserved  handed out by `allocate`, data in flight, not attached yet: still free
 *             in `durable` (so a crash gives them back), gone from `avail`.
 *
 *     allocate ───────────> reserved ── commitAllocated (in the attach txn) ──> in use
 *        ^                     │
 *        └──── unreserve ──────┘  (the write failed)
 *
 *     in use ── freeDurable (in the unlink/truncate txn) ──> pending ── release (after
 *                                                                       the txn is durable) ──> avail
 *
 * A freed run is in `durable` at once (the txn that frees it carries the records) but
 * reaches `avail` only after that txn has committed and been flushed: before that, a
 * crash would bring the old file back, and its blocks must not hold another file's data.
 *
 * Each file that allocates gets a soft *window*: the next WINDOW_BLOCKS free blocks after
 * its last run (ext4's inode preallocation, but never binding). An allocation with no
 * goal (a new file) skips the windows of other files while there is other room, so two
 * files written side by side do not interleave; when space is short the windows are
 * ignored.
 *
 *   file A run    A's window (soft)        file B's first run
 *   |##########|.......................|########|
 *              ^ A's goal: A continues here
 *
 * Extents are kept in a sorted array with binary search; adjacent extents are always
 * merged. Allocation is O(number of free extents), which is fine for the stores this
 * project makes (a fragmented 1 GiB device has at most 131072 extents).
 */

import { fsError } from '../errors.js';

/** A contiguous run of device blocks. */
export interface Run {
  /** First device block. */
  start: number;
  /** Blocks in the run (> 0). */
  len: number;
}

/** One record of the LMDB free db changed by an ExtentSet operation, in order. */
export type Change = { kind: 'put'; start: number; len: number } | { kind: 'del'; start: number };

/**
 * A set of disjoint, non-adjacent extents sorted by start.
 * Invariant: starts[i] + lens[i] < starts[i+1] (adjacent extents are merged).
 */
export class ExtentSet {
  private starts: number[] = [];
  private lens: number[] = [];
  /** Sum of lens. */
  total = 0;

  get count(): number {
    return this.starts.length;
  }

  /** Extents in ascending order (a copy). */
  toArray(): Run[] {
    return this.starts.map((start, i) => ({ start, len: this.lens[i]! }));
  }

  /** Index of the last extent with start <= block, or -1. */
  private floor(block: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= block) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }

  /** The extent containing `block`, if any. */
  extentAt(block: number): Run | undefined {
    const i = this.floor(block);
    if (i < 0 || this.starts[i]! + this.lens[i]! <= block) return undefined;
    return { start: this.starts[i]!, len: this.lens[i]! };
  }

  /** True when every block of [start, start+len) is in the set. */
  contains(start: number, len: number): boolean {
    const i = this.floor(start);
    return i >= 0 && this.starts[i]! + this.lens[i]! >= start + len;
  }

  /** True when no block of [start, start+len) is in the set. */
  disjoint(start: number, len: number): boolean {
    const i = this.floor(start + len - 1);
    return i < 0 || this.starts[i]! + this.lens[i]! <= start;
  }

  /**
   * Add [start, start+len), merging with neighbours. Throws (a bug: double free) if any
   * block is already in the set. Returns the records to change.
   */
  add(start: number, len: number): Change[] {
    if (!(len > 0)) throw fsError('EINVAL', `bad run ${start}+${len}`);
    if (!this.disjoint(start, len)) throw fsError('EIO', `allocator: run ${start}+${len} is already free (double free)`);
    const changes: Change[] = [];
    const i = this.floor(start); // last extent before the run (or -1)
    const prevJoins = i >= 0 && this.starts[i]! + this.lens[i]! === start;
    const nextJoins = i + 1 < this.starts.length && this.starts[i + 1] === start + len;
    if (prevJoins && nextJoins) {
      this.lens[i]! += len + this.lens[i + 1]!;
      changes.push({ kind: 'del', start: this.starts[i + 1]! });
      this.starts.splice(i + 1, 1);
      this.lens.splice(i + 1, 1);
      changes.push({ kind: 'put', start: this.starts[i]!, len: this.lens[i]! });
    } else if (prevJoins) {
      this.lens[i]! += len;
      changes.push({ kind: 'put', start: this.starts[i]!, len: this.lens[i]! });
    } else if (nextJoins) {
      changes.push({ kind: 'del', start: this.starts[i + 1]! });
      this.starts[i + 1] = start;
      this.lens[i + 1]! += len;
      changes.push({ kind: 'put', start, len: this.lens[i + 1]! });
    } else {
      this.starts.splice(i + 1, 0, start);
      this.lens.splice(i + 1, 0, len);
      changes.push({ kind: 'put', start, len });
    }
    this.total += len;
    return changes;
  }

  /**
   * Remove [start, start+len), which must lie inside one extent (throws otherwise).
   * Returns the records to change.
   */
  remove(start: number, len: number): Change[] {
    if (!(len > 0)) throw fsError('EINVAL', `bad run ${start}+${len}`);
    const i = this.floor(start);
    if (i < 0 || this.starts[i]! + this.lens[i]! < start + len) {
      throw fsError('EIO', `allocator: run ${start}+${len} is not free`);
    }
    const s = this.starts[i]!;
    const end = s + this.lens[i]!;
    const changes: Change[] = [];
    const head = start - s;
    const tail = end - (start + len);
    if (head > 0) {
      this.lens[i] = head;
      changes.push({ kind: 'put', start: s, len: head });
    } else {
      this.starts.splice(i, 1);
      this.lens.splice(i, 1);
      changes.push({ kind: 'del', start: s });
    }
    if (tail > 0) {
      const at = head > 0 ? i + 1 : i;
      this.starts.splice(at, 0, start + len);
      this.lens.splice(at, 0, tail);
      changes.push({ kind: 'put', start: start + len, len: tail });
    }
    this.total -= len;
    return changes;
  }

  /** Index of the first extent that ends after `block` (count if none). */
  indexFrom(block: number): number {
    const i = this.floor(block);
    return i < 0 || this.starts[i]! + this.lens[i]! <= block ? i + 1 : i;
  }

  /** Index of the first extent at or after `from` (wrapping) with len >= count, or -1. */
  findFit(count: number, fromBlock: number): number {
    const n = this.starts.length;
    const first = this.indexFrom(fromBlock);
    for (let k = 0; k < n; k++) {
      const i = (first + k) % n;
      if (this.lens[i]! >= count) return i;
    }
    return -1;
  }

  /** Index of the largest extent (the lowest one on ties), or -1. */
  largest(): number {
    let best = -1;
    for (let i = 0; i < this.lens.length; i++) if (best < 0 || this.lens[i]! > this.lens[best]!) best = i;
    return best;
  }

  at(i: number): Run {
    return { start: this.starts[i]!, len: this.lens[i]! };
  }
}

/** Blocks after a file's last run kept out of other files' goal-less allocations (2 MiB). */
export const WINDOW_BLOCKS = 512;
/** Windows remembered (the most recent allocating files). */
export const MAX_WINDOWS = 64;

/**
 * The allocator of one device. Context: single-threaded (the event loop); every method is
 * synchronous, so a reservation is visible to the next caller at once.
 */
export class Allocator {
  /** Mirror of the LMDB free db (after all queued transactions). */
  private readonly durable = new ExtentSet();
  private readonly avail = new ExtentSet();
  private readonly reserved = new ExtentSet();
  /** Next-fit cursor: where the last allocation ended. */
  private cursor = 0;
  /** Soft windows by owner (an inode number), oldest first. */
  private readonly windows = new Map<number, Run>();

  /** `free` is the content of the LMDB free db (disjoint runs, any order). */
  constructor(
    readonly totalBlocks: number,
    free: Iterable<Run>,
  ) {
    for (const r of free) {
      if (r.start < 0 || r.start + r.len > totalBlocks) throw fsError('EIO', `free extent ${r.start}+${r.len} is outside the device (${totalBlocks} blocks)`);
      this.durable.add(r.start, r.len);
      this.avail.add(r.start, r.len);
    }
  }

  /** Blocks `allocate` can hand out now. */
  get freeBlocks(): number {
    return this.avail.total;
  }

  /** Blocks free in the (eventually) durable free list, reserved and pending included. */
  get durableFreeBlocks(): number {
    return this.durable.total;
  }

  get reservedBlocks(): number {
    return this.reserved.total;
  }

  /** Free extents available now, ascending (for tests and the fsck-like checks). */
  availExtents(): Run[] {
    return this.avail.toArray();
  }

  durableExtents(): Run[] {
    return this.durable.toArray();
  }

  /**
   * Reserve `count` blocks as contiguous runs, in the order they should be used.
   *
   *   1. at `goal` (the block right after the file's previous extent): as much as the free
   *      extent that contains `goal` has, so a sequential writer stays contiguous;
   *   2. then next-fit: the first free space from the cursor (wrapping) that holds all
   *      that is left, outside other owners' windows;
   *   3. then the same ignoring the windows;
   *   4. else the largest extents, one after the other (fragmentation: several runs).
   *
   * `owner` (the inode) gets a window after the last run. Throws FsError ENOSPC,
   * reserving nothing, when fewer than `count` blocks are free.
   */
  allocate(count: number, goal?: number, owner?: number): Run[] {
    if (!Number.isSafeInteger(count) || count <= 0) throw fsError('EINVAL', `allocate: bad block count ${count}`);
    if (count > this.avail.total) throw fsError('ENOSPC', `need ${count} blocks, ${this.avail.total} free`);
    const runs: Run[] = [];
    let left = count;
    const take = (start: number, len: number): void => {
      this.avail.remove(start, len);
      this.reserved.add(start, len);
      const last = runs[runs.length - 1];
      if (last && last.start + last.len === start) last.len += len;
      else runs.push({ start, len });
      left -= len;
      this.cursor = start + len;
    };
    if (goal !== undefined && goal >= 0 && goal < this.totalBlocks) {
      const e = this.avail.extentAt(goal);
      if (e) take(goal, Math.min(left, e.start + e.len - goal));
    }
    if (left > 0) {
      const start = this.fitOutsideWindows(left, owner);
      if (start !== undefined) take(start, left);
    }
    while (left > 0) {
      let i = this.avail.findFit(left, this.cursor);
      if (i >= 0) {
        take(this.avail.at(i).start, left);
        break;
      }
      i = this.avail.largest();
      const e = this.avail.at(i);
      take(e.start, Math.min(e.len, left));
    }
    if (owner !== undefined) this.setWindow(owner, this.cursor);
    return runs;
  }

  /** First free space of `need` blocks from the cursor (wrapping) that no other owner's window covers. */
  private fitOutsideWindows(need: number, owner: number | undefined): number | undefined {
    const others = [...this.windows].filter(([o]) => o !== owner).map(([, w]) => w);
    others.sort((a, b) => a.start - b.start);
    const n = this.avail.count;
    const first = this.avail.indexFrom(this.cursor);
    for (let k = 0; k < n; k++) {
      const e = this.avail.at((first + k) % n);
      let pos = e.start;
      const end = e.start + e.len;
      for (const w of others) {
        if (w.start + w.len <= pos) continue;
        if (w.start >= end) break;
        if (w.start - pos >= need) return pos;
        pos = Math.max(pos, w.start + w.len);
      }
      if (end - pos >= need) return pos;
    }
    return undefined;
  }

  /** The free blocks from `from` (up to WINDOW_BLOCKS) become `owner`'s window. */
  private setWindow(owner: number, from: number): void {
    this.windows.delete(owner);
    const e = this.avail.extentAt(from);
    if (!e) return;
    this.windows.set(owner, { start: from, len: Math.min(WINDOW_BLOCKS, e.start + e.len - from) });
    if (this.windows.size > MAX_WINDOWS) this.windows.delete(this.windows.keys().next().value!);
  }

  /** `owner` is gone (its inode was freed): drop its window. */
  forgetOwner(owner: number): void {
    this.windows.delete(owner);
  }

  /** The write failed: give reserved runs back to `avail`. Throws if a run is not reserved. */
  unreserve(runs: readonly Run[]): void {
    for (const r of runs) if (!this.reserved.contains(r.start, r.len)) throw fsError('EIO', `unreserve: run ${r.start}+${r.len} is not reserved`);
    for (const r of runs) {
      this.reserved.remove(r.start, r.len);
      this.avail.add(r.start, r.len);
    }
  }

  /** True when the whole run is reserved (attach checks this before building its txn). */
  isReserved(r: Run): boolean {
    return this.reserved.contains(r.start, r.len);
  }

  /**
   * A reserved run becomes part of a file: drop it from `reserved` and from `durable`.
   * Returns the free-db records for the attaching transaction.
   * Context: called while building that transaction; `isReserved(r)` was checked.
   */
  commitAllocated(r: Run): Change[] {
    this.reserved.remove(r.start, r.len);
    return this.durable.remove(r.start, r.len);
  }

  /**
   * A run of a file is freed (truncate/unlink): it joins `durable` now (the records go
   * into the freeing transaction) and `avail` only when `release` is called after that
   * transaction is durable.
   */
  freeDurable(r: Run): Change[] {
    return this.durable.add(r.start, r.len);
  }

  /** The freeing transaction is durable: the runs may be reused. */
  release(runs: readonly Run[]): void {
    for (const r of runs) this.avail.add(r.start, r.len);
  }
}
