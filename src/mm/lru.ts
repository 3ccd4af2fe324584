/**
 * The LRU lists and reclaim (mm/swap.c, mm/vmscan.c), reduced to the page cache. One LRU
 * entry per folio (a large folio moves and is reclaimed as a whole); the counts that the
 * stats show (pages_cached, pgsteal, pgactivate...) are in pages, as the kernel's
 * (folio_nr_pages each).
 *
 * Two intrusive doubly linked lists thread through `folio.lruPrev/lruNext`:
 *
 *   head (newest)                                             tail (oldest)
 *   inactive:  [P12] <-> [P11] <-> [P3] <-> ... <-> [P0]   <- reclaim scans from here
 *   active:    [P7]  <-> [P5]  <-> ...          <-> [P1]   <- refill takes from here
 *
 *   new page -------------------> inactive head                (folio_add_lru)
 *   second touch (folioMarkAccessed on inactive+referenced) -> active head   (pgactivate)
 *   inactive tail, PG_referenced -> active head (page_check_references)     (pgactivate)
 *   inactive tail, clean+unlocked -> deleted from the cache, frame freed      (pgsteal)
 *   inactive tail, locked/dirty/writeback -> rotated to the inactive head (never reclaimed)
 *   inactive smaller than active -> active tail to inactive head           (pgdeactivate)
 *
 * The two-touch rule (folio_mark_accessed):
 *   inactive, unreferenced  -> referenced
 *   inactive, referenced    -> active, unreferenced
 *   active,   unreferenced  -> referenced
 *   active,   referenced    -> (nothing)
 *
 * PG_lru says the page is on a list, PG_active which one. Every page in the page cache is
 * on exactly one list from filemapAddFolio until filemapRemoveFolio.
 *
 * Reclaim is synchronous: it runs inside filemapAddFolio when no block of the order is free. Pages are
 * never reclaimed while locked (I/O in flight or someone owns them), dirty, or under
 * writeback.
 */

import { dbg } from '../stats/debug.js';
import type { Stats } from '../stats/registry.js';
import { TraceEvent, type Trace } from '../stats/trace.js';
import type { Folio } from './folio.js';
import { PG_active, PG_locked, PG_lru, PG_PINNED, PG_referenced, PG_writeback } from './page.js';

/** Pages scanned per reclaim batch (the kernel's SWAP_CLUSTER_MAX). */
export const SWAP_CLUSTER_MAX = 32;

/** One intrusive list. Invariant: count = folios reachable from head, nrPages = their pages. */
export class LruList {
  head: Folio | undefined = undefined;
  tail: Folio | undefined = undefined;
  count = 0;
  nrPages = 0;

  addHead(folio: Folio): void {
    folio.lruPrev = undefined;
    folio.lruNext = this.head;
    if (this.head) this.head.lruPrev = folio;
    else this.tail = folio;
    this.head = folio;
    this.count++;
    this.nrPages += folio.nrPages;
  }

  remove(folio: Folio): void {
    const { lruPrev: prev, lruNext: next } = folio;
    if (prev) prev.lruNext = next;
    else this.head = next;
    if (next) next.lruPrev = prev;
    else this.tail = prev;
    folio.lruPrev = folio.lruNext = undefined;
    this.count--;
    this.nrPages -= folio.nrPages;
  }

  /** Pages from head (newest) to tail (oldest), for tests and debugging. */
  *pages(): IterableIterator<Folio> {
    for (let p = this.head; p; p = p.lruNext) yield p;
  }
}

/** struct lruvec: the file LRU lists of one page cache, and reclaim over them. */
export class Lruvec {
  readonly inactive = new LruList();
  readonly active = new LruList();

  /**
   * @param evict deletes a clean, unlocked page from the page cache and frees its frame
   *   (pagecache.ts filemapRemoveFolio, which also takes the folio off these lists).
   */
  constructor(
    readonly stats: Stats,
    readonly trace: Trace,
    private readonly evict: (folio: Folio) => void,
  ) {}

  /** Pages (not folios) on the inactive list. */
  get nrInactive(): number {
    return this.inactive.nrPages;
  }
  /** Pages (not folios) on the active list. */
  get nrActive(): number {
    return this.active.nrPages;
  }
  get nrPages(): number {
    return this.inactive.nrPages + this.active.nrPages;
  }
  /** Folios on both lists. */
  get nrFolios(): number {
    return this.inactive.count + this.active.count;
  }

  /** folio_add_lru: a new page goes to the inactive head. Context: page not on a list. */
  folioAddLru(folio: Folio): void {
    if (folio.has(PG_lru)) throw new Error(`folioAddLru: folio index=${folio.index} is already on an LRU list`);
    folio.clear(PG_active | PG_referenced);
    folio.set(PG_lru);
    this.inactive.addHead(folio);
  }

  /**
   * Put a folio that is on no list at the head of the active or inactive list, keeping its
   * PG_referenced (lru_add_split_folio: the pieces of a split folio). No counter moves.
   */
  putback(folio: Folio, opts: { active: boolean }): void {
    if (folio.has(PG_lru)) throw new Error(`putback: folio index=${folio.index} is already on an LRU list`);
    folio.set(PG_lru);
    if (opts.active) {
      folio.set(PG_active);
      this.active.addHead(folio);
    } else {
      folio.clear(PG_active);
      this.inactive.addHead(folio);
    }
  }

  /** del_page_from_lru_list: take the page off its list (no-op when it is on none). */
  del(folio: Folio): void {
    if (!folio.has(PG_lru)) return;
    (folio.has(PG_active) ? this.active : this.inactive).remove(folio);
    folio.clear(PG_lru | PG_active);
  }

  /** activate_page: inactive -> active head (stats pgactivate). */
  folioActivate(folio: Folio): void {
    if (!folio.has(PG_lru) || folio.has(PG_active)) return;
    this.inactive.remove(folio);
    folio.set(PG_active);
    this.active.addHead(folio);
    this.stats.c.pgactivate += folio.nrPages;
  }

  /** deactivate: active -> inactive head (stats pgdeactivate). PG_referenced is kept. */
  folioDeactivate(folio: Folio): void {
    if (!folio.has(PG_lru) || !folio.has(PG_active)) return;
    this.active.remove(folio);
    folio.clear(PG_active);
    this.inactive.addHead(folio);
    this.stats.c.pgdeactivate += folio.nrPages;
  }

  /** Move a page already on the inactive list to its head (putback of a kept page). */
  private rotate(folio: Folio): void {
    this.inactive.remove(folio);
    this.inactive.addHead(folio);
  }

  /**
   * shrink_active_list: move up to `nrToScan` pages from the active tail to the inactive
   * head. Returns the number moved.
   */
  shrinkActiveList(nrToScan: number): number {
    let moved = 0;
    while (moved < nrToScan && this.active.tail) {
      this.folioDeactivate(this.active.tail);
      moved++;
    }
    return moved;
  }

  /**
   * shrink_inactive_list + shrink_page_list: scan up to `nrToScan` pages from the inactive
   * tail and free what can be freed. Per page (page_check_references, in spirit):
   *   locked, dirty or writeback -> rotate to the inactive head (never reclaimed)
   *   PG_referenced              -> clear it, activate (one more round on the active list)
   *   otherwise                  -> delete from the page cache, free the frame (pgsteal)
   * Stops early once `nrToReclaim` pages were freed. Returns the number of pages freed.
   * Context: synchronous; must not be called with a page of the scan held by the caller
   * unless that page is locked.
   */
  shrinkInactiveList(nrToScan: number, nrToReclaim: number = Infinity): number {
    let freed = 0;
    for (let scanned = 0; scanned < nrToScan && freed < nrToReclaim; scanned++) {
      const folio = this.inactive.tail;
      if (folio === undefined) break;
      if ((folio.flags & PG_PINNED) !== 0) {
        this.rotate(folio);
        continue;
      }
      if (folio.testClear(PG_referenced)) {
        this.folioActivate(folio);
        continue;
      }
      const n = folio.nrPages;
      this.evict(folio); // off the LRU, out of the mapping, frames freed, ra_wasted if unread
      this.stats.c.pgsteal += n;
      if (this.trace.enabled) this.trace.emit(TraceEvent.reclaim, folio.owner.ino, folio.index);
      freed += n;
    }
    return freed;
  }

  /**
   * try_to_free_pages / shrink_node, simplified: reclaim until `nrToReclaim` frames were
   * freed or nothing more can be (every page pinned). Refills the inactive list from the
   * active tail whenever it is smaller than the active list (inactive_list_is_low).
   * Returns the number of pages freed.
   */
  tryToFreePages(nrToReclaim: number = SWAP_CLUSTER_MAX): number {
    let freed = 0;
    // Each page is looked at a bounded number of times: a referenced page is activated
    // once, deactivated once, and then freed or rotated. Three rounds over everything is
    // enough to free a page if any can be freed; past that the lists are all pinned.
    let budget = 3 * this.nrPages + SWAP_CLUSTER_MAX;
    let stuck = false; // the last inactive batch freed nothing (all pinned or referenced)
    while (freed < nrToReclaim && budget > 0) {
      if (stuck || this.inactive.nrPages < this.active.nrPages || this.inactive.count === 0) {
        const moved = this.shrinkActiveList(Math.min(SWAP_CLUSTER_MAX, this.active.count));
        budget -= moved;
      }
      const scan = Math.min(SWAP_CLUSTER_MAX, this.inactive.count);
      if (scan === 0) break;
      const n = this.shrinkInactiveList(scan, nrToReclaim - freed);
      freed += n;
      stuck = n === 0;
      budget -= scan;
    }
    if (dbg.mm.enabled) dbg.mm('reclaim: wanted %d, freed %d (active %d, inactive %d)', nrToReclaim, freed, this.active.count, this.inactive.count);
    return freed;
  }

  /**
   * A page reclaim cannot free because it is locked or under writeback, oldest first (for
   * a caller that must wait for a frame). Dirty pages are excluded: nothing ends dirtiness
   * without an owner.
   */
  findPinnedFolio(): Folio | undefined {
    for (const list of [this.inactive, this.active]) {
      for (let p = list.tail; p; p = p.lruPrev) if (p.has(PG_locked) || p.has(PG_writeback)) return p;
    }
    return undefined;
  }
}

/** The bit whose end releases a page findPinnedFolio returned: its lock, else its writeback. */
export function pinBit(folio: Folio): number {
  return folio.has(PG_locked) ? PG_locked : PG_writeback;
}

/**
 * folio_mark_accessed: the two-touch rule (see the table at the top of this file).
 * Context: the read loop calls it once per page per read, only when the page changes
 * (`prev_index != index || offset != prev_offset`).
 */
export function folioMarkAccessed(folio: Folio): void {
  const flags = folio.flags;
  if ((flags & PG_active) === 0 && (flags & PG_referenced) !== 0) {
    // Second touch while inactive: promote.
    if ((flags & PG_lru) !== 0) folio.owner.cache.lruvec.folioActivate(folio);
    folio.clear(PG_referenced);
  } else if ((flags & PG_referenced) === 0) {
    folio.set(PG_referenced);
  }
}
