/**
 * struct folio (Linux 6.18, include/linux/mm_types.h), reduced to what the page cache needs.
 *
 * A folio caches 2^order contiguous pages of one file, [index, index + 2^order), in
 * 2^order contiguous frames of the arena (one buddy block): one `data` view, one set of
 * flags, one LRU entry, one wait-queue key. A large folio is naturally aligned in the
 * file (index is a multiple of 2^order) as in the kernel's page cache.
 *
 *   file pages  ... | 32 | 33 | 34 | 35 | ...
 *                   \___ folio index=32 order=2 ___/   frames 8..11, data 16 KiB
 *   i_pages:  32 -> F, 33 -> F, 34 -> F, 35 -> F      (a lookup by any index finds F)
 *
 * The flags (page.ts) are the folio's: PG_locked locks all its pages, PG_uptodate says
 * all of them hold data. The 4.18 read loop only ever creates order-0 folios (one page
 * each), so it behaves exactly as with struct page.
 *
 * There is no refcount: JavaScript holds the objects alive, and the frames are reused as
 * soon as the folio is removed. The rule that replaces the refcount: code that keeps a
 * folio across anything that can reclaim (an allocation, a wait) must either hold the
 * folio lock or re-check `folio.mapping` before touching `folio.data`.
 */

import { FLAG_NAMES, PAGE_SHIFT, PG_dirty, PG_error, PG_locked, PG_readahead, PG_uptodate, PG_writeback, type PageIndex } from './page.js';
import type { AddressSpace } from './pagecache.js';

// ---------------------------------------------------------------------------------------
// Folio order limits of Linux 6.18 for a regular file on x86-64 with 4 KiB pages.
//
// include/linux/pagemap.h:
//   #define PREFERRED_MAX_PAGECACHE_ORDER  HPAGE_PMD_ORDER   (CONFIG_TRANSPARENT_HUGEPAGE=y; else 8)
//   #define MAX_XAS_ORDER                  (XA_CHUNK_SHIFT * 2 - 1)    = 11 (XA_CHUNK_SHIFT 6)
//   #define MAX_PAGECACHE_ORDER            min(MAX_XAS_ORDER, PREFERRED_MAX_PAGECACHE_ORDER)
// HPAGE_PMD_ORDER = PMD_SHIFT - PAGE_SHIFT = 21 - 12 = 9 on x86-64 (the host here: THP on,
// hpage_pmd_size 2097152), so MAX_PAGECACHE_ORDER = 9: folios of up to 512 pages, 2 MiB.
// mapping_set_large_folios() = mapping_set_folio_order_range(mapping, 0, MAX_PAGECACHE_ORDER);
// a mapping that never calls it has mapping_max_folio_order() = 0 (order-0 folios only).
// ext4 (fs/ext4/inode.c, large folios for regular files since 6.16, commit 7ac67301e82f):
//   ext4_set_inode_mapping_order(): mapping_set_folio_order_range(mapping, 0,
//       EXT4_MAX_PAGECACHE_ORDER(inode)) with
//   EXT4_MAX_PAGECACHE_ORDER(i) = umin(MAX_PAGECACHE_ORDER, 11 + i_blkbits - PAGE_SHIFT)
//   = min(9, 11 + 12 - 12) = 9 for 4 KiB blocks (not for data=journal inodes, which stay 0).
// The buddy allocator's own limit, MAX_PAGE_ORDER = 10, is larger (frames.ts).

/** HPAGE_PMD_ORDER on x86-64 with 4 KiB pages: a PMD maps 2 MiB = 2^9 pages. */
export const HPAGE_PMD_ORDER = 9;
/** MAX_XAS_ORDER = XA_CHUNK_SHIFT * 2 - 1 with XA_CHUNK_SHIFT = 6. */
export const MAX_XAS_ORDER = 11;
/** MAX_PAGECACHE_ORDER = min(MAX_XAS_ORDER, HPAGE_PMD_ORDER) = 9 (THP configured). */
export const MAX_PAGECACHE_ORDER = Math.min(MAX_XAS_ORDER, HPAGE_PMD_ORDER);
/** EXT4_MAX_PAGECACHE_ORDER for 4 KiB blocks: min(MAX_PAGECACHE_ORDER, 11 + 12 - 12) = 9. */
export const EXT4_MAX_PAGECACHE_ORDER = Math.min(MAX_PAGECACHE_ORDER, 11 + 12 - PAGE_SHIFT);

export class Folio {
  flags = 0;
  /** Intrusive LRU links; owned by the LRU lists. */
  lruPrev: Folio | undefined = undefined;
  lruNext: Folio | undefined = undefined;
  /**
   * The owning address_space; `undefined` once the folio was removed from the cache
   * (truncated, invalidated or reclaimed): a waiter that wakes up must re-check this,
   * like the kernel's `if (!folio->mapping)`.
   */
  mapping: AddressSpace | undefined;
  /**
   * The address_space the folio was created for, kept after `mapping` is cleared. Waiters
   * hash on (owner.ino, index) and find the wait table and LRU through it, so a folio
   * removed while locked (truncate locks, removes, then unlocks) still wakes the bucket its
   * waiters queued in.
   */
  readonly owner: AddressSpace;
  /** Open-file handle whose readahead brought this folio in (for per-handle hit/waste). */
  raOwner: number | undefined = undefined;
  /**
   * log2 of the pages in the folio. Changes only when the folio is split (splitFolio),
   * under the folio lock: the folio then keeps its first page, as order 0.
   */
  order: number;
  /** The folio's bytes: 2^order * 4096, a page-aligned view into the arena (usable for O_DIRECT). */
  data: Uint8Array;

  constructor(
    mapping: AddressSpace,
    /** The first page index (a multiple of 2^order). */
    readonly index: PageIndex,
    order: number,
    /** The first frame of the folio's buddy block. */
    readonly frame: number,
    data: Uint8Array,
  ) {
    this.mapping = mapping;
    this.owner = mapping;
    this.order = order;
    this.data = data;
  }

  /** folio_nr_pages. */
  get nrPages(): number {
    return 1 << this.order;
  }
  /** folio_next_index: one past the last page index of the folio. */
  get nextIndex(): PageIndex {
    return this.index + (1 << this.order);
  }
  /** folio_size in bytes. */
  get size(): number {
    return this.data.byteLength;
  }
  /** folio_pos: the file offset of the first byte. */
  get pos(): number {
    return this.index * 2 ** PAGE_SHIFT;
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
  /** Clear `flag` and say whether it was set (folio_test_clear_X). */
  testClear(flag: number): boolean {
    const was = (this.flags & flag) !== 0;
    this.flags &= ~flag;
    return was;
  }

  // RaFolio (readahead-v6.ts) reads the flags as booleans: a Folio is passed as is.
  /** PG_uptodate. */
  get uptodate(): boolean {
    return (this.flags & PG_uptodate) !== 0;
  }
  /** PG_readahead. */
  get readahead(): boolean {
    return (this.flags & PG_readahead) !== 0;
  }
  /** PG_writeback. */
  get writeback(): boolean {
    return (this.flags & PG_writeback) !== 0;
  }

  flagString(): string {
    return FLAG_NAMES.filter(([f]) => this.flags & f).map(([, n]) => n).join('|') || '-';
  }
}

// Kernel-style predicates (folio_test_X), for code that reads like the kernel's.
export const folioTestLocked = (f: Folio): boolean => (f.flags & PG_locked) !== 0;
export const folioTestUptodate = (f: Folio): boolean => (f.flags & PG_uptodate) !== 0;
export const folioTestReadahead = (f: Folio): boolean => (f.flags & PG_readahead) !== 0;
export const folioTestWriteback = (f: Folio): boolean => (f.flags & PG_writeback) !== 0;
export const folioTestError = (f: Folio): boolean => (f.flags & PG_error) !== 0;
export const folioTestDirty = (f: Folio): boolean => (f.flags & PG_dirty) !== 0;
