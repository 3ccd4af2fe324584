/**
 * Page size and the page flags (include/linux/page-flags.h). In Linux 6.18 the flags
 * that matter to the page cache live on the folio (`folio->flags`); the PG_ bits below
 * are those bits. `Folio` (folio.ts) carries them.
 *
 *   PG_locked     I/O in flight (or someone owns the folio); readers wait for unlock
 *   PG_uptodate   the frames hold the file's data
 *   PG_readahead  the async-readahead marker: reading this folio triggers the next window
 *   PG_error      the last read of this folio failed
 *   PG_dirty      the frames hold data not yet written to the device
 *   PG_writeback  a write of this folio is in flight
 *   PG_referenced accessed once recently (first touch of the two-touch LRU)
 *   PG_active     on the active LRU list
 *   PG_lru        on an LRU list
 *   PG_waiters    someone waits in the folio wait table (lets unlock skip the wake walk)
 *   PG_raunread   ours: brought in by readahead and not read yet (for ra_hit / ra_wasted)
 *   PG_delalloc   ours: dirty over a hole, a block promised but not allocated (ext4's BH_Delay)
 */

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
export const PG_delalloc = 1 << 11;

/**
 * Not a flag: the mask of the states that pin a folio in the cache (I/O or a lock owner,
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
  [PG_delalloc, 'delalloc'],
];
