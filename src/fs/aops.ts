/**
 * aheadfs' address_space_operations: how page-cache pages become bios (the kernel's
 * mpage_readpages / mpage_writepages for a block filesystem).
 *
 *   pages   [ 8 ][ 9 ][10 ][11 ][12 ]             file page indexes (one page = one block)
 *   extents  8..10 -> dev 500..502, 11 hole, 12 -> dev 900
 *   bios    read sector 4000, 3 segments  |  zero-fill 11  |  read sector 7200, 1 segment
 *
 * One bio per contiguous device run, never one per page (unless readpage is used, one
 * page at a time, and then the plug merges). Holes are zero-filled without I/O.
 *
 * Writes follow the ordered rule (like ext4 data=ordered): blocks for holes are reserved
 * in the allocator, the data is written, and only then are the extents attached to the
 * file in a committed transaction. A write that fails releases its reservations and
 * leaves the pages dirty; nothing committed ever points at unwritten blocks.
 */

import { bioAlloc, type Bio } from '../block/bio.js';
import { blkFinishPlug, blkStartPlug } from '../block/plug.js';
import type { RequestQueue } from '../block/queue.js';
import { fsError, toFsError } from '../errors.js';
import { PG_dirty, PG_error, PG_uptodate, PG_writeback, type Page } from '../mm/page.js';
import type { AddressSpaceLike, AddressSpaceOperations } from '../mm/types.js';
import { endPageWriteback, runIoCompletion, unlockPage } from '../mm/wait.js';
import { BLOCK_SIZE, type MetaStore } from './meta.js';

/** 4 KiB blocks are 8 sectors of 512 bytes. */
const SECTORS_PER_BLOCK = BLOCK_SIZE / 512;

/** Complete a read: the kernel's page_endio for reads. */
function endRead(page: Page, ok: boolean): void {
  if (ok) {
    page.clear(PG_error);
    page.set(PG_uptodate);
  } else {
    page.set(PG_error);
  }
  unlockPage(page);
}

function zeroFill(page: Page): void {
  page.data.fill(0);
  endRead(page, true);
}

export class AheadfsAops implements AddressSpaceOperations {
  constructor(
    private readonly meta: MetaStore,
    private readonly queue: RequestQueue,
  ) {}

  readpage(mapping: AddressSpaceLike, page: Page): void {
    this.readRun(mapping, [page]);
  }

  /**
   * Context: pages are locked, new, ascending and contiguous, inside the caller's plug.
   */
  readahead(mapping: AddressSpaceLike, pages: Page[]): void {
    this.readRun(mapping, pages);
  }

  private readRun(mapping: AddressSpaceLike, pages: Page[]): void {
    let maps;
    try {
      maps = this.meta.mapBlocks(mapping.ino, pages[0]!.index, pages.length);
    } catch {
      for (const p of pages) endRead(p, false); // the inode is gone: an I/O error for the waiters
      return;
    }
    const first = pages[0]!.index;
    for (const m of maps) {
      const run = pages.slice(m.fileBlock - first, m.fileBlock - first + m.len);
      if (m.devBlock === undefined) {
        for (const p of run) zeroFill(p);
        continue;
      }
      // mpage_end_io: every page of the bio is unlocked before any waiter resumes.
      const bio = bioAlloc('read', m.devBlock * SECTORS_PER_BLOCK, run.map((p) => p.data), (b: Bio) =>
        runIoCompletion(() => {
          const ok = b.status === undefined;
          for (const p of run) endRead(p, ok);
        }),
      );
      this.queue.submitBio(bio);
    }
  }

  /**
   * Write `pages` (locked, dirty, ascending) through to the device, then attach the
   * blocks newly allocated for holes in one committed transaction, with the file's
   * current size. Resolves when data and metadata are both done.
   */
  async writepages(mapping: AddressSpaceLike, pages: Page[]): Promise<void> {
    const ino = mapping.ino;
    // 1. Map every page, reserving blocks for holes, before any I/O: an ENOSPC leaves
    //    nothing half-written.
    const writes: { devBlock: number; pages: Page[] }[] = [];
    const attach: { fileBlock: number; devBlock: number; len: number }[] = [];
    const reserved: { start: number; len: number }[] = [];
    try {
      for (const run of contiguousRuns(pages)) {
        const first = run[0]!.index;
        for (const m of this.meta.mapBlocks(ino, first, run.length)) {
          const runPages = run.slice(m.fileBlock - first, m.fileBlock - first + m.len);
          if (m.devBlock !== undefined) {
            writes.push({ devBlock: m.devBlock, pages: runPages });
            continue;
          }
          let fileBlock = m.fileBlock;
          for (const r of this.meta.allocateBlocks(ino, m.fileBlock, m.len)) {
            reserved.push(r);
            writes.push({ devBlock: r.start, pages: runPages.slice(fileBlock - m.fileBlock, fileBlock - m.fileBlock + r.len) });
            attach.push({ fileBlock, devBlock: r.start, len: r.len });
            fileBlock += r.len;
          }
        }
      }
    } catch (err) {
      this.meta.unreserve(reserved);
      throw toFsError(err);
    }

    // 2. Submit every write inside one plug (no await in between), then wait.
    const done: Promise<boolean>[] = [];
    const plug = blkStartPlug();
    for (const w of writes) {
      for (const p of w.pages) {
        p.clear(PG_dirty);
        p.set(PG_writeback);
      }
      done.push(
        new Promise<boolean>((resolve) => {
          this.queue.submitBio(
            bioAlloc('write', w.devBlock * SECTORS_PER_BLOCK, w.pages.map((p) => p.data), (b: Bio) =>
              runIoCompletion(() => {
                const ok = b.status === undefined;
                for (const p of w.pages) {
                  if (!ok) p.set(PG_dirty | PG_error);
                  endPageWriteback(p);
                }
                resolve(ok);
              }),
            ),
          );
        }),
      );
    }
    blkFinishPlug(plug);
    const results = await Promise.all(done);
    if (results.includes(false)) {
      this.meta.unreserve(reserved);
      throw fsError('EIO', `write of inode ${ino} failed on the device`);
    }

    // 3. Data is on the device: now the metadata may point at it.
    await this.meta.attachExtents(ino, attach, mapping.host.size);
  }
}

/** Split ascending pages into runs of consecutive indexes. */
function contiguousRuns(pages: Page[]): Page[][] {
  const runs: Page[][] = [];
  let cur: Page[] = [];
  for (const p of pages) {
    if (cur.length && p.index !== cur[cur.length - 1]!.index + 1) {
      runs.push(cur);
      cur = [];
    }
    cur.push(p);
  }
  if (cur.length) runs.push(cur);
  return runs;
}
