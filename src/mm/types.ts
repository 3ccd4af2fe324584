/**
 * The contracts between the page cache (src/mm) and the layers around it.
 *
 * mm calls the filesystem only through `AddressSpaceOperations` (the kernel's a_ops),
 * asks the device side only `BackingDevInfo` questions (the kernel's bdi), and knows an
 * open file only as `MmFile` (the part of struct file the read path uses).
 */

import type { Page, PageIndex } from './page.js';

/**
 * struct file_ra_state: the whole per-open-file readahead state. Five numbers; every
 * other signal the algorithm uses is read from the page cache (presence, PG_readahead).
 *
 *                        |<----- asyncSize ---------|
 *    |------------------- size -------------------->|
 *    |==================#===========================|
 *    ^start             ^page marked PG_readahead
 */
export interface FileRaState {
  /** Where the current window starts (page index). */
  start: PageIndex;
  /** Pages in the current window. */
  size: number;
  /** Start the next window when only this many pages of the current one are left unread. */
  asyncSize: number;
  /** Maximum window in pages: read_ahead_kb / 4, copied at open; 0 = readahead off. */
  raPages: number;
  /** Byte position just past the last read (prev_index << 12 | prev_offset); -1 before the first read (PREV_POS_NONE). */
  prevPos: number;
}

/** The value the kernel's `prev_pos` has on a fresh open: all ones. */
export const PREV_POS_NONE = -1;

export function fileRaStateInit(raPages: number): FileRaState {
  return { start: 0, size: 0, asyncSize: 0, raPages, prevPos: PREV_POS_NONE };
}

/** What an address_space needs from its inode. */
export interface InodeHost {
  readonly ino: number;
  /** i_size in bytes (kept current by the vfs on write and truncate). */
  size: number;
}

/**
 * address_space_operations. Pages handed to `readpage`/`readahead` are locked, not
 * uptodate, and already in the page cache. The filesystem starts the I/O and returns; on
 * completion (which may happen synchronously, e.g. for a hole that is just zero-filled)
 * it sets PG_uptodate or PG_error on each page and unlocks it with mm's `unlockPage`,
 * which wakes the waiters. These two never throw: errors go to the pages.
 */
export interface AddressSpaceOperations {
  readpage(mapping: AddressSpaceLike, page: Page): void;
  /**
   * Read a batch of pages (ascending, contiguous indexes), building one multi-page bio per
   * contiguous run on the device. Optional: when absent (or switched off by the
   * `readpages` tunable) `readPages` calls `readpage` once per page inside the plug.
   */
  readahead?(mapping: AddressSpaceLike, pages: Page[]): void;
  /**
   * Write dirty pages (locked by the caller) through to the device and commit their
   * extents (data first, then metadata: the ordered rule). Clears PG_dirty, sets
   * PG_writeback while the I/O is in flight, ends writeback on completion. Rejects with
   * an FsError (ENOSPC, EIO) and leaves the failed pages dirty.
   */
  writepages(mapping: AddressSpaceLike, pages: Page[]): Promise<void>;
}

/** struct backing_dev_info: the device-wide readahead facts. */
export interface BackingDevInfo {
  /** Default ra_pages for files opened from now on (read_ahead_kb / 4). */
  raPages: number;
  /** Optimal I/O size in pages (max_sectors_kb / 4): oversize reads may read this much. */
  ioPages: number;
  /** inode_read_congested(): the request queue has 7/8 of its tags in flight. */
  readCongested(): boolean;
}

/** The part of an address_space the readahead and filesystem code see. */
export interface AddressSpaceLike {
  readonly ino: number;
  readonly host: InodeHost;
  /** Page lookup by index, O(1). */
  readonly pages: Map<PageIndex, Page>;
}

/** The part of struct file the read path uses. */
export interface MmFile {
  /** The FUSE file handle (for the trace and per-handle figures). */
  readonly fh: number;
  readonly ra: FileRaState;
}
