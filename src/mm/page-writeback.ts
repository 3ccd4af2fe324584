/**
 * Dirty folios and their accounting, the dirty limits and the writer throttle
 * (mm/page-writeback.c of Linux 6.18: folio_mark_dirty / filemap_dirty_folio,
 * folio_clear_dirty_for_io, folio_cancel_dirty, domain_dirty_limits, balance_dirty_pages,
 * write_cache_pages). The flusher that writes dirty folios back is fs-writeback.ts.
 *
 *   write(2) ──> write_begin, copy ──> folioMarkDirty ──> unlock, reply
 *                    │                     │ PG_dirty, mapping.dirtyTag (PAGECACHE_TAG_DIRTY),
 *                    │                     │ wb.nrDirty += pages, mapping onto wb.bDirty
 *                    │                     └─ above the background threshold: wake the flusher
 *                    └─ balanceDirtyPages: dirty + writeback + this folio > dirty limit?
 *                         wait for writeback progress (throttle), never fail, never grow
 *
 *   flusher / fsync ──> writeCachePages: lock, folioClearDirtyForIo, PG_writeback, unlock
 *        ──> aops.writebackStart (one bio per contiguous device run, in one plug)
 *        ──> aops.writebackCommit (after ALL the batch's data completed: one metadata txn)
 *        ──> folioEndWriteback per folio (errors: mapping_set_error, see endWritebackBatch)
 *
 * Invariants (wb = cache.wb, when writeback is on):
 *   - wb.nrDirty = the pages of the folios tagged dirty in some mapping.dirtyTag;
 *     a folio is tagged iff PG_dirty is set on it and it was dirtied by folioMarkDirty.
 *   - wb.nrWriteback = the pages of folios under PG_writeback started by writeCachePages.
 *   - a mapping is in wb.bDirty iff its dirtyTag is not empty; its place there is the
 *     order it first became dirty (dirtied_when).
 *   - a folio may be dirty and under writeback at once (written to during its writeback:
 *     no stable pages); writeCachePages never starts a second writeback of a folio before
 *     the first ended (after its metadata commit), so the second finds its block attached.
 *
 * Write-through mounts (--writeback off) never tag folios: their PG_dirty lives only while
 * a write holds the folio locked, as before, and none of this runs.
 */

import { fsError } from '../errors.js';
import type { Stats } from '../stats/registry.js';
import { TraceEvent } from '../stats/trace.js';
import type { Folio } from './folio.js';
import { PAGE_SIZE, PG_delalloc, PG_dirty, PG_writeback } from './page.js';
import type { AddressSpace, PageCache } from './pagecache.js';
import { folioEndWriteback, folioLockAsync, folioTrylock, folioUnlock, folioWaitBitAsync } from './wait.js';

/** The vm.dirty_* sysctls (Documentation/admin-guide/sysctl/vm.rst), relative to the page cache. */
export interface DirtyKnobs {
  /** vm.dirty_background_bytes: when non-zero, the background threshold in bytes (ratio is then 0). */
  dirtyBackgroundBytes: number;
  /** vm.dirty_background_ratio: percent of the cache dirty before the flusher starts. */
  dirtyBackgroundRatio: number;
  /** vm.dirty_bytes: when non-zero, the dirty limit in bytes (ratio is then 0). */
  dirtyBytes: number;
  /** vm.dirty_ratio: percent of the cache dirty (or under writeback) at which writers are throttled. */
  dirtyRatio: number;
  /** vm.dirty_expire_centisecs: dirty data older than this is written back by the periodic flush. */
  dirtyExpireCentisecs: number;
  /** vm.dirty_writeback_centisecs: the periodic flusher's interval (0: no periodic writeback). */
  dirtyWritebackCentisecs: number;
}

/** The kernel's defaults (mm/page-writeback.c). */
export const DEFAULT_DIRTY_KNOBS: Readonly<DirtyKnobs> = {
  dirtyBackgroundBytes: 0,
  dirtyBackgroundRatio: 10,
  dirtyBytes: 0,
  dirtyRatio: 20,
  dirtyExpireCentisecs: 3000,
  dirtyWritebackCentisecs: 500,
};

/** MAX_WRITEBACK_PAGES-like: pages one writeback batch takes at most (16 MiB). */
export const WB_BATCH_PAGES = 4096;

/** What balance_dirty_pages compares against, in pages. */
export interface DirtyLimits {
  /** Background threshold: above it the flusher writes back until below. */
  background: number;
  /** The dirty limit: dirty + writeback pages never go past it (writers wait). */
  thresh: number;
}

/**
 * struct bdi_writeback, the global part: dirty and writeback page counts, the dirty
 * inodes in dirtied_when order (b_dirty), the knobs, and the waiters of writeback progress.
 */
export class BdiWriteback {
  /** NR_FILE_DIRTY: pages of tagged dirty folios. */
  nrDirty = 0;
  /** NR_WRITEBACK: pages under writeback by writeCachePages. */
  nrWriteback = 0;
  /**
   * Pages dirtied over holes and not yet given blocks (ext4's delalloc reservation,
   * i_reserved_data_blocks): a write that would take more than the free blocks left is
   * refused with ENOSPC at write time, not lost at writeback.
   */
  nrDelalloc = 0;
  /** b_dirty: mappings with dirty folios; Set order = the order they became dirty. */
  readonly bDirty = new Set<AddressSpace>();
  readonly knobs: DirtyKnobs = { ...DEFAULT_DIRTY_KNOBS };
  /** wb_wakeup: set by the flusher (fs-writeback.ts). */
  wakeup: () => void = () => undefined;
  private progressWaiters: (() => void)[] = [];

  constructor(
    /** Frames of the cache: what the ratios are relative to. */
    readonly totalPages: number,
    private readonly stats: Stats,
  ) {
    stats.gauge('nr_dirty', () => this.nrDirty);
    stats.gauge('nr_writeback', () => this.nrWriteback);
  }

  /**
   * domain_dirty_limits: bytes win over ratios; a background threshold at or above the
   * limit becomes half of it. The limit is at most 7/8 of the cache (clean folios must
   * still fit for reads and for the write path's own reads) and at least one page.
   */
  limits(): DirtyLimits {
    const k = this.knobs;
    const pages = (bytes: number, ratio: number): number => (bytes > 0 ? Math.ceil(bytes / PAGE_SIZE) : Math.floor((this.totalPages * ratio) / 100));
    const cap = Math.max(1, this.totalPages - Math.ceil(this.totalPages / 8));
    const thresh = Math.max(1, Math.min(cap, pages(k.dirtyBytes, k.dirtyRatio)));
    let background = pages(k.dirtyBackgroundBytes, k.dirtyBackgroundRatio);
    if (background >= thresh) background = Math.floor(thresh / 2);
    return { background, thresh };
  }

  /** Dirty or under writeback: what the dirty limit counts (domain_dirty_avail with writeback). */
  get nrDirtyish(): number {
    return this.nrDirty + this.nrWriteback;
  }

  overBackground(): boolean {
    return this.nrDirty > 0 && this.nrDirtyish > this.limits().background;
  }

  /** A promise resolved at the next end of a writeback batch (or truncate discard). */
  waitProgress(): Promise<void> {
    return new Promise((resolve) => this.progressWaiters.push(resolve));
  }

  /** Wake every waiter of writeback progress. */
  progress(): void {
    const w = this.progressWaiters;
    if (w.length === 0) return;
    this.progressWaiters = [];
    for (const cb of w) cb();
  }

  /** Keep nr_dirty_peak. */
  notePeak(): void {
    if (this.nrDirtyish > this.stats.c.nr_dirty_peak) this.stats.c.nr_dirty_peak = this.nrDirtyish;
  }
}

/** The cache's writeback state, or throw: only writeback mounts dirty folios this way. */
function wbOf(cache: PageCache): BdiWriteback {
  if (cache.wb === undefined) throw new Error('page cache has no writeback (a --writeback off mount)');
  return cache.wb;
}

/**
 * folio_mark_dirty / filemap_dirty_folio (6.18) + __mark_inode_dirty(I_DIRTY_PAGES):
 * set PG_dirty, tag the folio dirty in its mapping, account it, and put the mapping on
 * b_dirty (stamping dirtied_when) if it was clean. Wakes the flusher above the
 * background threshold. `delalloc`: the folio covers holes (no block yet).
 * Context: the folio is locked, uptodate, not under writeback.
 */
export function folioMarkDirty(folio: Folio, opts: { delalloc: boolean }): void {
  const mapping = folio.mapping;
  if (mapping === undefined) throw new Error(`folioMarkDirty: folio index=${folio.index} is not in the page cache`);
  const wb = wbOf(mapping.cache);
  folio.set(PG_dirty);
  if (opts.delalloc && !folio.has(PG_delalloc)) {
    folio.set(PG_delalloc);
    wb.nrDelalloc += folio.nrPages;
    mapping.nrDelalloc += folio.nrPages;
  }
  if (mapping.dirtyTag.has(folio.index)) return;
  mapping.dirtyTag.add(folio.index);
  wb.nrDirty += folio.nrPages;
  wb.notePeak();
  if (!wb.bDirty.has(mapping)) {
    mapping.dirtiedWhen = Date.now();
    wb.bDirty.add(mapping);
  }
  if (wb.overBackground()) wb.wakeup();
}

/** Untag a dirty folio and account it clean (folio_account_cleaned). */
function accountCleaned(folio: Folio): void {
  const mapping = folio.owner;
  if (!mapping.dirtyTag.delete(folio.index)) return; // never tagged: a write-through folio
  const wb = wbOf(mapping.cache);
  wb.nrDirty -= folio.nrPages;
  if (mapping.dirtyTag.size === 0) wb.bDirty.delete(mapping);
}

/** Give back a folio's delalloc reservation (it got blocks, or its data was discarded). */
export function releaseDelalloc(folio: Folio): void {
  if (!folio.testClear(PG_delalloc)) return;
  const wb = folio.owner.cache.wb;
  if (wb !== undefined) wb.nrDelalloc -= folio.nrPages;
  folio.owner.nrDelalloc -= folio.nrPages;
}

/**
 * folio_clear_dirty_for_io: clear PG_dirty before the folio's data goes to the device;
 * returns whether it was dirty. Context: the folio is locked.
 */
export function folioClearDirtyForIo(folio: Folio): boolean {
  if (!folio.testClear(PG_dirty)) return false;
  accountCleaned(folio);
  return true;
}

/**
 * folio_cancel_dirty: the folio's data will never be written (truncated past EOF, or
 * its write failed and it leaves the cache). Context: the folio is locked.
 */
export function folioCancelDirty(folio: Folio): void {
  if (folio.testClear(PG_dirty)) accountCleaned(folio);
  releaseDelalloc(folio);
  folio.owner.cache.wb?.progress();
}

/**
 * ext4_da_reserve_space: before dirtying `pages` pages over holes, check that the blocks
 * they will need are there, counting those promised to dirty folios already. ENOSPC
 * leaves nothing changed.
 */
export function delallocReserve(cache: PageCache, pages: number, freeBlocks: number): void {
  const wb = wbOf(cache);
  if (wb.nrDelalloc + pages > freeBlocks) {
    throw fsError('ENOSPC', `no space: ${freeBlocks} free blocks, ${wb.nrDelalloc} promised to dirty pages, ${pages} more asked`);
  }
}

/**
 * balance_dirty_pages (6.18, simplified to its hard limit): before a write dirties a
 * folio of `pages` pages, wait while dirty + writeback + `pages` would pass the dirty
 * limit, waking the flusher; resolves at once (undefined) when under it. A folio larger
 * than the limit by itself passes once nothing else is dirty. Counts dirty_throttle once
 * per write that had to wait.
 */
export function balanceDirtyPages(cache: PageCache, pages: number): Promise<void> | undefined {
  const wb = cache.wb;
  if (wb === undefined) return undefined;
  const over = (): boolean => wb.nrDirtyish > 0 && wb.nrDirtyish + pages > wb.limits().thresh;
  if (!over()) return undefined;
  cache.stats.c.dirty_throttle++;
  if (cache.trace.enabled) cache.trace.emit(TraceEvent.balanceDirtyPages, wb.nrDirty, wb.nrWriteback, wb.limits().thresh);
  return (async () => {
    while (over()) {
      wb.wakeup();
      await wb.waitProgress();
    }
  })();
}

/** How writeCachePages treats folios it finds locked or already under writeback. */
export type WbSyncMode =
  /** WB_SYNC_NONE (flusher): skip them. */
  | 'none'
  /** WB_SYNC_ALL (fsync, sync): wait for the lock; a folio under writeback is waited for by the caller. */
  | 'all';

/**
 * write_cache_pages, its collecting half: take up to `max` pages of dirty folios of
 * `mapping` in index order, each locked, cleared for I/O (PG_dirty off, PG_writeback
 * on, wb.nrWriteback counted) and unlocked again. Synchronous unless `mode` is 'all'
 * and a folio is locked by someone or under writeback (then that is awaited). `only`:
 * just these indexes (fsync's tag_pages_for_writeback snapshot).
 */
export async function writeCachePages(mapping: AddressSpace, mode: WbSyncMode, max: number, only?: ReadonlySet<number>): Promise<Folio[]> {
  const wb = wbOf(mapping.cache);
  const out: Folio[] = [];
  let taken = 0;
  const indexes = [...mapping.dirtyTag].filter((i) => only === undefined || only.has(i)).sort((a, b) => a - b);
  for (const index of indexes) {
    if (taken >= max) break;
    const folio = mapping.pages.get(index);
    if (folio === undefined || folio.index !== index) {
      mapping.dirtyTag.delete(index); // cannot happen (removal cancels dirty); keep the tag honest
      continue;
    }
    if (!folioTrylock(folio)) {
      if (mode === 'none') continue;
      await new Promise<void>((resolve) => folioLockAsync(folio, resolve));
    }
    // Under writeback (and dirty again since): WB_SYNC_ALL waits for that writeback to
    // end (folio_wait_writeback), then writes it again; WB_SYNC_NONE leaves it for later.
    while (mode === 'all' && folio.mapping === mapping && folio.has(PG_writeback)) {
      folioUnlock(folio);
      await new Promise<void>((resolve) => folioWaitBitAsync(folio, PG_writeback, resolve));
      await new Promise<void>((resolve) => folioLockAsync(folio, resolve));
    }
    if (folio.mapping !== mapping || !folio.has(PG_dirty) || folio.has(PG_writeback)) {
      folioUnlock(folio);
      continue;
    }
    folioClearDirtyForIo(folio);
    releaseDelalloc(folio); // its blocks are allocated by writebackStart, in this turn
    folio.set(PG_writeback);
    wb.nrWriteback += folio.nrPages;
    folioUnlock(folio);
    out.push(folio);
    taken += folio.nrPages;
  }
  return out;
}

/**
 * The end of a writeback batch (end_page_writeback for each folio, after the batch's
 * metadata commit): folios in `failed` get mapping_set_error. As 6.18 does for a failed
 * buffered write (ext4_finish_bio, mpage_write_end_io, iomap_finish_folio_write): the
 * folio is NOT redirtied: it ends writeback clean and uptodate, so readers still see the
 * written bytes until the folio is reclaimed, and the error reaches the next fsync of
 * every open file of the inode once (errseq). Then throttled writers are woken.
 */
export function endWritebackBatch(cache: PageCache, folios: readonly Folio[], failed: ReadonlySet<Folio>, errorCode: 'EIO' | 'ENOSPC'): void {
  const wb = wbOf(cache);
  const seen = new Set<AddressSpace>();
  for (const folio of folios) {
    if (failed.has(folio) && !seen.has(folio.owner)) {
      seen.add(folio.owner);
      mappingSetError(folio.owner, errorCode);
    }
    wb.nrWriteback -= folio.nrPages;
    folioEndWriteback(folio);
  }
  wb.progress();
}

/** mapping_set_error: bump the mapping's errseq and remember which error it was. */
export function mappingSetError(mapping: AddressSpace, code: 'EIO' | 'ENOSPC'): void {
  mapping.wbErr++;
  mapping.wbErrCode = code;
}
