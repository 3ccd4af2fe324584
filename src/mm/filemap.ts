/**
 * The page cache (mm/filemap.c): one `AddressSpace` per inode maps page indexes to pages;
 * one `PageCache` owns the frame arena, the LRU lists and the page wait table that all
 * address spaces share.
 *
 *   PageCache ──── frames: FrameArena (WebAssembly.Memory, 4 KiB frames, free ring)
 *      │     ├──── lruvec: Lruvec (inactive/active lists, reclaim)
 *      │     └──── waitTable: PageWaitTable (256 hashed buckets of async waiters)
 *      │
 *      ├── AddressSpace ino=12 ── pages: Map<index, Page> ── Page{frame, flags, data}
 *      └── AddressSpace ino=40 ── pages: ...
 *
 * Life of a page:
 *   addToPageCacheLru   frame allocated (reclaiming if none is free), page created LOCKED,
 *                       inserted at its index, put at the inactive LRU head
 *   readpage/readahead  the filesystem fills the frame, sets PG_uptodate (or PG_error),
 *                       unlockPage() wakes the waiters
 *   read loop           copies, markPageAccessed (the two-touch LRU rule)
 *   deleteFromPageCache reclaim, truncate or drop_caches: out of the map, off the LRU,
 *                       `page.mapping = undefined`, frame freed
 *
 * The read loop lives in filemap-read.ts, the write path and truncate in
 * filemap-write.ts; both are re-exported from here.
 *
 * There is no page refcount: JavaScript holds the objects alive, and a frame is reused
 * as soon as its page is deleted. The rule that replaces the refcount: code that keeps
 * a page across anything that can reclaim (an allocation, a wait) must either hold the
 * page lock or re-check `page.mapping` before touching `page.data`.
 */

import type { Stats } from '../stats/registry.js';
import type { Trace } from '../stats/trace.js';
import { FrameArena } from './frames.js';
import { Lruvec, SWAP_CLUSTER_MAX } from './lru.js';
import { PG_locked, PG_PINNED, PG_raunread, Page, type PageIndex } from './page.js';
import type { AddressSpaceLike, AddressSpaceOperations, BackingDevInfo, InodeHost } from './types.js';
import { PageWaitTable } from './wait.js';

export { filemapRead, filemapReadAsync } from './filemap-read.js';
export { blockTruncatePage, filemapWrite, truncateInodePages } from './filemap-write.js';

/** Which per-handle readahead figure `PageCache.raAccount` bumps. */
export type RaAccountKind = 'submitted' | 'hit' | 'wasted';

export interface PageCacheOptions {
  /** Bytes of page cache: a positive multiple of 4 KiB, at most 4 GiB. */
  cacheBytes: number;
  stats: Stats;
  trace: Trace;
  bdi: BackingDevInfo;
}

export class PageCache {
  readonly stats: Stats;
  readonly trace: Trace;
  readonly bdi: BackingDevInfo;
  /** The `readpages` tunable: when false, readPages calls readpage per page even if aops.readahead exists. */
  useReadahead = true;
  /**
   * Per-handle readahead figures: called beside ra_pages / ra_hit / ra_wasted with the
   * handle that submitted the pages (`page.raOwner`). Set by the vfs; must not allocate.
   */
  raAccount: ((fh: number, kind: RaAccountKind, n: number) => void) | undefined = undefined;
  readonly frames: FrameArena;
  readonly lruvec: Lruvec;
  readonly waitTable: PageWaitTable;
  /** Frames reclaim tries to free at once: ~1/64 of the cache, 1..SWAP_CLUSTER_MAX. */
  readonly reclaimBatch: number;
  private readonly mappings = new Map<number, AddressSpace>();

  constructor(opts: PageCacheOptions) {
    this.stats = opts.stats;
    this.trace = opts.trace;
    this.bdi = opts.bdi;
    this.frames = new FrameArena(opts.cacheBytes);
    this.lruvec = new Lruvec(this.stats, this.trace, deleteFromPageCache);
    this.waitTable = new PageWaitTable(this.stats, this.trace);
    this.reclaimBatch = Math.max(1, Math.min(SWAP_CLUSTER_MAX, this.frames.nrFrames >> 6));
    this.stats.gauge('pages_cached', () => this.lruvec.nrPages);
    this.stats.gauge('pages_free', () => this.frames.nrFree);
    this.stats.gauge('pages_total', () => this.frames.nrFrames);
  }

  /**
   * The address space of an inode: one per inode, shared by all its opens; created on
   * first use. The first `host` and `aops` given for an inode are kept.
   */
  mapping(host: InodeHost, aops: AddressSpaceOperations): AddressSpace {
    let m = this.mappings.get(host.ino);
    if (m === undefined) {
      m = new AddressSpace(this, host, aops);
      this.mappings.set(host.ino, m);
    }
    return m;
  }

  /** The address space of `ino` if one exists. */
  findMapping(ino: number): AddressSpace | undefined {
    return this.mappings.get(ino);
  }

  /**
   * Forget an inode's address space. Context: after truncateInodePages(mapping, 0) on the
   * unlink of the last link (and last close). Pages still present (only possible if one
   * was brought in after the truncate) are deleted unless pinned; a pinned one is left to
   * its owner (it is reclaimed once released: reclaim does not need the mapping table).
   */
  forgetMapping(ino: number): void {
    const m = this.mappings.get(ino);
    if (m === undefined) return;
    dropUnpinned(m);
    this.mappings.delete(ino);
  }

  /**
   * drop_caches = 1: evict every clean, unlocked page that is not under writeback, of
   * every mapping. Returns the number of pages dropped.
   */
  dropCaches(): number {
    let dropped = 0;
    for (const m of this.mappings.values()) dropped += dropUnpinned(m);
    return dropped;
  }

  /** Pages in the cache now. */
  get nrPages(): number {
    return this.lruvec.nrPages;
  }
}


/** struct address_space: the page cache of one inode. */
export class AddressSpace implements AddressSpaceLike {
  readonly ino: number;
  /** Page lookup by index, O(1). Invariant: every page here has `page.mapping === this` and is on an LRU list. */
  readonly pages = new Map<PageIndex, Page>();
  /**
   * The mapping's errseq_t (lib/errseq.c, kept as a plain counter): bumped by every
   * write-through that failed with EIO (mapping_set_error). An open file samples it at
   * open, and fsync reports EIO once per file for each change since (vfs.ts).
   */
  wbErr = 0;

  constructor(
    readonly cache: PageCache,
    readonly host: InodeHost,
    readonly aops: AddressSpaceOperations,
  ) {
    this.ino = host.ino;
  }

  /** Pages cached for this inode. */
  get nrPages(): number {
    return this.pages.size;
  }
}

/**
 * Delete every page of `m` that is not pinned; returns how many. Deleting the entry being
 * visited is safe while iterating a Map (no copy of a possibly huge page list).
 */
function dropUnpinned(m: AddressSpace): number {
  let dropped = 0;
  for (const page of m.pages.values()) {
    if ((page.flags & PG_PINNED) !== 0) continue;
    deleteFromPageCache(page);
    dropped++;
  }
  return dropped;
}

/** find_get_page: the page at `index`, or undefined. No side effects (not even LRU). */
export function findGetPage(mapping: AddressSpace, index: PageIndex): Page | undefined {
  return mapping.pages.get(index);
}

/**
 * page_cache_alloc + add_to_page_cache_lru: allocate a frame (reclaiming if none is free),
 * create a LOCKED, not uptodate page, insert it at `index` and put it at the inactive LRU
 * head. Returns undefined if `index` is already present or no frame can be had (every
 * page pinned).
 *
 * Context: synchronous. Reclaim may delete any clean unlocked page of any mapping: a
 * caller holding an unlocked page across this call must re-check `page.mapping`.
 */
export function addToPageCacheLru(mapping: AddressSpace, index: PageIndex): Page | undefined {
  if (mapping.pages.has(index)) return undefined;
  const { cache } = mapping;
  let frame = cache.frames.allocFrame();
  if (frame === undefined) {
    cache.lruvec.tryToFreePages(cache.reclaimBatch);
    frame = cache.frames.allocFrame();
    if (frame === undefined) return undefined;
  }
  // Reclaim above cannot have inserted a page (it only deletes): index is still free.
  const page = new Page(mapping, index, frame, cache.frames.frameView(frame));
  page.flags = PG_locked;
  mapping.pages.set(index, page);
  cache.lruvec.lruCacheAdd(page);
  return page;
}

/**
 * delete_from_page_cache: take the page out of its mapping and off the LRU, free its
 * frame, and set `page.mapping = undefined` (a waiter that wakes up re-checks it).
 * A readahead page nobody read (PG_raunread) counts as ra_wasted.
 *
 * Context: the page is clean and not under writeback; locked by the caller (truncate)
 * or unlocked (reclaim, drop_caches). Waiters queued on a locked page keep their bucket
 * (`page.owner` stays).
 */
export function deleteFromPageCache(page: Page): void {
  const mapping = page.mapping;
  if (!(mapping instanceof AddressSpace)) return; // already deleted
  const { cache } = mapping;
  if (mapping.pages.get(page.index) === page) mapping.pages.delete(page.index);
  cache.lruvec.del(page);
  if (page.testClear(PG_raunread)) {
    cache.stats.c.ra_wasted++;
    if (page.raOwner !== undefined) cache.raAccount?.(page.raOwner, 'wasted', 1);
  }
  page.mapping = undefined; // page.owner stays: a lock or writeback ending later still wakes its waiters
  cache.frames.freeFrame(page.frame);
}
