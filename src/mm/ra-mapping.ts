/**
 * The thin adapter between the folio page cache (pagecache.ts) and Linux 6.18 readahead
 * (readahead-v6.ts): one `AddressSpaceRa` per readahead call (a miss or a marker hit of
 * the 6.18 read loop, never the cached hot path) implements `RaMapping` over an
 * AddressSpace:
 *
 *   folioAt    filemapGetFolio (a Folio is a RaFolio: its flags read as booleans)
 *   addFolio   filemapAddFolio of that order; PG_readahead when asked; PG_raunread and
 *              raOwner on folios that do not overlap the caller's request (ra_hit /
 *              ra_wasted); the folio joins the pending batch
 *   readPages  the batch to read_pages (aops.readahead inside a plug), counted as
 *              ra_pages; the first submission of the call also counts ra_sync / ra_async
 *              and writes the `ra` summary line, so it precedes its `bio` lines
 *
 * The `ra` line's reason under 6.18 (the kernel names no branch): `forced` (ra_pages 0 or
 * FMODE_RANDOM: force_page_cache_ra of the request), `random` (a sync miss that left the
 * state as it was: do_page_cache_ra of just the request), `window` (a window was set);
 * `stride` for the prefetch of our own stride policy (ra-stride.ts).
 */

import { dbg } from '../stats/debug.js';
import { TraceEvent } from '../stats/trace.js';
import { PG_raunread, PG_readahead } from './page.js';
import type { Folio } from './folio.js';
import { filemapAddFolio, type AddressSpace } from './pagecache.js';
import { countRaWindow, readPages } from './readahead.js';
import type { FileRaState618, RaAddResult, RaFolio, RaMapping, RaWindowReason } from './readahead-v6.js';
import type { MmFile } from './types.js';

/** An open file as the 6.18 read loop needs it: the 6.18 file_ra_state. */
export interface MmFileV6 extends MmFile {
  readonly ra: FileRaState618;
}

export class AddressSpaceRa implements RaMapping {
  /** New folios not yet handed to read_pages (ascending, contiguous). */
  private batch: Folio[] = [];
  private announced = false;
  /** The branch that chose the window (noteReason); until told: the usual one of the trigger. */
  private reason: RaWindowReason;
  /** The window before the call, to tell `window` from `random` in the `ra` line. */
  private readonly before: { start: number; size: number; asyncSize: number; order: number };

  constructor(
    readonly mapping: AddressSpace,
    readonly file: MmFileV6,
    readonly trigger: 'sync' | 'async',
    /** The page the read loop looked up (ractl index at the call). */
    readonly index: number,
    /** Pages of the request from `index` (req_count). */
    readonly reqCount: number,
    /** First page of the caller's request (folios from here to reqEnd are its own). */
    readonly reqIndex: number,
    readonly reqEnd: number,
    /** The `ra` line's reason when not the kernel's (`stride`: ra-stride.ts's prefetch). */
    private readonly opts: { reason?: string } = {},
  ) {
    const { start, size, asyncSize, order } = file.ra;
    this.before = { start, size, asyncSize, order };
    this.reason = trigger === 'async' ? 'sequential' : 'initial';
  }

  noteReason(reason: RaWindowReason): void {
    this.reason = reason;
  }

  get ino(): number {
    return this.mapping.ino;
  }
  get isize(): number {
    return this.mapping.host.size;
  }
  get minOrder(): number {
    return this.mapping.minOrder;
  }
  get maxOrder(): number {
    return this.mapping.maxOrder;
  }

  folioAt(index: number): RaFolio | undefined {
    return this.mapping.pages.get(index);
  }

  addFolio(index: number, order: number, opts: { readahead: boolean }): RaAddResult {
    const r = filemapAddFolio(this.mapping, index, order);
    if (r.kind !== 'added') return r.kind;
    const folio = r.folio;
    if (opts.readahead) folio.set(PG_readahead);
    if (folio.nextIndex <= this.reqIndex || folio.index >= this.reqEnd) {
      folio.set(PG_raunread);
      folio.raOwner = this.file.fh;
    }
    this.batch.push(folio);
    return 'added';
  }

  readPages(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    if (!this.announced) this.announce();
    let pages = 0;
    for (const f of batch) pages += f.nrPages;
    const { cache } = this.mapping;
    readPages(this.mapping, batch);
    cache.stats.c.ra_pages += pages;
    cache.raAccount?.(this.file.fh, 'submitted', pages);
  }

  clearReadahead(folio: RaFolio): void {
    (folio as Folio).clear(PG_readahead);
  }

  private announce(): void {
    this.announced = true;
    const { stats, trace } = this.mapping.cache;
    if (this.trigger === 'async') stats.c.ra_async++;
    else stats.c.ra_sync++;
    countRaWindow(stats, this.reason);
    if (!trace.enabled && !dbg.ra.enabled) return;
    const ra = this.file.ra;
    const b = this.before;
    const same = ra.start === b.start && ra.size === b.size && ra.asyncSize === b.asyncSize && ra.order === b.order;
    const reason = this.opts.reason ?? (this.trigger === 'async' ? 'window' : ra.raPages === 0 ? 'forced' : same ? 'random' : 'window');
    if (dbg.ra.enabled) {
      dbg.ra('%s ino=%d index=%d req=%d -> {%d,%d,%d} %s order=%d', this.trigger, this.mapping.ino, this.index, this.reqCount, ra.start, ra.size, ra.asyncSize, reason, ra.order);
    }
    if (!trace.enabled) return;
    trace.emit(TraceEvent.ra, this.trigger, this.mapping.ino, this.file.fh, this.index, this.reqCount, ra.start, ra.size, ra.asyncSize, ra.order, reason);
  }
}
