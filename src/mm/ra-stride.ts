/**
 * `--ra-policy stride`: our own readahead policy, not the kernel's. The kernel's ondemand
 * readahead (either version) stays as it is; in front of it, per open file, a stride
 * detector watches where each read starts. A reader that reads `n` pages every `s` pages
 * (s > n: a gap between its reads) looks random to ondemand readahead, which then reads
 * just each request, one device round trip per read. Once three reads in a row were `s`
 * pages apart (two equal steps), the detector prefetches the chunks the reader will want:
 *
 *   reads      [n]  gap  [n]  gap  [n]  gap  [n]  ...      stride s = n + gap
 *   locked at the 3rd     ^ prefetch chunks of n pages at +s, +2s, ... up to `lead`
 *                           pages ahead of the reader; refill when less than one lead
 *                           is left, up to 1.5 leads (so the device always has the next
 *                           batch before the reader gets there)
 *
 *   sparse (gap > 8 pages): one readahead per chunk (n pages each; the device sees many
 *          small requests at once: they overlap on a device with parallelism)
 *   dense  (gap <= 8 pages): one readahead of the whole span, gaps included (fewer,
 *          larger, contiguous requests; gap pages are wasted, at most 8 per chunk)
 *
 * The lead ramps like a readahead window: 4 chunks at the lock, doubled at each refill,
 * at most ra_pages / n chunks (4..32), so a short strided scan wastes little past its end.
 * A lock that breaks while prefetched chunks are still ahead of the reader is a misfire
 * (interleaved streams whose steps happen to repeat look like a stride for a while); each
 * misfire doubles the equal steps needed to lock again (2, 4, 8, ... at most 64). A real
 * fixed-stride reader never misfires. Any other step resets the detector, so
 * sequential and random readers see plain ondemand readahead.
 *
 * The prefetch is 6.18's do_page_cache_ra (readahead-v6.ts), clipped at EOF, traced as an
 * `ra async ... reason=stride` line per readahead with its `page_cache_ra_unbounded` line;
 * its pages count as readahead (ra_pages, ra_hit, ra_wasted).
 *
 * Runs before the read loop (file-read.ts), outside its page loop: a few integer
 * comparisons per read while unlocked.
 */

import { PAGE_SIZE } from './page.js';
import type { AddressSpace } from './pagecache.js';
import { AddressSpaceRa, type MmFileV6 } from './ra-mapping.js';
import { doPageCacheRa, readaheadControl } from './readahead-v6.js';

/** Equal steps that lock the stride, before any misfire (3 reads = 2 steps). */
const STRIDE_LOCK_STEPS = 2;
const MAX_LOCK_STEPS = 64;
/** Gaps up to this many pages are read through (dense mode). */
export const STRIDE_DENSE_GAP_PAGES = 8;
const MIN_DEPTH = 4;
const MAX_DEPTH = 32;

/** The detector's state, one per open file. Invariant: `horizon` >= 0 only while locked. */
export interface StrideState {
  /** First page of the previous read; -1 before the first. */
  lastIndex: number;
  /** Pages of the previous read. */
  lastPages: number;
  /** The step between the last two reads, in pages. */
  stride: number;
  /** Reads in a row separated by `stride`. */
  steps: number;
  /** First page not yet prefetched; -1 when nothing is prefetched. */
  horizon: number;
  /** The current lead in chunks (ramps from MIN_DEPTH). */
  lead: number;
  /** Locks that broke with prefetched chunks still ahead. */
  misfires: number;
}

export function strideStateInit(): StrideState {
  return { lastIndex: -1, lastPages: 0, stride: 0, steps: 0, horizon: -1, lead: 0, misfires: 0 };
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
    if (st.horizon > index) st.misfires++;
    st.stride = sameShape ? step : 0;
    st.steps = sameShape ? 1 : 0;
    st.horizon = -1;
  }
  st.lastIndex = index;
  st.lastPages = pages;
  if (st.steps < Math.min(MAX_LOCK_STEPS, STRIDE_LOCK_STEPS << st.misfires) || file.ra.raPages === 0) return;

  const s = st.stride;
  const maxDepth = Math.max(MIN_DEPTH, Math.min(MAX_DEPTH, Math.floor(file.ra.raPages / pages)));
  if (st.horizon < 0) {
    st.horizon = index + s;
    st.lead = MIN_DEPTH;
  }
  // Refill when less than one lead is prefetched ahead of the reader.
  if (st.horizon >= index + st.lead * s) return;
  const to = index + Math.ceil((st.lead * 3) / 2) * s; // prefetch chunks starting before this
  st.lead = Math.min(maxDepth, st.lead * 2);
  const endPage = Math.ceil(mapping.host.size / PAGE_SIZE);
  const { ioPages } = mapping.cache.bdi;
  if (s - pages <= STRIDE_DENSE_GAP_PAGES) {
    // One contiguous span from the horizon (the page after the last span).
    const end = Math.min(to - s + pages, endPage);
    if (end > st.horizon) prefetch(mapping, file, index, st.horizon, end - st.horizon, ioPages);
    st.horizon = Math.max(st.horizon, end);
    return;
  }
  let at = st.horizon;
  for (; at < to && at < endPage; at += s) prefetch(mapping, file, index, at, pages, ioPages);
  st.horizon = at;
}
/** One readahead of `nr` pages at `at`, for the reader now at page `index` (do_page_cache_ra). */
function prefetch(mapping: AddressSpace, file: MmFileV6, index: number, at: number, nr: number, ioPages: number): void {
  const ra = new AddressSpaceRa(mapping, file, 'async', at, nr, index, index, { reason: 'stride' });
  doPageCacheRa(readaheadControl({ mapping: ra, ra: file.ra, file: { random: false }, ioPages, trace: mapping.cache.trace, index: at }), nr, 0);
}
