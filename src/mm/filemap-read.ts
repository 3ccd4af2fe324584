/**
 * The buffered read loop: do_generic_file_read (kernel v4.10-v4.18, seed 001) with the
 * async page waits of v5.9 (seed 000). One call reads [pos, pos + len) of a file into
 * `buf`, page by page:
 *
 *   FIND_PAGE ──miss──> sync readahead ──still missing──> NO_CACHED_PAGE ──> READPAGE
 *      │                                                                        │
 *      │ PG_readahead? async readahead                        not uptodate yet: │
 *      │                                                      lock (async) ─────┤
 *      ├─ uptodate ─────────────────────────────> PAGE_OK <── READPAGE_LOCKED <─┘
 *      │                                           ^   │           └─ still not uptodate: EIO
 *      └─ not uptodate ─> locked: wait (async) ─> WAITED ─> (no data, no error) lock ─>
 *                         unlocked: trylock ──────────────> NOT_UPTODATE_LOCKED ─> READPAGE
 *
 *   PAGE_OK: EOF checks, mark accessed, copy, advance; request done -> OUT
 *   OUT:     ra.prevPos = (prev_index << 12) | prev_offset; done(written ? undefined : error, written)
 *
 * The loop never blocks: where the kernel sleeps in lock_page_killable, we queue a wait
 * entry whose callback re-enters the loop at the state saved in the `ReadIocb` (the
 * kiocb of seed 000) and return. When every page is cached and uptodate the loop runs to
 * OUT without waiting: `done` is called before filemapRead returns, with no Promise and
 * no per-page allocation (one ReadIocb per call).
 *
 * Errors: a readpage that ends without PG_uptodate gives EIO (and shrinks the file's
 * ra_pages); readers that waited on that same I/O get EIO too (they see PG_error when
 * woken) rather than re-issuing it; the next read that finds the page unlocked and not
 * uptodate retries the I/O. Nothing is left locked on any path.
 */

import { blkFinishPlug, blkStartPlug } from '../block/plug.js';
import { fsError, toFsError, type FsError } from '../errors.js';
import { addToPageCacheLru, findGetPage, type AddressSpace } from './filemap.js';
import { markPageAccessed, pinBit } from './lru.js';
import { PAGE_SIZE, PG_error, PG_locked, PG_raunread, PG_readahead, PG_uptodate, PageError, PageLocked, PageReadahead, PageUptodate, type Page } from './page.js';
import { pageCacheAsyncReadahead, pageCacheSyncReadahead, shrinkReadaheadSizeEio } from './readahead.js';
import type { MmFile } from './types.js';
import { __lockPageAsyncSlow, __waitOnPageBitAsyncSlow, trylockPage, unlockPage } from './wait.js';

/** Called once per read: the bytes copied, or the error if none were. */
export type ReadDone = (err: FsError | undefined, bytes: number) => void;

// The labels of do_generic_file_read, as states a wake-up can resume at.
const FIND_PAGE = 0;
const NO_CACHED_PAGE = 1;
/** Woken after waiting for a locked, not uptodate page to be unlocked. */
const WAITED = 2;
/** page_not_up_to_date_locked: we hold the lock of a page that may need reading. */
const NOT_UPTODATE_LOCKED = 3;
const READPAGE = 4;
/** We hold the lock again after our own readpage finished. */
const READPAGE_LOCKED = 5;
const PAGE_OK = 6;
const OUT = 7;
type Step = typeof FIND_PAGE | typeof NO_CACHED_PAGE | typeof WAITED | typeof NOT_UPTODATE_LOCKED | typeof READPAGE | typeof READPAGE_LOCKED | typeof PAGE_OK | typeof OUT;

/**
 * The state of one read in flight (the kiocb plus do_generic_file_read's locals), so that
 * a wake-up can resume the loop. Invariant: `page` is set whenever `resumeAt` is not
 * FIND_PAGE.
 */
class ReadIocb {
  /** Page index being read. */
  index: number;
  /** One past the last page index of the request: (pos + len + 4095) >> 12. */
  readonly last: number;
  /** Offset into the page at `index`. */
  offset: number;
  /** Page index and offset where the previous read of this file stopped (prev_pos). */
  prevIndex: number;
  prevOffset: number;
  /** Bytes copied to buf so far. */
  written = 0;
  error: FsError | undefined = undefined;
  /** This read waited at least once (page_waits counts reads, not waits). */
  waited = false;
  /** `done` was called (it must be called exactly once). */
  finished = false;
  page: Page | undefined = undefined;
  resumeAt: Step = FIND_PAGE;
  /** The wait callback (wait_page_queue.func): created on the first wait only. */
  wake: (() => void) | undefined = undefined;

  constructor(
    readonly mapping: AddressSpace,
    readonly file: MmFile,
    readonly buf: Uint8Array,
    pos: number,
    readonly len: number,
    readonly done: ReadDone,
  ) {
    this.index = Math.floor(pos / PAGE_SIZE);
    this.offset = pos % PAGE_SIZE;
    this.last = Math.floor((pos + len + PAGE_SIZE - 1) / PAGE_SIZE);
    // prev_pos is -1 on a fresh open: prev_index = -1 (all ones), prev_offset = 4095.
    const prevPos = file.ra.prevPos;
    this.prevIndex = Math.floor(prevPos / PAGE_SIZE);
    this.prevOffset = prevPos - this.prevIndex * PAGE_SIZE;
  }
}

/**
 * Read [pos, pos + len) of the file into buf[0, len); call `done(err, bytes)` exactly once.
 * bytes < len at EOF; on an error after some bytes were copied, `done` gets those bytes
 * and no error (`written ? written : error`).
 *
 * Context: callback style so that the cached path has no await. When all pages are cached
 * and uptodate, `done` runs before filemapRead returns; otherwise from the unlock (I/O
 * completion) of the page the read waited for.
 */
export function filemapRead(mapping: AddressSpace, file: MmFile, buf: Uint8Array, pos: number, len: number, done: ReadDone): void {
  if (!Number.isSafeInteger(pos) || pos < 0 || !Number.isSafeInteger(len) || len < 0 || len > buf.length) {
    done(fsError('EINVAL', `read of ${len} bytes at ${pos} into a ${buf.length}-byte buffer`), 0);
    return;
  }
  if (len === 0) {
    done(undefined, 0); // like generic_file_read_iter: no count, no work (prev_pos untouched)
    return;
  }
  genericFileBufferedRead(new ReadIocb(mapping, file, buf, pos, len, done), FIND_PAGE);
}

/** filemapRead as a Promise (for tests and callers that await anyway). */
export function filemapReadAsync(mapping: AddressSpace, file: MmFile, buf: Uint8Array, pos: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => {
    filemapRead(mapping, file, buf, pos, len, (err, bytes) => (err ? reject(err) : resolve(bytes)));
  });
}

/**
 * Leave the loop until `bit` of `page` is clear (PG_locked: the page is unlocked) or, with
 * `lock`, until we hold its lock; the wake-up resumes at `resumeAt`.
 * Context: the caller returns right after; the callback may even run before this returns
 * (the slow path re-checks after queueing), which re-enters the loop from here.
 */
function waitForPage(rd: ReadIocb, page: Page, resumeAt: Step, how: 'clear' | 'lock', bit = PG_locked): void {
  if (!rd.waited) {
    rd.waited = true;
    rd.mapping.cache.stats.c.page_waits++;
  }
  rd.page = page;
  rd.resumeAt = resumeAt;
  const wake = (rd.wake ??= () => genericFileBufferedRead(rd, rd.resumeAt));
  if (how === 'lock') __lockPageAsyncSlow(page, wake);
  else __waitOnPageBitAsyncSlow(page, bit, wake);
}

/**
 * readpage_error: the page could not be read. This open file's readahead shrinks
 * (shrink_readahead_size_eio) and the read ends with EIO (or with the bytes copied so far).
 */
function readpageError(rd: ReadIocb): void {
  shrinkReadaheadSizeEio(rd.file.ra, rd.mapping.cache.stats);
  rd.error = fsError('EIO', `read error at page ${rd.index} of inode ${rd.mapping.ino}`);
}

/**
 * The loop. `step` is where to start: FIND_PAGE for a new read, the saved state after a
 * wake-up. Returns when the read finished (done called) or is waiting.
 */
function genericFileBufferedRead(rd: ReadIocb, entry: Step): void {
  const { mapping, file, buf, len } = rd;
  const ra = file.ra;
  const stats = mapping.cache.stats;
  let step: Step = entry;
  let page = rd.page;

  try {
    for (;;) {
      switch (step) {
        case FIND_PAGE: {
          page = findGetPage(mapping, rd.index);
          if (page === undefined) {
            const pastEof = rd.index * PAGE_SIZE >= mapping.host.size;
            if (!pastEof) stats.c.pgcache_miss++;
            // Called past EOF too, as the kernel does: it submits nothing there, but the
            // decision may still move the window (e.g. the final read of `cat`), and later
            // windows of this file depend on that state.
            pageCacheSyncReadahead(mapping, ra, file, rd.index, rd.last - rd.index);
            if (pastEof) {
              // Not worth a page: the seed's kernel would allocate one, read it (a hole)
              // and stop at page_ok; we stop here.
              step = OUT;
              continue;
            }
            page = findGetPage(mapping, rd.index);
            if (page === undefined) {
              step = NO_CACHED_PAGE;
              continue;
            }
          } else if ((page.flags & (PG_uptodate | PG_readahead)) === PG_uptodate) {
            // The hot path: cached, uptodate, no marker.
            stats.c.pgcache_hit++;
            step = PAGE_OK;
            continue;
          } else if (PageUptodate(page)) {
            stats.c.pgcache_hit++;
          }
          if (PageReadahead(page)) {
            pageCacheAsyncReadahead(mapping, ra, file, page, rd.index, rd.last - rd.index);
            // RACE (no page refcount here): readahead allocates frames, and reclaim may have
            // just freed this very page (clean, unlocked, not yet marked accessed).
            if (page.mapping === undefined) continue; // FIND_PAGE again
          }
          if (!PageUptodate(page)) {
            // Nobody is reading it (a failed read left it unlocked, PG_error): ours to read.
            if (trylockPage(page)) {
              step = NOT_UPTODATE_LOCKED;
              continue;
            }
            // I/O in flight: wait for the unlock without blocking (wait_on_page_locked_async).
            waitForPage(rd, page, WAITED, 'clear');
            return;
          }
          step = PAGE_OK;
          continue;
        }

        case WAITED: {
          page = page!;
          // Callbacks of the same wake ran before ours: the page may be gone already.
          if (page.mapping === undefined) {
            step = FIND_PAGE; // truncated or reclaimed while we waited
            continue;
          }
          if (PageUptodate(page)) {
            step = PAGE_OK;
            continue;
          }
          if (PageError(page)) {
            // The I/O this read waited for failed: every waiter gets EIO (no retry storm);
            // the next read that finds the page unlocked will retry it.
            readpageError(rd);
            step = OUT;
            continue;
          }
          // Unlocked with neither data nor error: get exclusive access and read it ourselves.
          if (trylockPage(page)) {
            step = NOT_UPTODATE_LOCKED;
            continue;
          }
          waitForPage(rd, page, NOT_UPTODATE_LOCKED, 'lock');
          return;
        }

        case NOT_UPTODATE_LOCKED: {
          page = page!;
          // Did it get truncated before we got the lock?
          if (page.mapping === undefined) {
            unlockPage(page);
            step = FIND_PAGE;
            continue;
          }
          // Did somebody else fill it already?
          if (PageUptodate(page)) {
            unlockPage(page);
            step = PAGE_OK;
            continue;
          }
          step = READPAGE;
          continue;
        }

        case READPAGE: {
          page = page!;
          // A previous I/O error may have been temporary; PG_error is set again if this fails.
          page.clear(PG_error);
          stats.c.readpage_ios++;
          const plug = blkStartPlug();
          try {
            mapping.aops.readpage(mapping, page); // starts the I/O; its completion unlocks the page
          } catch {
            // readpage must not throw (errors go to the page); if it does, fail the page
            // rather than leave it locked forever.
            page.set(PG_error);
            if (PageLocked(page)) unlockPage(page);
          } finally {
            blkFinishPlug(plug);
          }
          if (!PageUptodate(page)) {
            if (trylockPage(page)) {
              step = READPAGE_LOCKED; // already completed, with an error
              continue;
            }
            waitForPage(rd, page, READPAGE_LOCKED, 'lock');
            return;
          }
          step = PAGE_OK;
          continue;
        }

        case READPAGE_LOCKED: {
          page = page!;
          // Checked even when uptodate: without a refcount, a page deleted by a truncate that
          // got the lock before us has had its frame freed.
          if (page.mapping === undefined) {
            unlockPage(page); // invalidated while we waited: look again
            step = FIND_PAGE;
            continue;
          }
          if (!PageUptodate(page)) {
            unlockPage(page);
            readpageError(rd);
            step = OUT;
            continue;
          }
          unlockPage(page);
          step = PAGE_OK;
          continue;
        }

        case NO_CACHED_PAGE: {
          const fresh = addToPageCacheLru(mapping, rd.index);
          if (fresh !== undefined) {
            page = fresh; // locked, not uptodate
            step = READPAGE;
            continue;
          }
          if (mapping.pages.has(rd.index)) {
            step = FIND_PAGE; // -EEXIST: someone added it first
            continue;
          }
          // No frame: every page in the cache is pinned (I/O in flight, writes). Wait for
          // the oldest one to be released, then look again.
          const pinned = mapping.cache.lruvec.findPinnedPage();
          if (pinned === undefined) {
            rd.error = fsError('ENOMEM', `no page frame free for inode ${mapping.ino} page ${rd.index}`);
            step = OUT;
            continue;
          }
          waitForPage(rd, pinned, FIND_PAGE, 'clear', pinBit(pinned)); // FIND_PAGE looks the index up again
          return;
        }

        case PAGE_OK: {
          page = page!;
          // i_size must be checked after we know the page is uptodate.
          const isize = mapping.host.size;
          if (isize === 0) {
            step = OUT;
            continue;
          }
          const endIndex = Math.floor((isize - 1) / PAGE_SIZE);
          if (rd.index > endIndex) {
            step = OUT;
            continue;
          }
          // nr: the most bytes to copy from this page
          let nr = PAGE_SIZE;
          if (rd.index === endIndex) {
            nr = ((isize - 1) % PAGE_SIZE) + 1;
            if (nr <= rd.offset) {
              step = OUT;
              continue;
            }
          }
          nr -= rd.offset;

          // When a sequential read accesses a page several times, only mark it accessed the first time.
          if (rd.prevIndex !== rd.index || rd.offset !== rd.prevOffset) markPageAccessed(page);
          rd.prevIndex = rd.index;

          if ((page.flags & PG_raunread) !== 0) {
            page.flags &= ~PG_raunread;
            stats.c.ra_hit++;
            if (page.raOwner !== undefined) mapping.cache.raAccount?.(page.raOwner, 'hit', 1);
          }

          const n = Math.min(nr, len - rd.written);
          const off = rd.offset;
          if (n === PAGE_SIZE) buf.set(page.data, rd.written);
          else buf.set(page.data.subarray(off, off + n), rd.written);

          rd.offset = off + n;
          rd.index += rd.offset >> 12;
          rd.offset &= PAGE_SIZE - 1;
          rd.prevOffset = rd.offset;
          rd.written += n;
          if (rd.written === len) {
            step = OUT;
            continue;
          }
          step = FIND_PAGE;
          continue;
        }

        case OUT: {
          ra.prevPos = rd.prevIndex * PAGE_SIZE + rd.prevOffset; // (prev_index << 12) | prev_offset
          rd.page = undefined;
          rd.finished = true;
          rd.done(rd.written ? undefined : rd.error, rd.written);
          return;
        }

        default: {
          const never: never = step;
          throw new Error(`filemapRead: bad state ${String(never)}`);
        }
      }
    }
  } catch (err) {
    // A bug below us (readahead, a filesystem callback) threw: the read still ends, once.
    if (rd.finished) throw err; // thrown by `done` itself: not ours to swallow
    rd.finished = true;
    rd.page = undefined;
    rd.done(rd.written ? undefined : toFsError(err, 'read'), rd.written);
  }
}
