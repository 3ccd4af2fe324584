/**
 * The small contracts between the page cache (src/mm) and the layers around it: the
 * per-open-file readahead state, what mm needs from an inode, the device-wide readahead
 * facts (bdi) and the part of struct file the read path uses. address_space and its
 * operations are in pagecache.ts.
 */

import type { PageIndex } from './page.js';

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

/** What an address_space needs from its inode (its host). */
export interface InodeHost {
  readonly ino: number;
  /** i_size in bytes (kept current by the vfs on write and truncate). */
  size: number;
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

/** The part of struct file the read path uses. */
export interface MmFile {
  /** The FUSE file handle (for the trace and per-handle figures). */
  readonly fh: number;
  readonly ra: FileRaState;
}
