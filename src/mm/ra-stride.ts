/**
 * `--ra-policy stride`: our own readahead policy, not the kernel's. The kernel's ondemand
 * readahead (either version) stays as it is; in front of it, per open file, a stride
 * detector watches where each read starts. A reader that reads `n` pages every `s` pages
 * (s > n: a gap between its reads) looks random to ondemand readahead, which then reads
 * just each request, one device round trip per read. Once three reads in a row were `s`
 * pages apart (two equal steps), the detector prefetches the chunks the reader will want:
 *
 *   reads      [n]  gap  [n]  gap  [n]  gap  [n]  ...      stride s = n + gap
 *   locked at the 3rd     ^ prefetch the next `depth` chunks of n pages at +s, +2s, ...
 *   refill: when the reader is within depth/2 chunks of the prefetch horizon
 *
 *   sparse (gap > 16 pages): one readahead per chunk (n pages each; the device sees
 *          `depth` small requests at once: they overlap on a device with parallelism)
 *   dense  (gap <= 16 pages): one readahead of the whole span, gaps included (fewer,
 *          larger requests: what a seeking disk wants; the gap pages are wasted)
 *
 * depth = ra_pages / n (at least 4, at most 64) chunks, so the prefetched data is about
 * one readahead window. Chunks past EOF are clipped (do_page_cache_ra). Any other step
 * resets the detector, so sequential, interleaved and random readers see plain ondemand
 * readahead. The prefetch is 6.18's do_page_cache_ra (readahead-v6.ts), traced as an
 * `ra async ... reason=stride` line per readahead, with its `page_cache_ra_unbounded`
 * line; its pages count as readahead (ra_pages, ra_hit, ra_wasted).
 *
 * Runs before the read loop (file-read.ts), outside the cached hot path's page loop:
 * a few integer comparisons per read while unlocked.
 */

import { PAGE_SIZE } from './page.js';
import type { AddressSpace } from './pagecache.js';
import { AddressSpaceRa, type MmFileV6 } from './ra-mapping.js';
import { doPageCacheRa, readaheadControl } from './readahead-v6.js';

/** Reads `s` pages apart this many times in a row lock the stride (3 reads = 2 steps). */
const STRIDE_LOCK_STEPS = 2;
/** Gaps up to this many pages are read through (dense mode). */
export const STRIDE_DENSE_GAP_PAGES = 16;
const MIN_DEPTH = 4;
const MAX_DEPTH = 64;

/** The detector's state, one per open file. Invariant: `horizon` >= 0 only while locked (steps >= STRIDE_LOCK_STEPS). */
export interface StrideState {
  /** First page of the previous read; -1 before the first. */
  lastIndex: number;
  /** Pages of the previous read. */
  lastPages: number;
  /** The step between the last two reads, in pages. */
  stride: number;
  /** Reads in a row separated by `stride`. */
  steps: number;
  /** First page not yet prefetched (the next chunk's start); -1 when nothing is prefetched. */
  horizon: number;
}

export function strideStateInit(): StrideState {
  return { lastIndex: -1, lastPages: 0, stride: 0, steps: 0, horizon: -1 };
}

/** An open file under the stride policy. */
export interface MmFileStride extends MmFileV6 {
  stride?: StrideState;
}

/**
 * Note a read of [pos, pos + len) and, when a stride is locked, prefetch ahead of it.
 * Context: before the read loop runs for this read.
 */
export function strideReadahead(mapping: AddressSpace, file: MmFileStride, pos: number, len: number): void {
  if (len <= 0) return;
  const st = (file.stride ??= strideStateInit());
  const index = Math.floor(pos / PAGE_SIZE);
  const pages = Math.ceil((pos + len) / PAGE_SIZE) - index;
  const step = index - st.lastIndex;
  const sameShape = st.lastIndex >= 0 && pages === st.lastPages && step > pages;
  if (sameShape && step === st.stride) st.steps++;
  else {
    st.stride = sameShape ? step : 0;
    st.steps = sameShape ? 1 : 0;
    st.horizon = -1;
  }
  st.lastIndex = index;
  st.lastPages = pages;
  if (st.steps < STRIDE_LOCK_STEPS || file.ra.raPages === 0) return;

  const s = st.stride;
  const depth = Math.max(MIN_DEPTH, Math.min(MAX_DEPTH, Math.floor(file.ra.raPages / pages)));
  const first = index + s;
  if (st.horizon < first) st.horizon = first;
  const target = first + (depth - 1) * s; // the last chunk wanted in flight
  // Refill only when the reader has come within depth/2 chunks of the horizon.
  if (st.horizon > index + Math.ceil(depth / 2) * s) return;
  const endPage = Math.ceil(mapping.host.size / PAGE_SIZE);
  const { cache } = mapping;
  if (s - pages <= STRIDE_DENSE_GAP_PAGES) {
    const from = st.horizon;
    const to = Math.min(target + pages, endPage);
    if (to > from) prefetch(mapping, file, index, from, to - from, cache.bdi.ioPages);
    st.horizon = target + s;
    return;
  }
  for (let at = st.horizon; at <= target; at += s) {
    if (at >= endPage) break;
    prefetch(mapping, file, index, at, pages, cache.bdi.ioPages);
  }
  st.horizon = target + s;
}

/** One readahead of `nr` pages at `at`, for the reader now at page `index` (do_page_cache_ra). */
function prefetch(mapping: AddressSpace, file: MmFileV6, index: number, at: number, nr: number, ioPages: number): void {
  const ra = new AddressSpaceRa(mapping, file, 'async', at, nr, index, index, { reason: 'stride' });
  doPageCacheRa(readaheadControl({ mapping: ra, ra: file.ra, file: { random: false }, ioPages, trace: mapping.cache.trace, index: at }), nr, 0);
}
