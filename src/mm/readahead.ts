/**
 * On-demand readahead, as in Linux v4.10–v4.18 mm/readahead.c (seed 001).
 *
 * The page loop (filemapRead) calls in at two places, exactly where the kernel does:
 *
 *   page missing           -> pageCacheSyncReadahead(index, req)       hitMarker = false
 *   page has PG_readahead  -> pageCacheAsyncReadahead(page, index, req) hitMarker = true
 *
 * Both end in ondemandReadahead, which decides the window from the five numbers of the
 * open file's file_ra_state and from what the page cache holds, then submits it:
 *
 *                        |<----- asyncSize ---------|
 *    |------------------- size -------------------->|
 *    |==================#===========================|
 *    ^start             ^page marked PG_readahead
 *
 * To overlap the application's thinking time with disk I/O, the next window is started
 * when the reader reaches the marker page at start + size - asyncSize, not when it runs
 * out of pages ("readahead pipelining"). Concurrent streams on one descriptor overwrite
 * each other's state; the marker on the page lets a stream find its way back (the
 * `marker` case), and the pages already cached let a stream with lost state be
 * recognised (the `context` case).
 *
 * Worked example (4 KiB sequential reads from offset 0, ra_pages 32):
 *   read page 0  -> sync  initial    {0,4,3}    marker on page 1
 *   read page 1  -> async sequential {4,8,8}    marker on page 4
 *   read page 4  -> async sequential {12,16,16} marker on page 12
 *   read page 12 -> async sequential {28,32,32} then {+32,32,32} at every marker
 *
 * Units: every index, size and count here is in pages (4 KiB).
 */

import { blkFinishPlug, blkStartPlug } from '../block/plug.js';
import { dbg } from '../stats/debug.js';
import { TraceEvent } from '../stats/trace.js';
import type { CounterName, Stats } from '../stats/registry.js';
import { folioTestWriteback, type Folio } from './folio.js';
import { PAGE_SHIFT, PG_raunread, PG_readahead, type PageIndex } from './page.js';
import { filemapAddFolio, type AddressSpace } from './pagecache.js';
import type { RaWindowReason } from './readahead-v6.js';
import type { FileRaState, MmFile } from './types.js';

/**
 * Why a window was chosen: the branch of ondemandReadahead that chose it (4.18), or of
 * 6.18's page_cache_sync_ra / page_cache_async_ra (RaWindowReason). The `ra` trace line
 * under 6.18 (ra-mapping.ts) says `window`, `random` or `forced`.
 */
export type RaReason = RaWindowReason | 'window';

/** Each reason's counter; they add up to ra_sync + ra_async (one per window that submitted I/O). */
const REASON_COUNTER = {
  initial: 'ra_initial',
  sequential: 'ra_sequential',
  marker: 'ra_marker',
  oversize: 'ra_oversize',
  context: 'ra_context',
  random: 'ra_random',
  forced: 'ra_forced',
} as const satisfies Record<RaWindowReason, CounterName>;

/** Count a window that submitted I/O under its reason (both kernels). */
export function countRaWindow(stats: Stats, reason: RaWindowReason): void {
  stats.c[REASON_COUNTER[reason]]++;
}

// ---------------------------------------------------------------------------------------
// Window arithmetic

/** roundup_pow_of_two(n) for n >= 1. */
function roundupPowOfTwo(n: number): number {
  let r = 1;
  while (r < n) r *= 2;
  return r;
}

/**
 * get_init_ra_size: the first window for a read of `size` pages. Round up to a power of
 * two, then x4 for small reads, x2 for medium ones, and the maximum for large ones.
 * For a 32-page maximum: 1-2 pages -> 4, 3-4 -> 8, 5-8 -> 16, more than 8 -> 32.
 */
export function getInitRaSize(size: number, max: number): number {
  const newsize = roundupPowOfTwo(size);
  if (newsize <= Math.floor(max / 32)) return newsize * 4;
  if (newsize <= Math.floor(max / 4)) return newsize * 2;
  return max;
}

/** get_next_ra_size: ramp the window up, x4 while small, x2 after, never past the maximum. */
export function getNextRaSize(cur: number, max: number): number {
  const newsize = cur < Math.floor(max / 16) ? 4 * cur : 2 * cur;
  return Math.min(newsize, max);
}

/**
 * page_cache_next_hole: the first index >= `index` with no page, scanning at most
 * `maxScan` pages; `index + maxScan` if every scanned page is cached.
 */
export function pageCacheNextHole(mapping: Pick<AddressSpace, 'pages'>, index: PageIndex, maxScan: number): PageIndex {
  for (let i = 0; i < maxScan; i++) {
    if (!mapping.pages.has(index)) break;
    index++;
  }
  return index;
}

/**
 * count_history_pages: how many pages are cached contiguously just before `offset`
 * (offset-1, offset-2, ...), at most `max`. The kernel computes it as
 * `offset - 1 - page_cache_prev_hole(offset - 1, max)`; when the scan runs past page 0
 * its index wraps to ULONG_MAX and the count comes out as `offset` (the whole file
 * before this read is cached) — we return that directly.
 */
export function countHistoryPages(mapping: Pick<AddressSpace, 'pages'>, offset: PageIndex, max: number): number {
  let index = offset - 1;
  for (let i = 0; i < max; i++) {
    if (!mapping.pages.has(index)) break;
    if (index === 0) return offset; // prev_hole wrapped below page 0
    index--;
  }
  return offset - 1 - index;
}

/**
 * try_context_readahead: no valid state, but the page cache may show a sequential stream
 * that reached `offset` (its pages are still cached just before it). If the history is
 * longer than this request, start a window here sized from the history; a history that
 * reaches back to the start of the file counts double (a whole-file read).
 */
function tryContextReadahead(mapping: Pick<AddressSpace, 'pages'>, ra: FileRaState, offset: PageIndex, reqSize: number, max: number): boolean {
  let size = countHistoryPages(mapping, offset, max);
  if (size <= reqSize) return false; // not enough history: could be a random read
  if (size >= offset) size *= 2; // starts at the beginning of the file
  ra.start = offset;
  ra.size = Math.min(size + reqSize, max);
  ra.asyncSize = 1;
  return true;
}

// ---------------------------------------------------------------------------------------
// The decision

/**
 * ondemand_readahead: choose the next window for a read of `reqSize` pages at page
 * `offset`, update `ra`, and submit it. Returns the number of pages submitted.
 *
 * Context: called from the page loop, synchronously; `hitMarker` is true when the loop
 * found PG_readahead on the page at `offset` (the async entry point).
 */
export function ondemandReadahead(
  mapping: AddressSpace,
  ra: FileRaState,
  file: MmFile,
  hitMarker: boolean,
  offset: PageIndex,
  reqSize: number,
): number {
  const { bdi, stats } = mapping.cache;
  let maxPages = ra.raPages;
  let reason: RaWindowReason;

  // If the request exceeds the readahead window, allow the read to be up to the optimal
  // hardware I/O size.
  if (reqSize > maxPages && bdi.ioPages > maxPages) maxPages = Math.min(reqSize, bdi.ioPages);

  // The kernel's two labels as labelled blocks: `break initialReadahead` is its
  // `goto initial_readahead`, `break readit` its `goto readit`.
  readit: {
    initialReadahead: {
      // Start of file.
      if (offset === 0) {
        reason = 'initial';
        break initialReadahead;
      }

      // It's the expected callback offset, assume sequential access: ramp up the size and
      // push the window forward.
      if (offset === ra.start + ra.size - ra.asyncSize || offset === ra.start + ra.size) {
        ra.start += ra.size;
        ra.size = getNextRaSize(ra.size, maxPages);
        ra.asyncSize = ra.size;
        reason = 'sequential';
        break readit;
      }

      // Hit a marked page without valid readahead state (e.g. interleaved reads). Ask the
      // page cache for the old async size: the distance to the first hole after the marker.
      if (hitMarker) {
        const start = pageCacheNextHole(mapping, offset + 1, maxPages);
        if (start - offset > maxPages) {
          stats.c.ra_marker_bail++; // no hole within reach: the window is still ahead of us
          return 0;
        }
        ra.start = start;
        ra.size = getNextRaSize(start - offset + reqSize, maxPages);
        ra.asyncSize = ra.size;
        reason = 'marker';
        break readit;
      }

      // Oversize read.
      if (reqSize > maxPages) {
        reason = 'oversize';
        break initialReadahead;
      }

      // Sequential cache miss: this read starts on the page where the previous one ended
      // (unaligned reads) or on the next one. A fresh file (prevPos -1) is never sequential
      // here, as the kernel's unsigned arithmetic makes it.
      if (ra.prevPos >= 0) {
        const delta = offset - Math.floor(ra.prevPos / 2 ** PAGE_SHIFT);
        if (delta === 0 || delta === 1) {
          reason = 'initial';
          break initialReadahead;
        }
      }

      // Look for the traces (cached history pages) a sequential stream leaves behind.
      if (tryContextReadahead(mapping, ra, offset, reqSize, maxPages)) {
        reason = 'context';
        break readit;
      }

      // Standalone, small random read: read as is, and do not pollute the readahead state.
      return doPageCacheReadahead(mapping, file, offset, reqSize, 0, offset, reqSize, () => {
        announce(mapping, file, hitMarker, offset, reqSize, { start: offset, size: reqSize, asyncSize: 0 }, 'random');
      });
    }

    // initial_readahead:
    ra.start = offset;
    ra.size = getInitRaSize(reqSize, maxPages);
    ra.asyncSize = ra.size > reqSize ? ra.size - reqSize : ra.size;
  }

  // readit: will this read hit the marker of the window it just set up (a window that is
  // all async, starting right here)? Then trigger that hit now and merge the next window
  // into this one (v4.10–v4.18: the merged size is not capped at the maximum).
  if (offset === ra.start && ra.size === ra.asyncSize) {
    ra.asyncSize = getNextRaSize(ra.size, maxPages);
    ra.size += ra.asyncSize;
  }
  // ra_submit
  return doPageCacheReadahead(mapping, file, ra.start, ra.size, ra.asyncSize, offset, reqSize, () =>
    announce(mapping, file, hitMarker, offset, reqSize, ra, reason),
  );
}

/**
 * Count a decision that submits I/O and trace it: called once, just before the first
 * batch of its window goes to the block layer, so the `ra` line precedes its `bio` lines.
 */
function announce(
  mapping: AddressSpace,
  file: MmFile,
  hitMarker: boolean,
  index: PageIndex,
  reqSize: number,
  win: { start: number; size: number; asyncSize: number },
  reason: RaWindowReason,
): void {
  const { stats, trace } = mapping.cache;
  if (dbg.ra.enabled) dbg.ra('%s ino=%d index=%d req=%d -> {%d,%d,%d} %s', hitMarker ? 'async' : 'sync', mapping.ino, index, reqSize, win.start, win.size, win.asyncSize, reason);
  if (hitMarker) stats.c.ra_async++;
  else stats.c.ra_sync++;
  countRaWindow(stats, reason);
  if (trace.enabled) {
    trace.emit(TraceEvent.ra, hitMarker ? 'async' : 'sync', mapping.ino, file.fh, index, reqSize, win.start, win.size, win.asyncSize, 0, reason);
  }
}

// ---------------------------------------------------------------------------------------
// Submission

/**
 * __do_page_cache_readahead: bring pages [start, start + nrToRead) into the cache.
 * Stops at the EOF page; skips pages already cached, submitting the contiguous batch
 * gathered so far when one interrupts it; allocates the rest (locked, in the cache);
 * marks the page at position `nrToRead - lookaheadSize` of the window PG_readahead if it
 * is newly allocated. Pages outside the caller's own request [reqIndex, reqIndex+reqSize)
 * are flagged PG_raunread, so that ra_hit / ra_wasted can tell whether reading ahead paid.
 * `onFirstSubmit` runs once, before the first batch is submitted (not at all when every
 * page was cached). Returns the number of pages submitted.
 */
export function doPageCacheReadahead(
  mapping: AddressSpace,
  file: MmFile,
  start: PageIndex,
  nrToRead: number,
  lookaheadSize: number,
  reqIndex: PageIndex = start,
  reqSize: number = nrToRead,
  onFirstSubmit?: () => void,
): number {
  const isize = mapping.host.size;
  if (isize === 0) return 0;
  const endIndex = Math.floor((isize - 1) / 2 ** PAGE_SHIFT);
  const reqEnd = reqIndex + reqSize;

  let batch: Folio[] = [];
  let submitted = 0;
  const submit = (): void => {
    if (submitted === 0) onFirstSubmit?.();
    readPages(mapping, batch);
    submitted += batch.length;
    mapping.cache.stats.c.ra_pages += batch.length;
    mapping.cache.raAccount?.(file.fh, 'submitted', batch.length);
    batch = [];
  };
  for (let pageIdx = 0; pageIdx < nrToRead; pageIdx++) {
    const index = start + pageIdx;
    if (index > endIndex) break;
    if (mapping.pages.has(index)) {
      // Page already present? Kick off the current batch of contiguous pages before
      // continuing with the next batch.
      if (batch.length) submit();
      continue;
    }
    const added = filemapAddFolio(mapping, index, 0); // the 4.18 path: order-0 folios only
    if (added.kind !== 'added') break; // no frame to be had: submit what we have
    const folio = added.folio;
    if (pageIdx === nrToRead - lookaheadSize) folio.set(PG_readahead);
    if (index < reqIndex || index >= reqEnd) {
      folio.set(PG_raunread);
      folio.raOwner = file.fh;
    }
    batch.push(folio);
  }
  if (batch.length) submit();
  return submitted;
}

/**
 * read_pages: start I/O for a batch of new, locked, contiguous folios inside a plug. With
 * the filesystem's multi-folio `readahead` (and the `readpages` tunable on) the filesystem
 * builds one bio per contiguous device run; otherwise `readFolio` is called once per folio
 * and the plug merges the bios.
 */
export function readPages(mapping: AddressSpace, folios: Folio[]): void {
  const plug = blkStartPlug();
  try {
    const { aops } = mapping;
    if (aops.readahead && mapping.cache.useReadahead) {
      aops.readahead(mapping, folios);
    } else {
      for (const folio of folios) aops.readFolio(mapping, folio);
    }
  } finally {
    blkFinishPlug(plug);
  }
}

// ---------------------------------------------------------------------------------------
// Entry points from the page loop

/**
 * page_cache_sync_readahead: the page at `index` is missing. Read it, and as much more
 * as the access pattern suggests.
 */
export function pageCacheSyncReadahead(mapping: AddressSpace, ra: FileRaState, file: MmFile, index: PageIndex, reqSize: number): void {
  if (!ra.raPages) return; // no readahead
  ondemandReadahead(mapping, ra, file, false, index, reqSize);
}

/**
 * page_cache_async_readahead: the reader reached a page marked PG_readahead: start the
 * next window before it is needed.
 *
 * Context: `folio` holds the page at `index`, found in the cache by the page loop.
 */
export function pageCacheAsyncReadahead(
  mapping: AddressSpace,
  ra: FileRaState,
  file: MmFile,
  folio: Folio,
  index: PageIndex,
  reqSize: number,
): void {
  if (!ra.raPages) return;
  if (folioTestWriteback(folio)) return; // the kernel shares the bit with PG_reclaim
  folio.clear(PG_readahead);
  // Defer asynchronous readahead on I/O congestion: the marker is gone, so the reader
  // will come back through the sync path (sequential cache miss) when it needs the pages.
  if (mapping.cache.bdi.readCongested()) {
    mapping.cache.stats.c.ra_congested++;
    return;
  }
  ondemandReadahead(mapping, ra, file, true, index, reqSize);
}

/**
 * shrink_readahead_size_eio: a read error on this open file divides its ra_pages by 4,
 * so that a failing area is not hammered with large windows.
 */
export function shrinkReadaheadSizeEio(ra: FileRaState, stats: Stats): void {
  ra.raPages = Math.floor(ra.raPages / 4);
  stats.c.ra_eio_shrink++;
}
