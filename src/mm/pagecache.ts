/**
 * The ground floor of mm: the page cache itself (mm/filemap.c of Linux 6.18, the parts
 * below the read loops). One `AddressSpace` per inode maps page indexes to folios; one
 * `PageCache` owns the frame arena (buddy allocator), the LRU lists and the folio wait
 * table that all address spaces share. The read loop (filemap-read.ts), readahead
 * (readahead.ts), the write path (filemap-write.ts), truncate (truncate.ts) and writeback
 * (page-writeback.ts: dirty tags and accounting in `PageCache.wb`; fs-writeback.ts: the
 * flusher) sit on top of this file; nothing here imports them (types only).
 *
 *   PageCache ──── frames: FrameArena (WebAssembly.Memory, buddy blocks of 2^order frames)
 *      │     ├──── lruvec: Lruvec (inactive/active lists of folios, reclaim)
 *      │     └──── waitTable: PageWaitTable (256 hashed buckets of async waiters)
 *      │
 *      ├── AddressSpace ino=12 ── pages: XArray<Folio> ── Folio{index, order, frame, flags, data}
 *      └── AddressSpace ino=40 ── pages: ...
 *
 * `pages` is the kernel's i_pages: every index a folio covers maps to that folio (a
 * multi-index entry), so a lookup by any index inside a folio is one XArray.get (xarray.ts:
 * nodes of 64 slots, the next index usually in the node of the last lookup), and
 * `pages.size` is the number of cached pages of the file.
 *
 * Life of a folio:
 *   filemapAddFolio     a buddy block of 2^order frames (reclaiming if none), the folio
 *                       created LOCKED, inserted at its indexes, put at the inactive LRU head
 *   filemapReadFolio /  the filesystem fills the frames; folioEndRead sets PG_uptodate (or
 *   aops.readahead      PG_error) and unlocks, waking the waiters
 *   read loop           copies, folioMarkAccessed (the two-touch LRU rule)
 *   filemapRemoveFolio  reclaim, truncate or drop_caches: out of i_pages, off the LRU,
 *                       `folio.mapping = undefined`, frames freed
 *
 * Folio orders: a mapping holds folios of order mapping.minOrder..mapping.maxOrder
 * (mapping_min/max_folio_order). A fresh mapping is 0..0, as in the kernel before
 * mapping_set_large_folios(): the 4.18 read path uses order-0 folios only. See folio.ts for
 * the limits 6.18 applies (MAX_PAGECACHE_ORDER = 9 on x86-64).
 *
 * Readahead sees the cache through two calls, which are all a readahead module needs:
 * `filemapGetFolio(mapping, index)` (the folio containing index: its first index, order,
 * flags) and `filemapAddFolio(mapping, index, order)` ("a locked folio of this order at
 * this index, or tell me you can't": added / exists / nomem).
 */

import { blkFinishPlug, blkStartPlug } from '../block/plug.js';
import type { Stats } from '../stats/registry.js';
import type { Trace } from '../stats/trace.js';
import type { Kmsg } from '../stats/kmsg.js';
import { Folio } from './folio.js';
import { FrameArena } from './frames.js';
import { Lruvec, pinBit, SWAP_CLUSTER_MAX } from './lru.js';
import { XArray } from './xarray.js';
import { PG_active, PG_delalloc, PG_dirty, PG_error, PG_locked, PG_lru, PG_PINNED, PG_raunread, PG_referenced, PG_uptodate, type PageIndex } from './page.js';
import type { BdiWriteback } from './page-writeback.js';
import type { BackingDevInfo, InodeHost } from './types.js';
import { __folioWaitBitAsyncSlow, folioUnlock, PageWaitTable, type WaitCallback } from './wait.js';

/**
 * address_space_operations (6.18: read_folio, readahead, writepages). Folios handed to
 * `readFolio`/`readahead` are locked, not uptodate, and already in the page cache. The
 * filesystem starts the I/O and returns; on completion (which may happen synchronously,
 * e.g. for a hole that is just zero-filled) it ends each folio with `folioEndRead`, which
 * sets PG_uptodate or PG_error, unlocks and wakes the waiters. These two never throw:
 * errors go to the folios.
 */
export interface AddressSpaceOperations {
  readFolio(mapping: AddressSpace, folio: Folio): void;
  /**
   * Read a batch of folios (ascending, contiguous indexes), building one multi-page bio per
   * contiguous run on the device. Optional: when absent (or switched off by the
   * `readpages` tunable) `readPages` calls `readFolio` once per folio inside the plug.
   */
  readahead?(mapping: AddressSpace, folios: Folio[]): void;
  /**
   * Write dirty folios (locked by the caller) through to the device and commit their
   * extents (data first, then metadata: the ordered rule). Clears PG_dirty, sets
   * PG_writeback while the I/O is in flight, ends writeback on completion. Rejects with
   * an FsError (ENOSPC, EIO) and leaves the failed folios dirty.
   */
  writepages(mapping: AddressSpace, folios: Folio[]): Promise<void>;
  /**
   * Writeback (page-writeback.ts, fs-writeback.ts): start the data I/O of `folios`
   * (ascending, under PG_writeback, not locked, cleared for I/O), mapping holes to newly
   * reserved blocks; synchronous up to the submission, inside the caller's plug. Never
   * throws: folios that cannot be mapped or written go to `failed`.
   */
  writebackStart?(mapping: AddressSpace, folios: Folio[]): WritebackIo;
  /**
   * After the data of every io completed: attach the new blocks of them all (only of the
   * writes that succeeded) in ONE metadata transaction, with each file's new i_size
   * bounded by the data written (the ordered rule). A failed commit fails every folio.
   */
  writebackCommit?(ios: readonly WritebackIo[]): Promise<void>;
  /** Pages of `folio` over holes (no block yet): a writeback mount reserves space for them when it dirties the folio. */
  delallocPages?(mapping: AddressSpace, folio: Folio): number;
  /** Blocks the filesystem can still allocate (for the delalloc reservation). */
  freeBlocks?(): number;
}

/** One mapping's part of a writeback batch (aops.writebackStart). */
export interface WritebackIo {
  readonly mapping: AddressSpace;
  readonly folios: readonly Folio[];
  /** Resolves (never rejects) when every bio of this io completed. */
  readonly data: Promise<void>;
  /** Folios whose data did not reach the device, or got no block (filled in as bios end). */
  readonly failed: Set<Folio>;
  /** The error for mapping_set_error when `failed` is not empty. */
  errorCode: 'EIO' | 'ENOSPC';
}

/** The kernel versions whose read path a mount can run. */
export type KernelVersion = '4.18' | '6.18';
export const KERNEL_VERSIONS: readonly KernelVersion[] = ['4.18', '6.18'];

/**
 * `--ra-policy`: the kernel's ondemand readahead, none, or ondemand with our own stride
 * prefetch in front of it (ra-stride.ts).
 */
export type RaPolicy = 'ondemand' | 'none' | 'stride';
export const RA_POLICIES: readonly RaPolicy[] = ['ondemand', 'none', 'stride'];

/** Which per-handle readahead figure `PageCache.raAccount` bumps. */
export type RaAccountKind = 'submitted' | 'hit' | 'wasted';

export interface PageCacheOptions {
  /** Bytes of page cache: a positive multiple of 4 KiB, at most 4 GiB. */
  cacheBytes: number;
  stats: Stats;
  trace: Trace;
  bdi: BackingDevInfo;
  /** The mount's message ring (reclaim trouble goes there); none in unit tests. */
  kmsg?: Kmsg;
}

export class PageCache {
  readonly stats: Stats;
  readonly trace: Trace;
  readonly bdi: BackingDevInfo;
  readonly kmsg: Kmsg | undefined;
  /** The `readpages` tunable: when false, readPages calls readFolio per folio even if aops.readahead exists. */
  useReadahead = true;
  /**
   * `--ra-policy`: `none` = the read loops never call readahead (4.18: ra_pages 0 does the
   * same; 6.18 would otherwise force-read the missing page through readahead); `stride`
   * = ondemand plus the stride prefetch (ra-stride.ts, called by file-read.ts).
   */
  raPolicy: RaPolicy = 'ondemand';
  /**
   * `--kernel`: which read loop and readahead the vfs uses (filemap-read.ts for 4.18,
   * filemap-read-v6.ts for 6.18) and whether new mappings get large folios (6.18: orders
   * 0..EXT4_MAX_PAGECACHE_ORDER, as ext4 sets them). Fixed at mount.
   */
  kernel: KernelVersion = '4.18';
  /**
   * Per-handle readahead figures: called beside ra_pages / ra_hit / ra_wasted with the
   * handle that submitted the pages (`folio.raOwner`). Set by the vfs; must not allocate.
   */
  raAccount: ((fh: number, kind: RaAccountKind, n: number) => void) | undefined = undefined;
  readonly frames: FrameArena;
  readonly lruvec: Lruvec;
  readonly waitTable: PageWaitTable;
  /** Pages reclaim tries to free at once: ~1/64 of the cache, 1..SWAP_CLUSTER_MAX. */
  readonly reclaimBatch: number;
  /**
   * The writeback state (page-writeback.ts) on a writeback mount; undefined on a
   * write-through one (--writeback off: every write goes to the device before it returns).
   */
  wb: BdiWriteback | undefined = undefined;
  private readonly mappings = new Map<number, AddressSpace>();

  constructor(opts: PageCacheOptions) {
    this.stats = opts.stats;
    this.trace = opts.trace;
    this.bdi = opts.bdi;
    this.kmsg = opts.kmsg;
    this.frames = new FrameArena(opts.cacheBytes);
    this.lruvec = new Lruvec(this.stats, this.trace, filemapRemoveFolio);
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
   * unlink of the last link (and last close). Folios still present (only possible if one
   * was brought in after the truncate) are removed unless pinned; a pinned one is left to
   * its owner (it is reclaimed once released: reclaim does not need the mapping table).
   */
  forgetMapping(ino: number): void {
    const m = this.mappings.get(ino);
    if (m === undefined) return;
    dropUnpinned(m);
    this.mappings.delete(ino);
  }

  /**
   * drop_caches = 1: evict every clean, unlocked folio that is not under writeback, of
   * every mapping. Returns the number of pages dropped.
   */
  dropCaches(): number {
    let dropped = 0;
    for (const m of this.mappings.values()) dropped += dropUnpinned(m);
    return dropped;
  }

  /** The mappings with folios under writeback by a writeback batch now. */
  mappingsWithWriteback(): AddressSpace[] {
    return [...this.mappings.values()].filter((m) => m.writebackFolios.size > 0);
  }

  /** Pages in the cache now. */
  get nrPages(): number {
    return this.lruvec.nrPages;
  }
}

/** struct address_space: the page cache of one inode (its host). */
export class AddressSpace {
  readonly ino: number;
  /**
   * i_pages: page index -> the folio that caches it, for every index of every folio.
   * Invariant: for each folio F here, pages.get(i) === F exactly for i in
   * [F.index, F.nextIndex), F.mapping === this, and F is on an LRU list.
   */
  readonly pages = new XArray<Folio>();
  /** Folios in `pages` (each counted once). */
  nrFolios = 0;
  /** mapping_min_folio_order. */
  minOrder = 0;
  /** mapping_max_folio_order: 0 until mappingSetFolioOrderRange (no large folios). */
  maxOrder = 0;
  /**
   * The mapping's errseq_t (lib/errseq.c, kept as a plain counter): bumped by every
   * write-through that failed with EIO (mapping_set_error). An open file samples it at
   * open, and fsync reports EIO once per file for each change since (vfs.ts).
   */
  wbErr = 0;
  /** Which error the last wbErr bump was (EIO from the device, ENOSPC from allocation at writeback). */
  wbErrCode: 'EIO' | 'ENOSPC' = 'EIO';
  /**
   * PAGECACHE_TAG_DIRTY: first indexes of the folios dirtied by folioMarkDirty and not
   * yet cleared for I/O or cancelled (page-writeback.ts keeps it with wb.nrDirty).
   */
  readonly dirtyTag = new Set<PageIndex>();
  /** inode->dirtied_when: Date.now() when the mapping last went from clean to dirty. */
  dirtiedWhen = 0;
  /** Pages of this mapping dirty over holes (PG_delalloc): counted in st_blocks, as ext4 does. */
  nrDelalloc = 0;
  /** Folios of this mapping under writeback by a writeback batch (PAGECACHE_TAG_WRITEBACK). */
  readonly writebackFolios = new Set<Folio>();

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

  /** The folios of this mapping, each once, in no particular order. */
  *folios(): IterableIterator<Folio> {
    for (const [index, folio] of this.pages) if (folio.index === index) yield folio;
  }
}

/**
 * mapping_set_folio_order_range: which folio orders the VFS may use for this file.
 * Context: before any folio is added (the kernel: in the inode constructor).
 */
export function mappingSetFolioOrderRange(mapping: AddressSpace, min: number, max: number): void {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min || max > mapping.cache.frames.maxOrder) {
    throw new RangeError(`folio order range ${min}..${max} (the arena's largest block is order ${mapping.cache.frames.maxOrder})`);
  }
  mapping.minOrder = min;
  mapping.maxOrder = max;
}

/**
 * Remove every folio of `m` that is not pinned; returns how many pages. Removing entries
 * while iterating the XArray is safe (removed ones are not visited): no copy of a possibly
 * huge folio list.
 */
function dropUnpinned(m: AddressSpace): number {
  let dropped = 0;
  for (const folio of m.folios()) {
    if ((folio.flags & PG_PINNED) !== 0) continue;
    dropped += folio.nrPages;
    filemapRemoveFolio(folio);
  }
  return dropped;
}

/**
 * filemap_get_folio (without FGP flags): the folio containing page `index`, or undefined.
 * One XArray lookup whatever the folio's order. No side effects (not even LRU).
 */
export function filemapGetFolio(mapping: AddressSpace, index: PageIndex): Folio | undefined {
  return mapping.pages.get(index);
}

/** What filemapAddFolio did. */
export type AddFolioResult =
  /** A new folio, LOCKED, not uptodate, in the cache and on the inactive LRU. */
  | { kind: 'added'; folio: Folio }
  /** -EEXIST: a folio already covers an index of the range (the first one found). */
  | { kind: 'exists'; folio: Folio }
  /** -ENOMEM: no free buddy block of this order, even after reclaim. */
  | { kind: 'nomem' };

/**
 * filemap_alloc_folio + filemap_add_folio (6.18), in one step: allocate a block of 2^order
 * frames (reclaiming if none is free) and insert a new LOCKED, not uptodate folio covering
 * [index, index + 2^order), at the inactive LRU head. One step because our folio is made
 * for its mapping (its wait key and LRU lists come from it); the range is checked before
 * anything is allocated, so `exists` costs no allocation.
 *
 * When the order cannot be had (`nomem`), the caller decides: the read loop waits for a
 * pinned folio to be released; readahead falls back to smaller orders as the kernel's
 * page_cache_ra_order does (a failed ra_alloc_folio ends the large-folio loop and
 * do_page_cache_ra reads the rest with order-0 folios), and __filemap_get_folio's
 * FGP_CREAT path tries order - 1 ... min_order in turn.
 *
 * Context: synchronous. Reclaim may remove any clean unlocked folio of any mapping: a
 * caller holding an unlocked folio across this call must re-check `folio.mapping`.
 * `index` must be a multiple of 2^order.
 */
export function filemapAddFolio(mapping: AddressSpace, index: PageIndex, order = 0): AddFolioResult {
  const n = 1 << order;
  if (!Number.isSafeInteger(index) || index < 0 || index % n !== 0) throw new RangeError(`filemapAddFolio: index ${index} is not aligned to order ${order}`);
  for (let i = index; i < index + n; i++) {
    const existing = mapping.pages.get(i);
    if (existing !== undefined) return { kind: 'exists', folio: existing };
  }
  const { cache } = mapping;
  let frame = cache.frames.alloc(order);
  if (frame === undefined) {
    cache.lruvec.tryToFreePages(Math.max(cache.reclaimBatch, n));
    frame = cache.frames.alloc(order);
    if (frame === undefined) return { kind: 'nomem' };
  }
  // Reclaim above cannot have inserted a folio (it only removes): the range is still free.
  const folio = new Folio(mapping, index, order, frame, cache.frames.view(frame, order));
  folio.flags = PG_locked;
  for (let i = index; i < index + n; i++) mapping.pages.set(i, folio);
  mapping.nrFolios++;
  cache.lruvec.folioAddLru(folio);
  return { kind: 'added', folio };
}

/**
 * __filemap_get_folio(mapping, index, FGP_CREAT | fgf_set_order(...)) of 6.18: the folio
 * holding `index` if one is cached (`exists`), else a new locked folio of the largest
 * order that can be had: `order` is clamped to mapping.maxOrder, lowered to the alignment
 * of `index` (__ffs(index)), and then tried order, order - 1, ... mapping.minOrder until
 * a block is free and the range is not taken. This is the fallback to smaller orders of
 * the write path; readahead's is in page_cache_ra_order (see filemapAddFolio).
 */
export function filemapGetFolioCreate(mapping: AddressSpace, index: PageIndex, order: number): AddFolioResult {
  const cached = mapping.pages.get(index);
  if (cached !== undefined) return { kind: 'exists', folio: cached };
  let o = Math.max(mapping.minOrder, Math.min(order, mapping.maxOrder));
  while (o > mapping.minOrder && index % (1 << o) !== 0) o--; // __ffs(index): not aligned, smaller
  for (;;) {
    const r = filemapAddFolio(mapping, index, o);
    if (r.kind === 'added' || o <= mapping.minOrder) return r;
    o--;
  }
}

/**
 * filemap_remove_folio: take the folio out of its mapping and off the LRU, free its
 * frames, and set `folio.mapping = undefined` (a waiter that wakes up re-checks it).
 * A readahead folio nobody read (PG_raunread) counts as ra_wasted (its pages).
 *
 * Context: the folio is clean and not under writeback; locked by the caller (truncate)
 * or unlocked (reclaim, drop_caches). Waiters queued on a locked folio keep their bucket
 * (`folio.owner` stays).
 */
export function filemapRemoveFolio(folio: Folio): void {
  const mapping = folio.mapping;
  if (mapping === undefined) return; // already removed
  const { cache } = mapping;
  for (let i = folio.index; i < folio.nextIndex; i++) if (mapping.pages.get(i) === folio) mapping.pages.delete(i);
  mapping.nrFolios--;
  cache.lruvec.del(folio);
  if (folio.testClear(PG_raunread)) {
    cache.stats.c.ra_wasted += folio.nrPages;
    if (folio.raOwner !== undefined) cache.raAccount?.(folio.raOwner, 'wasted', folio.nrPages);
  }
  folio.mapping = undefined; // folio.owner stays: a lock or writeback ending later still wakes its waiters
  cache.frames.freeBlock(folio.frame);
}

/**
 * folio_end_read (6.18): the read of a locked folio finished. Success: PG_uptodate (and
 * PG_error cleared); failure: PG_error. Then unlock, which wakes the waiters.
 * Context: the filesystem's read completion (inside the block layer's completion context
 * for real I/O, so the waiters resume after the whole bio has been ended).
 */
export function folioEndRead(folio: Folio, success: boolean): void {
  if (success) {
    folio.clear(PG_error);
    folio.set(PG_uptodate);
  } else {
    folio.set(PG_error);
  }
  folioUnlock(folio);
}

/**
 * filemap_read_folio, its first half: start the read of a LOCKED folio that is in the
 * cache and not uptodate. Clears PG_error (a previous error may have been temporary),
 * counts readpage_ios, calls aops.readFolio inside a plug. A readFolio that throws (it
 * must not) fails the folio rather than leave it locked forever. The completion unlocks
 * the folio; the caller waits for that its own way (a callback in the read loop, a
 * Promise in the write path).
 */
export function filemapReadFolio(mapping: AddressSpace, folio: Folio): void {
  folio.clear(PG_error);
  mapping.cache.stats.c.readpage_ios++;
  const plug = blkStartPlug();
  try {
    mapping.aops.readFolio(mapping, folio);
  } catch {
    folio.set(PG_error);
    if (folio.has(PG_locked)) folioUnlock(folio);
  } finally {
    blkFinishPlug(plug);
  }
}

/**
 * No block could be had even after reclaim: every folio is pinned (I/O in flight, writes).
 * Call `cb` once the oldest locked or writeback folio is released, then the caller looks
 * again. Returns false (and never calls `cb`) when nothing is pinned by I/O or a lock:
 * waiting would not help (ENOMEM).
 */
export function filemapWaitForMemory(cache: PageCache, cb: WaitCallback): boolean {
  const pinned = cache.lruvec.findPinnedFolio();
  if (pinned === undefined) {
    cache.kmsg?.ratelimited('mm-enomem', 'err', 'mm', () => `no free page frame after reclaim and none pinned by I/O: ENOMEM (${cache.frames.nrFrames} frames; a larger --cache-size helps)`);
    return false;
  }
  cache.kmsg?.ratelimited('mm-wait', 'warn', 'mm', () =>
    `no free page frame after reclaim: waiting for a folio under ${pinBit(pinned) === PG_locked ? 'I/O (locked)' : 'writeback'} (ino ${pinned.mapping?.ino ?? '?'} index ${pinned.index}) to be released`,
  );
  __folioWaitBitAsyncSlow(pinned, pinBit(pinned), cb);
  return true;
}

/**
 * split_folio to order 0 (mm/huge_memory.c __split_unmapped_folio, uniform split): the
 * folio becomes 2^order order-0 folios in place. The first keeps the folio object (so
 * its waiters and the caller's lock stay valid); the others are new, unlocked, with the
 * flags the kernel copies to tails (uptodate, dirty, error, referenced, active, and our
 * raunread), never PG_readahead. Each goes back on the LRU list the folio was on (at its
 * head). Returns the folios in index order.
 *
 * Context: the caller holds the folio lock; the folio is in a mapping, not under writeback.
 */
export function splitFolio(folio: Folio): Folio[] {
  if (folio.order === 0) return [folio];
  const mapping = folio.mapping;
  if (mapping === undefined) throw new Error(`splitFolio: folio index=${folio.index} is not in the page cache`);
  const { cache } = mapping;
  const n = folio.nrPages;
  const active = folio.has(PG_active);
  const onLru = folio.has(PG_lru);
  cache.lruvec.del(folio); // with its old size
  cache.frames.splitBlock(folio.frame);
  const tailFlags = folio.flags & (PG_uptodate | PG_dirty | PG_error | PG_referenced | PG_raunread | PG_delalloc);
  const tagged = mapping.dirtyTag.has(folio.index);
  folio.order = 0;
  folio.data = cache.frames.frameView(folio.frame);
  const out = [folio];
  for (let i = 1; i < n; i++) {
    const tail = new Folio(mapping, folio.index + i, 0, folio.frame + i, cache.frames.frameView(folio.frame + i));
    tail.flags = tailFlags;
    tail.raOwner = folio.raOwner;
    mapping.pages.set(tail.index, tail);
    if (tagged) mapping.dirtyTag.add(tail.index); // the pages stay counted in wb.nrDirty
    out.push(tail);
  }
  mapping.nrFolios += n - 1;
  if (onLru) for (const f of out) cache.lruvec.putback(f, { active });
  return out;
}
