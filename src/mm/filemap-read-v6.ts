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
 *   OUT:  ra.prevPos = last_pos (a byte position); read_bytes += written (the vfs's counter,
 *         kept here so that vfs.read wraps no callback); done(written ? undefined : error)
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
 * everything is cached and uptodate, `done` runs before filemapReadV6 returns: no Promise
 * and no allocation (the ReadIocb and its batch are reused, a page-aligned copy inside a
 * large folio copies from the arena's cached page views).
 */

import { fsError, toFsError, type FsError } from '../errors.js';
import type { Folio } from './folio.js';
import type { ReadDone } from './filemap-read.js';
import { folioMarkAccessed } from './lru.js';
import { PAGE_SIZE, PG_locked, PG_raunread, PG_readahead, PG_uptodate } from './page.js';
import { filemapAddFolio, filemapReadFolio, filemapWaitForMemory, type AddressSpace, type PageCache } from './pagecache.js';
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

/**
 * The kiocb and filemap_read's locals. Invariant: `folio` is set when resumeAt is
 * UPDATE_* or CREATE_READ; batch[0, nr) is the folio_batch (entries from nr on are stale: never read, they
 * may hold folios already removed from the cache, which only keeps the objects alive).
 *
 * Reused: a finished read gives its iocb back (`spareIocb`) and the next read takes it,
 * so a cached read allocates nothing. `gen` counts the reads an iocb has served; a loop
 * that catches an error checks it to tell its own read from a later one (see OUT).
 */
class ReadIocbV6 {
  mapping!: AddressSpace;
  file!: MmFileV6;
  buf!: Uint8Array;
  done!: ReadDone;
  /** ki_pos. */
  pos = 0;
  /** iov_iter_count: bytes still wanted. */
  count = 0;
  /** already_read. */
  written = 0;
  /** last_pos: where the last copy ended (starts as ra->prev_pos). */
  lastPos = 0;
  /** The folio_batch: folios batch[0, nr). */
  readonly batch: (Folio | undefined)[] = new Array<Folio | undefined>(FOLIO_BATCH).fill(undefined);
  nr = 0;
  error: FsError | undefined = undefined;
  waited = false;
  finished = false;
  folio: Folio | undefined = undefined;
  resumeAt: Step = GET_PAGES;
  /** The wait callback: made on the first wait, kept across reuses (it reads rd's state). */
  wake: (() => void) | undefined = undefined;
  /** First page and one past the last page of the whole request (for PG_raunread). */
  reqIndex = 0;
  reqEnd = 0;
  /** Pages of the read below this index are counted in pgcache_hit / _wait / _miss already. */
  countedTo = 0;
  gen = 0;

  init(mapping: AddressSpace, file: MmFileV6, buf: Uint8Array, pos: number, len: number, done: ReadDone): this {
    this.mapping = mapping;
    this.file = file;
    this.buf = buf;
    this.done = done;
    this.pos = pos;
    this.count = len;
    this.written = 0;
    this.lastPos = file.ra.prevPos;
    this.nr = 0;
    this.error = undefined;
    this.waited = false;
    this.finished = false;
    this.folio = undefined;
    this.resumeAt = GET_PAGES;
    this.reqIndex = Math.floor(pos / PAGE_SIZE);
    this.reqEnd = Math.ceil((pos + len) / PAGE_SIZE);
    this.countedTo = this.reqIndex;
    this.gen++;
    return this;
  }
}

/** A finished iocb for the next read (one is enough: a read in flight holds its own). */
let spareIocb: ReadIocbV6 | undefined;

/** The read is over: drop its references and make the iocb the spare. */
function releaseIocb(rd: ReadIocbV6): void {
  rd.finished = true;
  rd.folio = undefined;
  rd.nr = 0;
  spareIocb = rd;
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
  let rd = spareIocb;
  if (rd === undefined) rd = new ReadIocbV6();
  else spareIocb = undefined;
  filemapReadLoop(rd.init(mapping, file, buf, pos, len, done), GET_PAGES);
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
  const pages = mapping.pages;
  let nr = 0;
  let at = index;
  while (at <= max && nr < FOLIO_BATCH) {
    const folio = pages.get(at);
    if (folio === undefined) break;
    batch[nr++] = folio;
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
  rd.nr = nr;
}

/** Page-aligned copies of at most this many pages use the cached frame views. */
const COPY_BY_PAGE_MAX = 8;

/**
 * copy_folio_to_iter: bytes [offset, offset + bytes) of the folio to buf at `at`. The
 * whole folio is one set(); a page-aligned part of up to COPY_BY_PAGE_MAX pages is one
 * set() per page from the arena's cached order-0 views (a 4 KiB read inside a large folio
 * allocates nothing); anything else takes a subarray (one small allocation).
 */
function copyFromFolio(cache: PageCache, folio: Folio, offset: number, bytes: number, buf: Uint8Array, at: number): void {
  const data = folio.data;
  if (bytes === data.byteLength) {
    buf.set(data, at);
    return;
  }
  if (((offset | bytes) & (PAGE_SIZE - 1)) === 0 && bytes <= COPY_BY_PAGE_MAX * PAGE_SIZE) {
    const frames = cache.frames;
    let frame = folio.frame + offset / PAGE_SIZE;
    for (let done = 0; done < bytes; done += PAGE_SIZE) buf.set(frames.frameView(frame++), at + done);
    return;
  }
  buf.set(data.subarray(offset, offset + bytes), at);
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
  for (let i = 0; i < rd.nr; i++) {
    if (batch[i]!.mapping === undefined) {
      rd.nr = i;
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
  const gen = rd.gen;
  let calledDone = false;
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
          if (rd.nr === 0) {
            if (index >= rd.countedTo) stats.c.pgcache_miss += countPages(rd, index + 1, index);
            if (readahead) {
              const ra = new AddressSpaceRa(mapping, file, 'sync', index, lastIndex - index, rd.reqIndex, rd.reqEnd);
              pageCacheSyncRa(readaheadCtl(rd, ra, index), lastIndex - index);
              getReadBatch(rd, index, lastIndex - 1);
            }
          }
          if (rd.nr === 0) {
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
          let last = batch[rd.nr - 1]!;
          if (last.has(PG_readahead) && readahead) {
            // filemap_readahead
            const ra = new AddressSpaceRa(mapping, file, 'async', last.index, lastIndex - last.index, rd.reqIndex, rd.reqEnd);
            pageCacheAsyncRa(readaheadCtl(rd, ra, last.index), last, lastIndex - last.index);
            revalidateBatch(rd); // readahead's allocations may have reclaimed some
            if (rd.nr === 0) continue;
            last = batch[rd.nr - 1]!;
          }
          if (!last.has(PG_uptodate)) {
            // filemap_update_page
            if (!folioTrylock(last)) {
              waitUnlocked(rd, last, UPDATE_WAITED); // usually a readahead in flight
              return;
            }
            if (last.mapping === undefined) {
              folioUnlock(last);
              batch[--rd.nr] = undefined;
              step = rd.nr ? COPY : GET_PAGES;
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
          batch[--rd.nr] = undefined;
          revalidateBatch(rd);
          step = rd.nr ? COPY : GET_PAGES;
          continue;
        }

        case UPDATE_READ: {
          const folio = rd.folio!;
          rd.folio = undefined;
          revalidateBatch(rd);
          if (batch[rd.nr - 1] !== folio) {
            step = rd.nr ? COPY : GET_PAGES; // it (or one before it) was removed meanwhile
            continue;
          }
          if (!folio.has(PG_uptodate)) {
            const err = readFolioError(rd, folio);
            batch[--rd.nr] = undefined;
            if (rd.nr) {
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
          batch[0] = folio;
          rd.nr = 1;
          step = COPY;
          continue;
        }

        case COPY: {
          const isize = mapping.host.size;
          if (rd.pos >= isize) {
            rd.nr = 0;
            step = OUT;
            continue;
          }
          const endOffset = Math.min(isize, rd.pos + rd.count);
          for (let i = 0; i < rd.nr; i++) {
            const folio = batch[i]!;
            if (folio.mapping === undefined) break; // reclaimed while we waited: look again
            const fsize = folio.data.byteLength;
            const folioPos = folio.index * PAGE_SIZE;
            if (endOffset < folioPos) break;
            const offset = rd.pos - folioPos;
            const bytes = Math.min(endOffset - rd.pos, fsize - offset);
            // pos_same_folio(ki_pos, last_pos - 1, folio) for the first (ki_pos is inside
            // it, so: is last_pos - 1 inside it too); every later one.
            const prev = rd.lastPos - 1;
            if (i > 0 || prev < folioPos || prev >= folioPos + fsize) folioMarkAccessed(folio);
            if ((folio.flags & PG_raunread) !== 0) {
              folio.flags &= ~PG_raunread;
              stats.c.ra_hit += folio.nrPages;
              if (folio.raOwner !== undefined) cache.raAccount?.(folio.raOwner, 'hit', folio.nrPages);
            }
            copyFromFolio(cache, folio, offset, bytes, rd.buf, rd.written);
            rd.pos += bytes;
            rd.count -= bytes;
            rd.written += bytes;
            rd.lastPos = rd.pos;
          }
          rd.nr = 0;
          step = rd.count > 0 && rd.pos < isize && rd.error === undefined ? GET_PAGES : OUT;
          continue;
        }

        case OUT: {
          file.ra.prevPos = rd.lastPos;
          const { done, written, error } = rd;
          releaseIocb(rd); // before done: a read started from done may take it
          stats.c.read_bytes += written; // the vfs's counter, counted where a read ends
          calledDone = true;
          done(written ? undefined : error, written);
          return;
        }

        default: {
          const never: never = step;
          throw new Error(`filemapReadV6: bad state ${String(never)}`);
        }
      }
    }
  } catch (err) {
    // Thrown by done (or by a read that done started), or after this read was finished and
    // its iocb reused by a wake-up that re-entered the loop: not ours to end.
    if (calledDone || rd.finished || rd.gen !== gen) throw err;
    const { done, written } = rd;
    releaseIocb(rd);
    stats.c.read_bytes += written;
    done(written ? undefined : toFsError(err, 'read'), written);
  }
}
