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
 *   OUT:     ra.prevPos = (prev_index << 12) | prev_offset; read_bytes += written (the vfs's
 *            counter, kept here so that vfs.read wraps no callback); done(written ? undefined : error, written)
 *
 * The loop never blocks: where the kernel sleeps in lock_page_killable, we queue a wait
 * entry whose callback re-enters the loop at the state saved in the `ReadIocb` (the
 * kiocb of seed 000) and return. When every page is cached and uptodate the loop runs to
 * OUT without waiting: `done` is called before filemapRead returns, with no Promise and
 * no per-page allocation (one ReadIocb per call).
 *
 * Folios: the loop looks up the folio holding `index`; at PAGE_OK it copies as much of
 * the folio as the request and i_size allow (one lookup, one copy for a cached large
 * folio) and marks it accessed once. It only ever creates order-0 folios (4.18 has no
 * others), so on its own cache it runs page by page exactly as do_generic_file_read.
 *
 * Errors: a readpage that ends without PG_uptodate gives EIO (and shrinks the file's
 * ra_pages); readers that waited on that same I/O get EIO too (they see PG_error when
 * woken) rather than re-issuing it; the next read that finds the page unlocked and not
 * uptodate retries the I/O. Nothing is left locked on any path.
 */

import { fsError, toFsError, type FsError } from '../errors.js';
import { folioTestError, folioTestReadahead, folioTestUptodate, type Folio } from './folio.js';
import { folioMarkAccessed } from './lru.js';
import { PAGE_SIZE, PG_locked, PG_raunread, PG_readahead, PG_uptodate } from './page.js';
import { filemapAddFolio, filemapGetFolio, filemapReadFolio, filemapWaitForMemory, type AddressSpace } from './pagecache.js';
import { pageCacheAsyncReadahead, pageCacheSyncReadahead, shrinkReadaheadSizeEio } from './readahead.js';
import type { MmFile } from './types.js';
import { __folioLockAsyncSlow, __folioWaitBitAsyncSlow, folioTrylock, folioUnlock } from './wait.js';

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
  /** Folio index being read. */
  index: number;
  /** One past the last page index of the request: (pos + len + 4095) >> 12. */
  readonly last: number;
  /** Offset into the page at `index`. */
  offset: number;
  /** Folio index and offset where the previous read of this file stopped (prev_pos). */
  prevIndex: number;
  prevOffset: number;
  /** Bytes copied to buf so far. */
  written = 0;
  error: FsError | undefined = undefined;
  /**
   * Pages of the read below this index are counted in pgcache_hit / _wait / _miss
   * already: each page is counted once, as the first lookup found it (a lookup repeated
   * after a truncate, a reclaim or -EEXIST is not), so that hit + wait + miss = the pages
   * the reads covered (below EOF).
   */
  countedTo: number;
  /** This read waited at least once (page_waits counts reads, not waits). */
  waited = false;
  /** `done` was called (it must be called exactly once). */
  finished = false;
  /** The folio being read or waited for (do_generic_file_read's `page`). */
  folio: Folio | undefined = undefined;
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
    this.countedTo = this.index;
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
 * The pages of the read from rd.index up to `end` (a missing page's index + 1, or the
 * end of the folio found there), below EOF; they are counted now (rd.countedTo moves
 * past them). None when the read is at or past EOF.
 */
function countPages(rd: ReadIocb, end: number): number {
  const isize = rd.mapping.host.size;
  if (rd.index * PAGE_SIZE + rd.offset >= isize) return 0;
  const to = Math.min(end, rd.last, Math.ceil(isize / PAGE_SIZE));
  rd.countedTo = Math.max(rd.countedTo, to);
  return Math.max(0, to - rd.index);
}

/** page_waits counts reads that waited, not waits. */
function noteWait(rd: ReadIocb): void {
  if (!rd.waited) {
    rd.waited = true;
    rd.mapping.cache.stats.c.page_waits++;
  }
}

/** The wait callback (wait_page_queue.func) of this read: re-enters the loop at rd.resumeAt. */
function wakeOf(rd: ReadIocb): () => void {
  return (rd.wake ??= () => genericFileBufferedRead(rd, rd.resumeAt));
}

/**
 * Leave the loop until `bit` of `folio` is clear (PG_locked: the folio is unlocked) or,
 * with `lock`, until we hold its lock; the wake-up resumes at `resumeAt`.
 * Context: the caller returns right after; the callback may even run before this returns
 * (the slow path re-checks after queueing), which re-enters the loop from here.
 */
function waitForPage(rd: ReadIocb, folio: Folio, resumeAt: Step, how: 'clear' | 'lock', bit = PG_locked): void {
  noteWait(rd);
  rd.folio = folio;
  rd.resumeAt = resumeAt;
  const wake = wakeOf(rd);
  if (how === 'lock') __folioLockAsyncSlow(folio, wake);
  else __folioWaitBitAsyncSlow(folio, bit, wake);
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
  let folio = rd.folio;

  try {
    for (;;) {
      switch (step) {
        case FIND_PAGE: {
          folio = filemapGetFolio(mapping, rd.index);
          const first = rd.index >= rd.countedTo;
          if (folio === undefined) {
            const pastEof = rd.index * PAGE_SIZE >= mapping.host.size;
            if (first) stats.c.pgcache_miss += countPages(rd, rd.index + 1);
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
            folio = filemapGetFolio(mapping, rd.index);
            if (folio === undefined) {
              step = NO_CACHED_PAGE;
              continue;
            }
          } else if ((folio.flags & (PG_uptodate | PG_readahead)) === PG_uptodate) {
            // The hot path: cached, uptodate, no marker.
            if (first) stats.c.pgcache_hit += countPages(rd, folio.nextIndex);
            step = PAGE_OK;
            continue;
          } else if (first) {
            // Uptodate with the marker: a hit; not uptodate: its read is in flight (or failed).
            if (folioTestUptodate(folio)) stats.c.pgcache_hit += countPages(rd, folio.nextIndex);
            else stats.c.pgcache_wait += countPages(rd, folio.nextIndex);
          }
          if (folioTestReadahead(folio)) {
            pageCacheAsyncReadahead(mapping, ra, file, folio, rd.index, rd.last - rd.index);
            // RACE (no page refcount here): readahead allocates frames, and reclaim may have
            // just freed this very page (clean, unlocked, not yet marked accessed).
            if (folio.mapping === undefined) continue; // FIND_PAGE again
          }
          if (!folioTestUptodate(folio)) {
            // Nobody is reading it (a failed read left it unlocked, PG_error): ours to read.
            if (folioTrylock(folio)) {
              step = NOT_UPTODATE_LOCKED;
              continue;
            }
            // I/O in flight: wait for the unlock without blocking (wait_on_page_locked_async).
            waitForPage(rd, folio, WAITED, 'clear');
            return;
          }
          step = PAGE_OK;
          continue;
        }

        case WAITED: {
          folio = folio!;
          // Callbacks of the same wake ran before ours: the page may be gone already.
          if (folio.mapping === undefined) {
            step = FIND_PAGE; // truncated or reclaimed while we waited
            continue;
          }
          if (folioTestUptodate(folio)) {
            step = PAGE_OK;
            continue;
          }
          if (folioTestError(folio)) {
            // The I/O this read waited for failed: every waiter gets EIO (no retry storm);
            // the next read that finds the page unlocked will retry it.
            readpageError(rd);
            step = OUT;
            continue;
          }
          // Unlocked with neither data nor error: get exclusive access and read it ourselves.
          if (folioTrylock(folio)) {
            step = NOT_UPTODATE_LOCKED;
            continue;
          }
          waitForPage(rd, folio, NOT_UPTODATE_LOCKED, 'lock');
          return;
        }

        case NOT_UPTODATE_LOCKED: {
          folio = folio!;
          // Did it get truncated before we got the lock?
          if (folio.mapping === undefined) {
            folioUnlock(folio);
            step = FIND_PAGE;
            continue;
          }
          // Did somebody else fill it already?
          if (folioTestUptodate(folio)) {
            folioUnlock(folio);
            step = PAGE_OK;
            continue;
          }
          step = READPAGE;
          continue;
        }

        case READPAGE: {
          folio = folio!;
          filemapReadFolio(mapping, folio); // starts the I/O; its completion unlocks the folio
          if (!folioTestUptodate(folio)) {
            if (folioTrylock(folio)) {
              step = READPAGE_LOCKED; // already completed, with an error
              continue;
            }
            waitForPage(rd, folio, READPAGE_LOCKED, 'lock');
            return;
          }
          step = PAGE_OK;
          continue;
        }

        case READPAGE_LOCKED: {
          folio = folio!;
          // Checked even when uptodate: without a refcount, a page deleted by a truncate that
          // got the lock before us has had its frame freed.
          if (folio.mapping === undefined) {
            folioUnlock(folio); // invalidated while we waited: look again
            step = FIND_PAGE;
            continue;
          }
          if (!folioTestUptodate(folio)) {
            folioUnlock(folio);
            readpageError(rd);
            step = OUT;
            continue;
          }
          folioUnlock(folio);
          step = PAGE_OK;
          continue;
        }

        case NO_CACHED_PAGE: {
          const added = filemapAddFolio(mapping, rd.index, 0);
          if (added.kind === 'added') {
            folio = added.folio; // locked, not uptodate
            step = READPAGE;
            continue;
          }
          if (added.kind === 'exists') {
            step = FIND_PAGE; // -EEXIST: someone added it first
            continue;
          }
          // No frame: every folio in the cache is pinned (I/O in flight, writes). Wait for
          // the oldest one to be released, then look the index up again.
          noteWait(rd);
          rd.folio = undefined;
          rd.resumeAt = FIND_PAGE;
          if (!filemapWaitForMemory(mapping.cache, wakeOf(rd))) {
            rd.error = fsError('ENOMEM', `no folio frame free for inode ${mapping.ino} page ${rd.index}`);
            step = OUT;
            continue;
          }
          return;
        }

        case PAGE_OK: {
          folio = folio!;
          // i_size must be checked after we know the folio is uptodate.
          const isize = mapping.host.size;
          const folioPos = folio.index * PAGE_SIZE;
          const pos = rd.index * PAGE_SIZE + rd.offset;
          if (pos >= isize) {
            step = OUT;
            continue;
          }
          // As much of the folio as the request and i_size allow: for an order-0 folio the
          // rest of this page (the 4.18 loop's nr), for a large one up to its end.
          const off = pos - folioPos;
          const n = Math.min(Math.min(isize, folioPos + folio.data.byteLength) - pos, len - rd.written);

          // When a sequential read accesses a folio several times, only mark it accessed the first time.
          if (rd.prevIndex !== rd.index || rd.offset !== rd.prevOffset) folioMarkAccessed(folio);

          if ((folio.flags & PG_raunread) !== 0) {
            folio.flags &= ~PG_raunread;
            stats.c.ra_hit += folio.nrPages;
            if (folio.raOwner !== undefined) mapping.cache.raAccount?.(folio.raOwner, 'hit', folio.nrPages);
          }

          if (n === folio.data.byteLength) buf.set(folio.data, rd.written);
          else buf.set(folio.data.subarray(off, off + n), rd.written);

          // prev_index: the last page copied from; prev_offset: where the copy stopped in it
          // (masked, as 4.18 does: a read that ends on a page boundary leaves 0).
          const adv = rd.offset + n;
          rd.prevIndex = rd.index + Math.floor((adv - 1) / PAGE_SIZE);
          rd.index += Math.floor(adv / PAGE_SIZE);
          rd.offset = adv % PAGE_SIZE;
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
          rd.folio = undefined;
          rd.finished = true;
          stats.c.read_bytes += rd.written; // the vfs's counter, counted where a read ends
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
    rd.folio = undefined;
    stats.c.read_bytes += rd.written;
    rd.done(rd.written ? undefined : toFsError(err, 'read'), rd.written);
  }
}
