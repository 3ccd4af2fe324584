/**
 * struct page, reduced to what the buffered read path needs.
 *
 * A page caches 4 KiB of one file at `index` (file offset = index * PAGE_SIZE) in one
 * frame of the arena. Its state lives in `flags`, a bit field, exactly like the kernel's
 * page->flags: the readahead algorithm reads its signals from the pages (presence,
 * PG_readahead) rather than from side tables.
 *
 *   PG_locked     I/O in flight (or someone owns the page); readers wait for unlock
 *   PG_uptodate   the frame holds the file's data
 *   PG_readahead  the async-readahead marker: reading this page triggers the next window
 *   PG_error      the last read of this page failed
 *   PG_dirty      the frame holds data not yet written to the device
 *   PG_writeback  a write of this page is in flight
 *   PG_referenced accessed once recently (first touch of the two-touch LRU)
 *   PG_active     on the active LRU list
 *   PG_lru        on an LRU list
 *   PG_waiters    someone waits in the page wait table (lets unlock skip the wake walk)
 *   PG_raunread   brought in by readahead and not read yet (for ra_hit / ra_wasted)
 */

import type { Lruvec } from './lru.js';
import type { PageWaitTable } from './wait.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT; // 4096
export const PAGE_MASK = PAGE_SIZE - 1;

export const PG_locked = 1 << 0;
export const PG_uptodate = 1 << 1;
export const PG_readahead = 1 << 2;
export const PG_error = 1 << 3;
export const PG_dirty = 1 << 4;
export const PG_writeback = 1 << 5;
export const PG_referenced = 1 << 6;
export const PG_active = 1 << 7;
export const PG_lru = 1 << 8;
export const PG_waiters = 1 << 9;
export const PG_raunread = 1 << 10;

/**
 * Not a flag: the mask of the states that pin a page in the cache (I/O or a lock owner,
 * data not yet on the device, a write in flight). Reclaim and drop_caches pass these by.
 */
export const PG_PINNED = PG_locked | PG_dirty | PG_writeback;

/** A page index in a file (file offset >> PAGE_SHIFT). */
export type PageIndex = number;

export const FLAG_NAMES: readonly [number, string][] = [
  [PG_locked, 'locked'],
  [PG_uptodate, 'uptodate'],
  [PG_readahead, 'readahead'],
  [PG_error, 'error'],
  [PG_dirty, 'dirty'],
  [PG_writeback, 'writeback'],
  [PG_referenced, 'referenced'],
  [PG_active, 'active'],
  [PG_lru, 'lru'],
  [PG_waiters, 'waiters'],
  [PG_raunread, 'raunread'],
];

/**
 * What a page belongs to: `AddressSpace` in filemap implements it. Through it a page
 * finds its page cache's wait table and LRU lists.
 */
export interface PageOwner {
  readonly ino: number;
  readonly cache: { readonly waitTable: PageWaitTable; readonly lruvec: Lruvec };
}

export class Page {
  flags = 0;
  /** Intrusive LRU links; owned by the LRU lists. */
  lruPrev: Page | undefined = undefined;
  lruNext: Page | undefined = undefined;
  /**
   * The owning address_space; `undefined` once the page was removed from the cache
   * (truncated, invalidated or reclaimed): a waiter that wakes up must re-check this,
   * like the kernel's `if (!page->mapping)`.
   */
  mapping: PageOwner | undefined;
  /**
   * The address_space the page was created for, kept after `mapping` is cleared. The
   * kernel hashes a page's waiters on its struct page, which outlives page->mapping; ours
   * hash on (owner.ino, index), so a page deleted while locked (truncate locks, deletes,
   * then unlocks) still wakes the bucket its waiters queued in, in its cache's table.
   */
  readonly owner: PageOwner;
  /** Open-file handle whose readahead brought this page in (for per-handle hit/waste). */
  raOwner: number | undefined = undefined;

  constructor(
    mapping: PageOwner,
    readonly index: PageIndex,
    /** Frame number in the arena. */
    readonly frame: number,
    /** The frame's 4 KiB, a view into the arena (page-aligned: usable for O_DIRECT). */
    readonly data: Uint8Array,
  ) {
    this.mapping = mapping;
    this.owner = mapping;
  }

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }
  set(flag: number): void {
    this.flags |= flag;
  }
  clear(flag: number): void {
    this.flags &= ~flag;
  }
  /** Clear `flag` and say whether it was set (TestClearPageX). */
  testClear(flag: number): boolean {
    const was = (this.flags & flag) !== 0;
    this.flags &= ~flag;
    return was;
  }

  flagString(): string {
    return FLAG_NAMES.filter(([f]) => this.flags & f).map(([, n]) => n).join('|') || '-';
  }
}

// Kernel-style predicates, for code that reads like the kernel's.
export const PageLocked = (p: Page): boolean => (p.flags & PG_locked) !== 0;
export const PageUptodate = (p: Page): boolean => (p.flags & PG_uptodate) !== 0;
export const PageReadahead = (p: Page): boolean => (p.flags & PG_readahead) !== 0;
export const PageWriteback = (p: Page): boolean => (p.flags & PG_writeback) !== 0;
export const PageError = (p: Page): boolean => (p.flags & PG_error) !== 0;
export const PageDirty = (p: Page): boolean => (p.flags & PG_dirty) !== 0;
