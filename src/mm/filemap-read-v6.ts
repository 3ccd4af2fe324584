/**
 * The buffered read loop of Linux 6.18 (mm/filemap.c: filemap_read, filemap_get_pages,
 * filemap_get_read_batch, filemap_readahead, filemap_update_page, filemap_create_folio,
 * filemap_read_folio) over the folio page cache, with 6.18 readahead (readahead-v6.ts)
 * reached through AddressSpaceRa (ra-mapping.ts). The 4.18 loop is filemap-read.ts; a
 * mount chooses one (`--kernel`).
 *
 * One call reads [pos, pos + len) of a file. Each turn of filemap_read's loop gets a
 * batch of folios (filemap_get_pages) and copies from them:
 *
 *   GET_PAGES: batch = folios from index, up to 31, ending at the first one that is not
 *      │       uptodate or carries PG_readahead
 *      ├─ empty: page_cache_sync_ra, batch again
 *      ├─ still empty: filemap_create_folio (one min-order folio, read_folio) ─> CREATE_READ
 *      ├─ last has PG_readahead: page_cache_async_ra (filemap_readahead)
 *      └─ last not uptodate: filemap_update_page
 *            trylock fails (I/O in flight): wait for the unlock ─> UPDATE_WAITED: drop it
 *                                           (AOP_TRUNCATED_PAGE); copy the rest, or look again
 *            locked, still not uptodate: read_folio, wait ─> UPDATE_READ
 *   COPY: as much of each folio as the request and i_size allow (one copy per folio);
 *         folio_mark_accessed on the first folio unless the last read ended in it
 *   OUT:  ra.prevPos = last_pos (a byte position); done(written ? undefined : error)
 *
 * Errors (6.18 has no PG_error in this path): a folio whose readahead I/O failed is left
 * unlocked and not uptodate; a reader that waited for it drops it and looks again, finds
 * it not uptodate, locks it and reads it once more with read_folio. If that read fails
 * too, filemap_read_folio shrinks the file's ra_pages by 4 (shrink_readahead_size_eio is
 * still in 6.18, but only here: readahead's own failures do not shrink) and the read gets
 * EIO, or the bytes of the folios before it. 4.18 instead gives every waiter EIO at once.
 *
 * Memory: readahead allocates large folios and falls back to smaller ones inside
 * readahead-v6 (page_cache_ra_order, then order 0); filemap_create_folio needs one
 * min-order folio and, when even that cannot be had because everything is pinned, waits
 * for a pinned folio to be released (the kernel would reclaim and block).
 *
 * No refcount (folio.ts): the folios of a batch are checked (`folio.mapping`) before they
 * are copied, after anything that may have reclaimed them (readahead's allocations, a
 * wait); copying stops at the first one gone and the loop looks again from there.
 *
 * The loop never blocks: a wait queues a callback that re-enters at the saved step. When
 * everything is cached and uptodate, `done` runs before filemapReadV6 returns: no Promise,
 * one ReadIocb and one batch array per call, no allocation per folio.
 */

import { fsError, toFsError, type FsError } from '../errors.js';
import type { Folio } from './folio.js';
import type { ReadDone } from './filemap-read.js';
import { folioMarkAccessed } from './lru.js';
import { PAGE_SIZE, PG_locked, PG_raunread, PG_readahead, PG_uptodate } from './page.js';
import { filemapAddFolio, filemapReadFolio, filemapWaitForMemory, type AddressSpace } from './pagecache.js';
import { AddressSpaceRa, type MmFileV6 } from './ra-mapping.js';
import { pageCacheAsyncRa, pageCacheSyncRa, readaheadControl, shrinkReadaheadSizeEio618 } from './readahead-v6.js';
import { __folioWaitBitAsyncSlow, folioTrylock, folioUnlock } from './wait.js';

/** PAGEVEC_SIZE: a folio_batch holds at most 31 folios. */
const FOLIO_BATCH = 31;

const GET_PAGES = 0;
/** filemap_update_page waited for the last folio's unlock (folio_put_wait_locked). */
const UPDATE_WAITED = 1;
/** filemap_update_page's read_folio of the last folio finished (filemap_read_folio). */
const UPDATE_READ = 2;
/** filemap_create_folio's read_folio finished. */
const CREATE_READ = 3;
const COPY = 4;
const OUT = 5;
type Step = typeof GET_PAGES | typeof UPDATE_WAITED | typeof UPDATE_READ | typeof CREATE_READ | typeof COPY | typeof OUT;

/** The kiocb and filemap_read's locals. Invariant: `folio` is set when resumeAt is UPDATE_* or CREATE_READ. */
class ReadIocbV6 {
  /** ki_pos. */
  pos: number;
  /** iov_iter_count: bytes still wanted. */
  count: number;
  /** already_read. */
  written = 0;
  /** last_pos: where the last copy ended (starts as ra->prev_pos). */
  lastPos: number;
  /** The folio_batch (reused each turn). */
  readonly batch: Folio[] = [];
  error: FsError | undefined = undefined;
  waited = false;
  finished = false;
  folio: Folio | undefined = undefined;
  resumeAt: Step = GET_PAGES;
  wake: (() => void) | undefined = undefined;
  /** First page and one past the last page of the whole request (for PG_raunread). */
  readonly reqIndex: number;
  readonly reqEnd: number;
  /** Pages of the read below this index are counted in pgcache_hit / _wait / _miss already. */
  countedTo: number;

  constructor(
    readonly mapping: AddressSpace,
    readonly file: MmFileV6,
    readonly buf: Uint8Array,
    pos: number,
    len: number,
    readonly done: ReadDone,
  ) {
    this.pos = pos;
    this.count = len;
    this.lastPos = file.ra.prevPos;
    this.reqIndex = Math.floor(pos / PAGE_SIZE);
    this.reqEnd = Math.ceil((pos + len) / PAGE_SIZE);
    this.countedTo = this.reqIndex;
  }
}

/**
 * Read [pos, pos + len) into buf[0, len) the 6.18 way; call `done(err, bytes)` exactly
 * once (see filemapRead for the contract: synchronous when all is cached).
 */
export function filemapReadV6(mapping: AddressSpace, file: MmFileV6, buf: Uint8Array, pos: number, len: number, done: ReadDone): void {
  if (!Number.isSafeInteger(pos) || pos < 0 || !Number.isSafeInteger(len) || len < 0 || len > buf.length) {
    done(fsError('EINVAL', `read of ${len} bytes at ${pos} into a ${buf.length}-byte buffer`), 0);
    return;
  }
  if (len === 0) {
    done(undefined, 0); // filemap_read: !iov_iter_count -> 0, prev_pos untouched
    return;
  }
  filemapReadLoop(new ReadIocbV6(mapping, file, buf, pos, len, done), GET_PAGES);
}

/** filemapReadV6 as a Promise. */
export function filemapReadV6Async(mapping: AddressSpace, file: MmFileV6, buf: Uint8Array, pos: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => {
    filemapReadV6(mapping, file, buf, pos, len, (err, bytes) => (err ? reject(err) : resolve(bytes)));
  });
}

/**
 * filemap_get_read_batch (6.18): folios from `index` to `max`, at most 31, stopping after
 * one that is not uptodate or has PG_readahead. Counts the pages of the read each folio
 * holds: uptodate ones as hits, others (their read in flight) as waits.
 */
function getReadBatch(rd: ReadIocbV6, index: number, max: number): void {
  const { mapping, batch } = rd;
  const { stats } = mapping.cache;
  batch.length = 0;
  let at = index;
  while (at <= max && batch.length < FOLIO_BATCH) {
    const folio = mapping.pages.get(at);
    if (folio === undefined) break;
    batch.push(folio);
    if ((folio.flags & (PG_uptodate | PG_readahead)) !== PG_uptodate) {
      if (folio.nextIndex > rd.countedTo) {
        if (folio.flags & PG_uptodate) stats.c.pgcache_hit += countPages(rd, folio.nextIndex, max);
        else stats.c.pgcache_wait += countPages(rd, folio.nextIndex, max);
      }
      break;
    }
    if (folio.nextIndex > rd.countedTo) stats.c.pgcache_hit += countPages(rd, folio.nextIndex, max);
    at = folio.nextIndex;
  }
}

/**
 * Pages of the read from rd.countedTo up to `end` (and at most to `max` and EOF) not
 * counted yet: each page is counted once, as the loop first found it, so that
 * pgcache_hit + _wait + _miss = the pages the reads covered (below EOF).
 */
function countPages(rd: ReadIocbV6, end: number, max: number): number {
  const to = Math.min(end, max + 1, Math.ceil(rd.mapping.host.size / PAGE_SIZE));
  const n = Math.max(0, to - rd.countedTo);
  rd.countedTo = Math.max(rd.countedTo, to);
  return n;
}

/** Drop the folios of the batch from the first one reclaimed or truncated (no refcount). */
function revalidateBatch(rd: ReadIocbV6): void {
  const { batch } = rd;
  for (let i = 0; i < batch.length; i++) {
    if (batch[i]!.mapping === undefined) {
      batch.length = i;
      return;
    }
  }
}

function noteWait(rd: ReadIocbV6): void {
  if (!rd.waited) {
    rd.waited = true;
    rd.mapping.cache.stats.c.page_waits++;
  }
}

/** Leave the loop until `folio` is unlocked; the wake-up resumes at `resumeAt`. */
function waitUnlocked(rd: ReadIocbV6, folio: Folio, resumeAt: Step): void {
  noteWait(rd);
  rd.folio = folio;
  rd.resumeAt = resumeAt;
  __folioWaitBitAsyncSlow(folio, PG_locked, (rd.wake ??= () => filemapReadLoop(rd, rd.resumeAt)));
}

/** filemap_read_folio's failure: shrink_readahead_size_eio, -EIO. */
function readFolioError(rd: ReadIocbV6, folio: Folio): FsError {
  shrinkReadaheadSizeEio618(rd.file.ra);
  rd.mapping.cache.stats.c.ra_eio_shrink++;
  return fsError('EIO', `read error at page ${folio.index} of inode ${rd.mapping.ino}`);
}

function readaheadCtl(rd: ReadIocbV6, ra: AddressSpaceRa, index: number) {
  const { cache } = rd.mapping;
  return readaheadControl({ mapping: ra, ra: rd.file.ra, file: { random: false }, ioPages: cache.bdi.ioPages, trace: cache.trace, index });
}

/**
 * filemap_read's loop with filemap_get_pages inlined. Returns when the read finished
 * (done called) or is waiting.
 */
function filemapReadLoop(rd: ReadIocbV6, entry: Step): void {
  const { mapping, file, batch } = rd;
  const { cache } = mapping;
  const stats = cache.stats;
  const readahead = cache.raPolicy !== 'none';
  let step: Step = entry;
  try {
    for (;;) {
      switch (step) {
        case GET_PAGES: {
          if (rd.pos >= mapping.host.size) {
            step = OUT;
            continue;
          }
          const index = Math.floor(rd.pos / PAGE_SIZE);
          const lastIndex = Math.ceil((rd.pos + rd.count) / PAGE_SIZE); // the page beyond the read
          getReadBatch(rd, index, lastIndex - 1);
          if (batch.length === 0) {
            if (index >= rd.countedTo) stats.c.pgcache_miss += countPages(rd, index + 1, index);
            if (readahead) {
              const ra = new AddressSpaceRa(mapping, file, 'sync', index, lastIndex - index, rd.reqIndex, rd.reqEnd);
              pageCacheSyncRa(readaheadCtl(rd, ra, index), lastIndex - index);
              getReadBatch(rd, index, lastIndex - 1);
            }
          }
          if (batch.length === 0) {
            // filemap_create_folio: one min-order folio at the index, read with read_folio.
            const at = index - (index % (1 << mapping.minOrder));
            const added = filemapAddFolio(mapping, at, mapping.minOrder);
            if (added.kind === 'exists') continue; // AOP_TRUNCATED_PAGE: look again
            if (added.kind === 'nomem') {
              noteWait(rd);
              rd.folio = undefined;
              rd.resumeAt = GET_PAGES;
              if (!filemapWaitForMemory(cache, (rd.wake ??= () => filemapReadLoop(rd, rd.resumeAt)))) {
                rd.error = fsError('ENOMEM', `no folio frame free for inode ${mapping.ino} page ${index}`);
                step = OUT;
                continue;
              }
              return;
            }
            const folio = added.folio;
            filemapReadFolio(mapping, folio);
            if (folio.has(PG_locked)) {
              waitUnlocked(rd, folio, CREATE_READ);
              return;
            }
            rd.folio = folio;
            step = CREATE_READ;
            continue;
          }
          let last = batch[batch.length - 1]!;
          if (last.has(PG_readahead) && readahead) {
            // filemap_readahead
            const ra = new AddressSpaceRa(mapping, file, 'async', last.index, lastIndex - last.index, rd.reqIndex, rd.reqEnd);
            pageCacheAsyncRa(readaheadCtl(rd, ra, last.index), last, lastIndex - last.index);
            revalidateBatch(rd); // readahead's allocations may have reclaimed some
            if (batch.length === 0) continue;
            last = batch[batch.length - 1]!;
          }
          if (!last.has(PG_uptodate)) {
            // filemap_update_page
            if (!folioTrylock(last)) {
              waitUnlocked(rd, last, UPDATE_WAITED); // usually a readahead in flight
              return;
            }
            if (last.mapping === undefined) {
              folioUnlock(last);
              batch.pop();
              step = batch.length ? COPY : GET_PAGES;
              continue;
            }
            if (last.has(PG_uptodate)) {
              folioUnlock(last);
              step = COPY;
              continue;
            }
            filemapReadFolio(mapping, last);
            if (last.has(PG_locked)) {
              waitUnlocked(rd, last, UPDATE_READ);
              return;
            }
            rd.folio = last;
            step = UPDATE_READ;
            continue;
          }
          step = COPY;
          continue;
        }

        case UPDATE_WAITED: {
          // AOP_TRUNCATED_PAGE: the folio we waited for leaves the batch.
          rd.folio = undefined;
          batch.pop();
          revalidateBatch(rd);
          step = batch.length ? COPY : GET_PAGES;
          continue;
        }

        case UPDATE_READ: {
          const folio = rd.folio!;
          rd.folio = undefined;
          revalidateBatch(rd);
          if (batch[batch.length - 1] !== folio) {
            step = batch.length ? COPY : GET_PAGES; // it (or one before it) was removed meanwhile
            continue;
          }
          if (!folio.has(PG_uptodate)) {
            const err = readFolioError(rd, folio);
            batch.pop();
            if (batch.length) {
              step = COPY; // the folios before it are read; the next turn meets the error
              continue;
            }
            rd.error = err;
            step = OUT;
            continue;
          }
          step = COPY;
          continue;
        }

        case CREATE_READ: {
          const folio = rd.folio!;
          rd.folio = undefined;
          if (folio.mapping === undefined) {
            step = GET_PAGES;
            continue;
          }
          if (!folio.has(PG_uptodate)) {
            rd.error = readFolioError(rd, folio);
            step = OUT;
            continue;
          }
          batch.length = 0;
          batch.push(folio);
          step = COPY;
          continue;
        }

        case COPY: {
          const isize = mapping.host.size;
          if (rd.pos >= isize) {
            batch.length = 0;
            step = OUT;
            continue;
          }
          const endOffset = Math.min(isize, rd.pos + rd.count);
          for (let i = 0; i < batch.length; i++) {
            const folio = batch[i]!;
            if (folio.mapping === undefined) break; // reclaimed while we waited: look again
            const fsize = folio.data.byteLength;
            const folioPos = folio.index * PAGE_SIZE;
            if (endOffset < folioPos) break;
            const offset = rd.pos - folioPos;
            const bytes = Math.min(endOffset - rd.pos, fsize - offset);
            // pos_same_folio(ki_pos, last_pos - 1, folio) for the first; every later one.
            if (i > 0 || Math.floor(rd.pos / fsize) !== Math.floor((rd.lastPos - 1) / fsize)) folioMarkAccessed(folio);
            if ((folio.flags & PG_raunread) !== 0) {
              folio.flags &= ~PG_raunread;
              stats.c.ra_hit += folio.nrPages;
              if (folio.raOwner !== undefined) cache.raAccount?.(folio.raOwner, 'hit', folio.nrPages);
            }
            if (bytes === fsize) rd.buf.set(folio.data, rd.written);
            else rd.buf.set(folio.data.subarray(offset, offset + bytes), rd.written);
            rd.pos += bytes;
            rd.count -= bytes;
            rd.written += bytes;
            rd.lastPos = rd.pos;
          }
          batch.length = 0;
          step = rd.count > 0 && rd.pos < isize && rd.error === undefined ? GET_PAGES : OUT;
          continue;
        }

        case OUT: {
          file.ra.prevPos = rd.lastPos;
          rd.folio = undefined;
          batch.length = 0;
          rd.finished = true;
          rd.done(rd.written ? undefined : rd.error, rd.written);
          return;
        }

        default: {
          const never: never = step;
          throw new Error(`filemapReadV6: bad state ${String(never)}`);
        }
      }
    }
  } catch (err) {
    if (rd.finished) throw err;
    rd.finished = true;
    rd.folio = undefined;
    rd.done(rd.written ? undefined : toFsError(err, 'read'), rd.written);
  }
}
