/**
 * Readahead as in Linux 6.18 mm/readahead.c (after Jan Kara's v6.11 rework and Ryan
 * Roberts' 2025 `ra->order` series), over any page cache that implements `RaMapping`.
 *
 * The read loop (6.18 mm/filemap.c filemap_get_pages) calls in at two places:
 *
 *   no folio at index                 -> pageCacheSyncRa(ractl@index, reqCount)
 *   last folio of the batch has       -> pageCacheAsyncRa(ractl@folio.index, folio, reqCount)
 *   PG_readahead
 *
 * and both end in pageCacheRaOrder, which allocates the window as large folios:
 *
 *   sync:  {start, size, async} from the request (start of file, oversize, sequential miss:
 *          get_init_ra_size) or from the cached history before index (context); ra.order = 0
 *   async: the marker was expected -> start += size, size ramps (x4 / x2 / max); otherwise
 *          the window is rebuilt from the next hole after index. ra.order += 2, and the
 *          window's end is rounded down to a multiple of 2^min(order, ctz(max_pages)).
 *   order: folios of order min(ra.order, maxOrder, ilog2(size)), smaller where the index is
 *          not aligned or the folio would pass the window/EOF; PG_readahead on the folio
 *          holding start + size - async. A failed allocation or a folio already present
 *          stops it; the rest of the window goes page by page (pageCacheRaUnbounded).
 *
 * Differences from 4.18 (src/mm/readahead.ts): no merge of the next window into a sync
 * one, no congestion check, a sync miss never continues a ramp (only start of file,
 * oversize, prev_pos within one page, or cached history), the marker case adds the
 * request to the old async size, windows end on folio boundaries, and random reads go
 * through page_cache_ra_unbounded (so they are traced).
 *
 * Tracepoints (include/trace/events/readahead.h) are emitted where 6.18 calls them, with
 * the state the kernel prints there, in its format (ino in hex, as `%lx`):
 *   page_cache_sync_ra / page_cache_async_ra   on entry, before the state changes
 *   page_cache_ra_order                        on entry, after sync/async set the window
 *   page_cache_ra_unbounded                    on entry, before the index is aligned
 *
 * Units: indexes, sizes and counts are pages (4 KiB).
 *
 * Glue for the folio page cache (pagecache.ts): `folioAt` is filemapGetFolio with the
 * folio's flags read as booleans; `addFolio` is filemapAddFolio (its `kind` is RaAddResult)
 * plus PG_readahead when asked and the new folio appended to a pending batch; `readPages`
 * hands that batch to read_pages (aops.readahead inside a plug) and empties it.
 */

import { PAGE_SHIFT } from './page.js';
import type { FileRaState } from './types.js';
import { TraceEvent, type TraceSink } from '../stats/trace.js';

// ---------------------------------------------------------------------------------------
// The contract with the page cache

/** A read-only view of one folio: 2^order pages from `index` (aligned to 2^order). */
export interface RaFolio {
  /** First page index (a multiple of 2^order). */
  readonly index: number;
  readonly order: number;
  readonly uptodate: boolean;
  /** PG_readahead. */
  readonly readahead: boolean;
  /** PG_writeback (the kernel shares the bit with PG_reclaim, hence the check). */
  readonly writeback: boolean;
}

/** filemap_add_folio's outcome, plus "could not allocate" (filemap_alloc_folio NULL). */
export type RaAddResult = 'added' | 'nomem' | 'exists';

/**
 * What 6.18 readahead needs from an address_space: lookups by any index, i_size, the
 * folio orders the mapping allows, and "allocate and add a locked folio" plus read_pages.
 */
export interface RaMapping {
  readonly ino: number;
  /** i_size in bytes. */
  readonly isize: number;
  /** mapping_min_folio_order (0 for ext4 on 4 KiB blocks). */
  readonly minOrder: number;
  /**
   * mapping_max_folio_order; 0 = no large folio support. 6.18 on x86-64 with 4 KiB pages:
   * MAX_PAGECACHE_ORDER = min(MAX_XAS_ORDER 11, HPAGE_PMD_ORDER 9) = 9.
   */
  readonly maxOrder: number;
  /** xa_load: the folio that holds page `index`, if any. */
  folioAt(index: number): RaFolio | undefined;
  /**
   * ractl_alloc_folio + filemap_add_folio: a locked, not uptodate folio of 2^order pages at
   * `index` (aligned), PG_readahead set first when asked, added to the cache and to the
   * batch that the next `readPages` submits. 'exists' when any of its pages is present.
   */
  addFolio(index: number, order: number, opts: { readahead: boolean }): RaAddResult;
  /** read_pages: start I/O for the folios added since the last call (in a plug). */
  readPages(): void;
  /** folio_clear_readahead. */
  clearReadahead(folio: RaFolio): void;
  /**
   * Which branch chose the window about to be submitted (not a kernel call: it feeds the
   * per-reason counters ra_initial ... ra_forced). Optional: the kernel model ignores it.
   */
  noteReason?(reason: RaWindowReason): void;
}

/** The branches of 6.18's sync/async readahead, named as 4.18's ondemand_readahead names them. */
export type RaWindowReason = 'initial' | 'sequential' | 'marker' | 'oversize' | 'context' | 'random' | 'forced';

/** struct file_ra_state in 6.18: 4.18's five numbers plus the folio order and mmap_miss. */
export interface FileRaState618 extends FileRaState {
  /** Folio order of the last window (ra->order): 0 after a sync window, +2 per async one. */
  order: number;
  /** Page faults missed in the cache (mmap only; always 0 for read()). */
  mmapMiss: number;
}

export function fileRaState618Init(raPages: number): FileRaState618 {
  return { start: 0, size: 0, asyncSize: 0, raPages, prevPos: -1, order: 0, mmapMiss: 0 };
}

/** Where the trace events go (src/stats/trace.ts's Trace fits). */
export type RaTraceSink = TraceSink;

/** struct readahead_control: the mapping, the file's state and the batch position. */
export interface ReadaheadControl {
  readonly mapping: RaMapping;
  readonly ra: FileRaState618;
  /** The open file, if any (readahead without a file is never forced). `random`: FMODE_RANDOM (POSIX_FADV_RANDOM). */
  readonly file: { readonly random: boolean } | undefined;
  /** bdi->io_pages: max_sectors_kb / 4. */
  readonly ioPages: number;
  readonly trace?: RaTraceSink;
  /** ractl->_index: first page of the batch being built (advanced by readPages). */
  index: number;
  /** ractl->_nr_pages: pages in the batch being built. */
  nrPages: number;
}

export function readaheadControl(init: Omit<ReadaheadControl, 'nrPages'>): ReadaheadControl {
  return { ...init, nrPages: 0 };
}

/** page_cache_prev_miss's ULONG_MAX: the scan ran below page 0 (the file is cached from its start). */
export const WRAPPED = -1;

// ---------------------------------------------------------------------------------------
// Small helpers

const ilog2 = (n: number): number => 31 - Math.clz32(n);
/** __ffs / ffs()-1: the lowest set bit's position (n > 0). */
const lowestBit = (n: number): number => 31 - Math.clz32(n & -n);
const roundDown = (n: number, to: number): number => n - (n % to);
const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Last page index holding file data ((isize - 1) >> PAGE_SHIFT); -1 for an empty file. */
function endIndex(mapping: RaMapping): number {
  return Math.floor((mapping.isize - 1) / 2 ** PAGE_SHIFT);
}

/** read_pages: submit the batch and move the control past it. */
function readPages(ractl: ReadaheadControl): void {
  if (ractl.nrPages === 0) return;
  ractl.mapping.readPages();
  ractl.index += ractl.nrPages;
  ractl.nrPages = 0;
}

/** Pages per xarray leaf node (XA_CHUNK_SIZE); folios of order < 6 sit in leaf nodes. */
const XA_CHUNK = 64;

/**
 * Which page the kernel's xarray walk really examines when it reports `index`, for a walk
 * (xas_next / xas_prev) that started at `start`. The walk's first load lands on the
 * folio's first slot (xas_descend follows the sibling entry to it) while xa_index stays at
 * `start`; inside a leaf node the next steps move slot and index together, so the slot
 * lags the index by `start - folio.index` until the walk leaves that node, where the
 * offset is recomputed from the index. So a walk that starts inside a large folio looks
 * at pages `lag` before (next) or `lag` below (prev) the indexes it reports: a hole at
 * page 12 seen from index 5 in the folio 4-7 is reported as 13.
 */
function xarrayLag(mapping: RaMapping, start: number): number {
  const folio = mapping.folioAt(start);
  if (!folio || folio.order >= Math.log2(XA_CHUNK)) return 0;
  return start - folio.index;
}

/**
 * page_cache_next_miss (mirrors 6.18 mm/filemap.c, with its xarray walk): the first index
 * >= `index` reported without a folio, scanning `maxScan` steps; `index + maxScan` when
 * none is missing. See xarrayLag for the large-folio quirk.
 */
export function pageCacheNextMiss(mapping: RaMapping, index: number, maxScan: number): number {
  let lag = xarrayLag(mapping, index);
  for (let i = 0; i < maxScan; i++) {
    const at = index + i;
    const page = at - lag;
    if (!mapping.folioAt(page)) return at;
    if (lag && page % XA_CHUNK === XA_CHUNK - 1) lag = 0; // leaving the leaf node resyncs
  }
  return index + maxScan;
}

/**
 * page_cache_prev_miss (mirrors 6.18 mm/filemap.c): the first index <= `index` reported
 * without a folio, scanning down `maxScan` steps; the last index scanned,
 * `index - maxScan + 1`, when none is missing (so a full scan counts maxScan - 1 pages),
 * and WRAPPED (the kernel's ULONG_MAX) when the scan runs below page 0. The walk has the
 * same lag as pageCacheNextMiss, below the reported index; where the lagging walk leaves
 * the file's first leaf node it reports a miss (`sync` at 12 with pages 0-11 cached in
 * folios 0,1,2,3,4-7,8-11 finds its miss at 2, not below 0).
 */
export function pageCachePrevMiss(mapping: RaMapping, index: number, maxScan: number): number {
  let lag = xarrayLag(mapping, index);
  for (let i = 0; i < maxScan; i++) {
    const at = index - i;
    const page = at - lag;
    if (page < 0) return WRAPPED;
    if (!mapping.folioAt(page)) return at;
    if (lag && page % XA_CHUNK === 0) {
      // The lagging slot is at the bottom of its leaf node; the next step recomputes it
      // from the index. A lag of 1 just resyncs (the slot stays at 0, the index reaches
      // it). A larger lag leaves the node: from the file's first leaf the walk hits the
      // xarray's bounds and reports a miss at the index it has reached; otherwise it lands
      // in the previous leaf at the index's own slot, 64 pages below the index (checked
      // against the kernel: mixed:72 and mixed:105 at 128/128 depend on it).
      if (lag === 1) lag = 0;
      else if (page % (XA_CHUNK * XA_CHUNK) === 0) return at - 1;
      else lag = XA_CHUNK;
    }
  }
  // Unlike next_miss (fixed in 2025 to return index + max_scan), prev_miss still returns
  // the last index it looked at: index - max_scan + 1.
  return index - maxScan + 1;
}

/** get_init_ra_size (6.18): round up to a power of two, x4 small, x2 medium, else max. */
export function getInitRaSize618(size: number, max: number): number {
  let newsize = 1;
  while (newsize < size) newsize *= 2;
  if (newsize <= Math.floor(max / 32)) return newsize * 4;
  if (newsize <= Math.floor(max / 4)) return newsize * 2;
  return max;
}

/** get_next_ra_size (6.18): x4 below max/16, x2 up to max/2, then max. */
export function getNextRaSize618(cur: number, max: number): number {
  if (cur < Math.floor(max / 16)) return 4 * cur;
  if (cur <= Math.floor(max / 2)) return 2 * cur;
  return max;
}

/** ractl_max_pages (6.18): an oversize request may read up to the device's io_pages. */
function ractlMaxPages(ractl: ReadaheadControl, reqSize: number): number {
  let maxPages = ractl.ra.raPages;
  if (reqSize > maxPages && ractl.ioPages > maxPages) maxPages = Math.min(reqSize, ractl.ioPages);
  return maxPages;
}

function traceRa(ractl: ReadaheadControl, kind: 'sync' | 'async', index: number, reqCount: number): void {
  const t = ractl.trace;
  if (!t?.enabled) return;
  const ra = ractl.ra;
  const ev = kind === 'sync' ? TraceEvent.pageCacheSyncRa : TraceEvent.pageCacheAsyncRa;
  t.emit(ev, ractl.mapping.ino, index, reqCount, ra.order, ra.size, ra.asyncSize, ra.raPages, ra.mmapMiss, ra.prevPos);
}

// ---------------------------------------------------------------------------------------
// Allocation and submission

/**
 * page_cache_ra_unbounded (mirrors 6.18): read `nrToRead` pages from ractl.index, one
 * min-order folio at a time, with no EOF check. A present folio or an EEXIST submits the
 * batch so far and skips a page; an allocation failure stops. PG_readahead goes on the
 * folio at `nrToRead - lookaheadSize` (none when lookaheadSize > nrToRead or is 0).
 */
export function pageCacheRaUnbounded(ractl: ReadaheadControl, nrToRead: number, lookaheadSize: number): void {
  const { mapping } = ractl;
  const minNr = 2 ** mapping.minOrder;
  let index = ractl.index;
  if (ractl.trace?.enabled) {
    ractl.trace.emit(TraceEvent.pageCacheRaUnbounded, mapping.ino, index, nrToRead, lookaheadSize);
  }
  index = roundDown(index, minNr); // mapping_align_index
  let mark = Number.POSITIVE_INFINITY;
  if (lookaheadSize <= nrToRead) mark = roundUp(ractl.index + nrToRead - lookaheadSize, minNr) - index;
  nrToRead += ractl.index - index;
  ractl.index = index;

  let i = 0;
  while (i < nrToRead) {
    if (mapping.folioAt(index + i)) {
      // Already present: kick off the batch so far, then continue past this page.
      readPages(ractl);
      ractl.index += minNr;
      i = ractl.index + ractl.nrPages - index;
      continue;
    }
    const res = mapping.addFolio(index + i, mapping.minOrder, { readahead: i === mark });
    if (res === 'nomem') break;
    if (res === 'exists') {
      readPages(ractl);
      ractl.index += minNr;
      i = ractl.index + ractl.nrPages - index;
      continue;
    }
    ractl.nrPages += minNr;
    i += minNr;
  }
  readPages(ractl);
}

/**
 * do_page_cache_ra (mirrors 6.18): page_cache_ra_unbounded clipped to the page holding
 * the last byte of the file; nothing for an empty file or a start past EOF.
 */
export function doPageCacheRa(ractl: ReadaheadControl, nrToRead: number, lookaheadSize: number): void {
  if (ractl.mapping.isize === 0) return;
  const end = endIndex(ractl.mapping);
  const index = ractl.index;
  if (index > end) return;
  if (nrToRead > end - index) nrToRead = end - index + 1;
  pageCacheRaUnbounded(ractl, nrToRead, lookaheadSize);
}

/**
 * force_page_cache_ra (mirrors 6.18): read exactly the request (at most
 * max(io_pages, ra_pages) pages) in 2 MiB chunks, no readahead state, no marker. Used for
 * FMODE_RANDOM files and when ra_pages is 0 (then for one page).
 */
export function forcePageCacheRa(ractl: ReadaheadControl, nrToRead: number): void {
  const maxPages = Math.max(ractl.ioPages, ractl.ra.raPages);
  nrToRead = Math.min(nrToRead, maxPages);
  const chunk = (2 * 1024 * 1024) / 2 ** PAGE_SHIFT;
  while (nrToRead > 0) {
    const thisChunk = Math.min(chunk, nrToRead);
    doPageCacheRa(ractl, thisChunk, 0);
    nrToRead -= thisChunk;
  }
}

/**
 * ra_alloc_folio (mirrors 6.18): one folio of 2^order pages at `index`, PG_readahead when
 * it holds `mark` (rounded down to the folio).
 */
function raAllocFolio(ractl: ReadaheadControl, index: number, mark: number, order: number): RaAddResult {
  const readahead = index === roundDown(mark, 2 ** order);
  const res = ractl.mapping.addFolio(index, order, { readahead });
  if (res === 'added') ractl.nrPages += 2 ** order;
  return res;
}

/**
 * page_cache_ra_order (mirrors 6.18): allocate the window {ra.start, ra.size, ra.asyncSize}
 * (ractl.index = ra.start) as folios of order min(ra.order, maxOrder, ilog2(size)) — smaller
 * where the index is not aligned or a folio would pass the window or EOF — and submit it.
 * If an allocation fails or a folio is already there, what is left of the window goes
 * through do_page_cache_ra (order 0, the same marker). Without large folio support the
 * whole window does.
 */
export function pageCacheRaOrder(ractl: ReadaheadControl): void {
  const { mapping, ra } = ractl;
  const start = ractl.index;
  let index = start;
  const minOrder = mapping.minOrder;
  let limit = mapping.isize === 0 ? Number.MAX_SAFE_INTEGER : endIndex(mapping);
  const mark = index + ra.size - ra.asyncSize;
  let failed = false;
  if (ractl.trace?.enabled) {
    ractl.trace.emit(TraceEvent.pageCacheRaOrder, mapping.ino, start, ra.order, ra.size, ra.asyncSize, ra.raPages);
  }
  fallback: {
    if (mapping.maxOrder === 0) {
      ra.order = 0;
      break fallback;
    }
    limit = Math.min(limit, index + ra.size - 1);
    let newOrder = Math.min(mapping.maxOrder, ra.order);
    newOrder = Math.min(newOrder, ilog2(ra.size));
    newOrder = Math.max(newOrder, minOrder);
    ra.order = newOrder;

    ractl.index = roundDown(index, 2 ** minOrder); // mapping_align_index
    index = ractl.index;
    while (index <= limit) {
      let order = newOrder;
      // Align with smaller folios if needed.
      if (index & (2 ** order - 1)) order = lowestBit(index);
      // Don't allocate folios past EOF (or the window).
      while (order > minOrder && index + 2 ** order - 1 > limit) order--;
      if (raAllocFolio(ractl, index, mark, order) !== 'added') {
        failed = true;
        break;
      }
      index += 2 ** order;
    }
    readPages(ractl);
    // Folios already in the cache may have left gaps: the page-at-a-time path fills them.
    if (!failed) return;
  }
  if (ra.size > index - start) doPageCacheRa(ractl, ra.size - (index - start), ra.asyncSize);
}

// ---------------------------------------------------------------------------------------
// Entry points from the read loop

/**
 * page_cache_sync_ra (mirrors 6.18): no folio at ractl.index; the read wants `reqCount`
 * pages from there. Forced (exactly the request, or one page when ra_pages is 0) for a
 * random-access file; a new window for the start of the file, an oversize read or a read
 * within one page of the previous one (prev_pos); a window sized from the cached history
 * before index (doubled when it reaches page 0); else just the request, state untouched.
 */
export function pageCacheSyncRa(ractl: ReadaheadControl, reqCount: number): void {
  const index = ractl.index;
  const ra = ractl.ra;
  let forced = ractl.file?.random ?? false;
  traceRa(ractl, 'sync', index, reqCount);
  // Even with readahead off, read the one page the caller needs as readahead (blk-cgroup
  // congestion, the kernel's other reason here, does not exist in aheadfs).
  if (!ra.raPages) {
    if (!ractl.file) return;
    reqCount = 1;
    forced = true;
  }
  if (forced) {
    ractl.mapping.noteReason?.('forced');
    forcePageCacheRa(ractl, reqCount);
    return;
  }
  const maxPages = ractlMaxPages(ractl, reqCount);
  // prev_pos is unsigned in the kernel: -1 >> PAGE_SHIFT is far away from any index.
  // (index - prev_index) <= 1 in unsigned arithmetic: 0 (unaligned reads) or 1, never backward.
  const delta = index - Math.floor(ra.prevPos / 2 ** PAGE_SHIFT);
  const sequential = ra.prevPos >= 0 && (delta === 0 || delta === 1);
  readit: {
    // Start of file, oversize read, or sequential cache miss (delta 1, or 0 for unaligned reads).
    if (index === 0 || reqCount > maxPages || sequential) {
      ractl.mapping.noteReason?.(index !== 0 && reqCount > maxPages ? 'oversize' : 'initial');
      ra.start = index;
      ra.size = getInitRaSize618(reqCount, maxPages);
      ra.asyncSize = ra.size > reqCount ? ra.size - reqCount : ra.size >> 1;
      break readit;
    }
    // Look for the traces (cached history pages) a sequential stream leaves behind.
    const miss = pageCachePrevMiss(ractl.mapping, index - 1, maxPages);
    let contig = index - miss - 1;
    if (miss === WRAPPED) contig = index;
    // Standalone, small random read: read as is, and do not pollute the readahead state.
    if (contig <= reqCount) {
      ractl.mapping.noteReason?.('random');
      doPageCacheRa(ractl, reqCount, 0);
      return;
    }
    // Cached from the start of the file: a strong sign of a long stream (whole-file read).
    if (miss === WRAPPED) contig *= 2;
    ractl.mapping.noteReason?.('context');
    ra.start = index;
    ra.size = Math.min(contig + reqCount, maxPages);
    ra.asyncSize = 1;
  }
  ra.order = 0;
  ractl.index = ra.start;
  pageCacheRaOrder(ractl);
}

/**
 * page_cache_async_ra (mirrors 6.18): the read loop found PG_readahead on `folio`
 * (ractl.index = folio.index) with `reqCount` pages of the read left from there. The
 * expected marker moves the window on and ramps it; an unexpected one (another stream on
 * the descriptor) rebuilds it from the next hole. Then ra.order += 2 and the window's end
 * is aligned to that order (capped by max_pages' lowest bit).
 */
export function pageCacheAsyncRa(ractl: ReadaheadControl, folio: RaFolio, reqCount: number): void {
  const ra = ractl.ra;
  const index = ractl.index;
  if (!ra.raPages) return;
  if (folio.writeback) return; // the same bit is PG_reclaim
  traceRa(ractl, 'async', index, reqCount);
  ractl.mapping.clearReadahead(folio);
  const maxPages = ractlMaxPages(ractl, reqCount);
  readit: {
    // The expected callback index: assume sequential access, push the window forward.
    const expected = roundDown(ra.start + ra.size - ra.asyncSize, 2 ** folio.order);
    if (index === expected) {
      ractl.mapping.noteReason?.('sequential');
      ra.start += ra.size;
      ra.size = Math.max(ra.size, getNextRaSize618(ra.size, maxPages));
      break readit;
    }
    // A marked folio without valid state (interleaved reads): the distance to the next
    // hole is the old async size; add the request and ramp it up.
    const start = pageCacheNextMiss(ractl.mapping, index + 1, maxPages);
    if (!start || start - index > maxPages) return;
    ractl.mapping.noteReason?.('marker');
    ra.start = start;
    ra.size = getNextRaSize618(start - index + reqCount, maxPages);
  }
  ra.order += 2;
  const align = 2 ** Math.min(ra.order, lowestBit(maxPages));
  const end = ra.start + ra.size;
  const alignedEnd = roundDown(end, align);
  if (alignedEnd > ra.start) ra.size -= end - alignedEnd;
  ra.asyncSize = ra.size;
  ractl.index = ra.start;
  pageCacheRaOrder(ractl);
}

/**
 * shrink_readahead_size_eio (6.18 mm/filemap.c, still there): filemap_read_folio found the
 * folio not uptodate after a synchronous read of it (an I/O error) and divides the file's
 * ra_pages by 4. Readahead's own failed folios are not counted: only the retry by
 * read_folio (filemap_update_page / filemap_create_folio) is.
 */
export function shrinkReadaheadSizeEio618(ra: FileRaState618): void {
  ra.raPages = Math.floor(ra.raPages / 4);
}
