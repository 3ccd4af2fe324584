/**
 * The flusher and the sync paths (fs/fs-writeback.c of Linux 6.18: wb_workfn,
 * wb_do_writeback, wb_check_background_flush, wb_check_old_data_flush,
 * writeback_sb_inodes, sync_inodes_sb; mm/filemap.c: filemap_write_and_wait_range,
 * filemap_fdatawait). Dirty accounting and the throttle are page-writeback.ts.
 *
 *   wakeup (background threshold passed, a throttled writer, no free frame)
 *   timer  (every dirty_writeback_centisecs)          ──> Flusher.run: while there is work
 *       background: dirty + writeback > background threshold -> oldest dirty inodes first
 *       kupdate:    inodes dirty longer than dirty_expire_centisecs
 *     ──> writebackBatch(up to WB_BATCH_PAGES pages from one or more inodes)
 *
 *   writebackBatch:  writeCachePages per inode (PG_dirty -> PG_writeback)
 *                    blkStartPlug; aops.writebackStart per inode (bios); blkFinishPlug
 *                    await aops.writebackCommit(all)   data of ALL done -> ONE metadata txn
 *                    endWritebackBatch                 PG_writeback off, errors to errseq
 *
 *   fsync:   filemapWriteAndWait(mapping): batches of its dirty folios (WB_SYNC_ALL, waits
 *            for locks), then waits for every folio of it still under writeback (the
 *            flusher's), whose end comes after its metadata commit.
 *   syncfs / umount: syncInodes: the same for every dirty inode.
 *
 * The flusher runs one batch at a time; fsync and sync callers run their own batches
 * beside it (as a task calling fsync does in the kernel).
 */

import { blkFinishPlug, blkStartPlug } from '../block/plug.js';
import type { Folio } from './folio.js';
import { PAGE_SIZE, PG_writeback } from './page.js';
import { endWritebackBatch, WB_BATCH_PAGES, writeCachePages, type WbSyncMode } from './page-writeback.js';
import type { AddressSpace, PageCache, WritebackIo } from './pagecache.js';
import { folioWaitBitAsync } from './wait.js';

/** Why a batch was written (the trace's reason=, the kernel's wb_reason). */
export type WbReason = 'background' | 'periodic' | 'fsync' | 'sync' | 'vmscan';

/**
 * One writeback batch: the dirty folios of `parts` (already under PG_writeback, from
 * writeCachePages) written with one plug, their metadata committed in one transaction
 * after all the data completed, then their writeback ended.
 */
export async function writebackBatch(cache: PageCache, parts: readonly { mapping: AddressSpace; folios: Folio[] }[], reason: WbReason): Promise<void> {
  const todo = parts.filter((p) => p.folios.length > 0);
  if (todo.length === 0) return;
  const ios: WritebackIo[] = [];
  const plug = blkStartPlug();
  try {
    for (const { mapping, folios } of todo) {
      for (const f of folios) mapping.writebackFolios.add(f);
      const start = mapping.aops.writebackStart;
      if (start === undefined) throw new Error(`inode ${mapping.ino}: its filesystem has no writeback`);
      ios.push(start.call(mapping.aops, mapping, folios));
    }
  } finally {
    blkFinishPlug(plug);
  }
  const commit = ios[0]!.mapping.aops.writebackCommit;
  if (commit === undefined) throw new Error('the filesystem has no writebackCommit');
  await commit.call(ios[0]!.mapping.aops, ios);
  let pages = 0;
  let failedPages = 0;
  for (const io of ios) {
    for (const f of io.folios) {
      io.mapping.writebackFolios.delete(f);
      if (io.failed.has(f)) failedPages += f.nrPages;
      else pages += f.nrPages;
    }
    endWritebackBatch(cache, io.folios, io.failed, io.errorCode);
  }
  const { c } = cache.stats;
  c.wb_batches++;
  c.wb_pages += pages;
  c.wb_bytes += pages * PAGE_SIZE;
  c.wb_errors += failedPages;
  if (cache.trace.enabled) {
    const inodes = ios.map((io) => `${io.mapping.ino}:${io.folios.length}`).join(',');
    cache.trace.emitText(`writeback reason=${reason} inodes=${inodes} pages=${pages} failed=${failedPages} dirty=${cache.wb?.nrDirty ?? 0} writeback=${cache.wb?.nrWriteback ?? 0}`);
  }
}

/** filemap_fdatawait: resolves when no folio of `mapping` is under writeback by a batch. */
export async function filemapFdatawait(mapping: AddressSpace): Promise<void> {
  for (;;) {
    const folio = mapping.writebackFolios.values().next().value;
    if (folio === undefined) return;
    await new Promise<void>((resolve) => folioWaitBitAsync(folio, PG_writeback, resolve));
    mapping.writebackFolios.delete(folio); // ended (the batch deletes it too; harmless twice)
  }
}

/**
 * filemap_write_and_wait (fsync's data part): write back every folio of `mapping` dirty
 * now, in batches, and wait for those the flusher has in flight. Resolves when all of it
 * is on the device with its metadata committed. Errors are not thrown: they are in the
 * mapping's errseq for the caller's file_check_and_advance_wb_err.
 */
export async function filemapWriteAndWait(mapping: AddressSpace, reason: WbReason = 'fsync'): Promise<void> {
  if (mapping.cache.wb === undefined) return;
  // tag_pages_for_writeback: what is dirty now, and only that (a writer that keeps
  // dirtying the file cannot keep fsync going).
  const toWrite = new Set(mapping.dirtyTag);
  for (;;) {
    const folios = await writeCachePages(mapping, 'all' satisfies WbSyncMode, WB_BATCH_PAGES, toWrite);
    if (folios.length === 0) break;
    for (const f of folios) toWrite.delete(f.index);
    await writebackBatch(mapping.cache, [{ mapping, folios }], reason);
  }
  await filemapFdatawait(mapping);
}

/** sync_inodes_sb (syncfs, sync, umount): write back every dirty inode and wait for all writeback. */
export async function syncInodes(cache: PageCache): Promise<void> {
  const wb = cache.wb;
  if (wb === undefined) return;
  for (const mapping of [...wb.bDirty]) await filemapWriteAndWait(mapping, 'sync');
  for (const mapping of cache.mappingsWithWriteback()) await filemapFdatawait(mapping);
}

/**
 * The flusher (wb_workfn): one async loop per cache, started by `wakeup` and by the
 * periodic timer. Each turn writes one batch of up to WB_BATCH_PAGES pages: while over
 * the background threshold, from the inodes dirtied longest ago; otherwise only from
 * inodes dirty for longer than dirty_expire_centisecs.
 */
/** The longest delay a Node timer takes (2^31-1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Flusher {
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private timerCs = -1;
  private stopped = false;

  constructor(private readonly cache: PageCache) {
    const wb = cache.wb;
    if (wb === undefined) throw new Error('Flusher: the cache has no writeback');
    wb.wakeup = () => this.wakeup();
    this.armTimer();
  }

  /** (Re)arm the periodic timer for dirty_writeback_centisecs (0: none). Called again when the knob changes. */
  armTimer(): void {
    const cs = this.cache.wb!.knobs.dirtyWritebackCentisecs;
    if (cs === this.timerCs || this.stopped) return;
    this.timerCs = cs;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (cs === 0) return;
    // setInterval takes at most 2^31-1 ms (24.8 days; a larger delay fires after 1 ms);
    // the knob goes to 2^31-1 cs as the kernel's: a longer interval waits the longest a timer can.
    this.timer = setInterval(() => this.wakeup(), Math.min(cs * 10, MAX_TIMER_MS));
    this.timer.unref();
  }

  /** wb_wakeup: make sure a run is going (or goes once more). */
  wakeup(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => void this.run());
  }

  /** Stop the timer and further runs (umount; syncInodes writes what is left). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        this.again = false;
        const did = await this.oneBatch();
        if (!did && !this.again) break;
      }
    } catch (err) {
      // A batch never throws for I/O errors (they go to errseq); anything else is a bug.
      process.emitWarning(`aheadfs flusher: ${(err as Error).stack ?? String(err)}`);
    } finally {
      this.running = false;
    }
  }

  /** wb_do_writeback, one step: write one batch if there is work; false when there is none. */
  private async oneBatch(): Promise<boolean> {
    const wb = this.cache.wb!;
    if (this.stopped) return false;
    const background = wb.overBackground();
    const expireMs = wb.knobs.dirtyExpireCentisecs * 10;
    const now = Date.now();
    const parts: { mapping: AddressSpace; folios: Folio[] }[] = [];
    let room = WB_BATCH_PAGES;
    for (const mapping of [...wb.bDirty]) {
      if (room <= 0) break;
      if (!background && now - mapping.dirtiedWhen < expireMs) break; // b_dirty is in dirtied_when order
      const folios = await writeCachePages(mapping, 'none', room);
      for (const f of folios) room -= f.nrPages;
      // requeue_inode: still dirty -> to the tail of b_dirty (others get their turn)
      if (mapping.dirtyTag.size > 0) {
        wb.bDirty.delete(mapping);
        wb.bDirty.add(mapping);
        if (folios.length > 0) mapping.dirtiedWhen = now;
      }
      parts.push({ mapping, folios });
    }
    if (parts.every((p) => p.folios.length === 0)) return false;
    await writebackBatch(this.cache, parts, background ? 'background' : 'periodic');
    return true;
  }
}
