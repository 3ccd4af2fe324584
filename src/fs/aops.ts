/**
 * aheadfs' address_space_operations (6.18: read_folio, readahead, writepages): how
 * page-cache folios become bios (the kernel's mpage_readahead / mpage_writepages for a
 * block filesystem). A folio is cut into its pages (one page = one block) to map them;
 * a folio whose pages span several extents or a hole is ended once, after its last part.
 *
 *   pages   [ 8 ][ 9 ][10 ][11 ][12 ]             file page indexes (one page = one block)
 *   extents  8..10 -> dev 500..502, 11 hole, 12 -> dev 900
 *   bios    read sector 4000, 3 segments  |  zero-fill 11  |  read sector 7200, 1 segment
 *
 * One bio per contiguous device run, never one per page (unless read_folio is used, one
 * folio at a time, and then the plug merges). Holes are zero-filled without I/O. The bios'
completions run in the block layer's completion context (bioEndIo enters it), so every
folio of a bio is ended before any waiting reader resumes.
 *
 * Writes follow the ordered rule (like ext4 data=ordered): blocks for holes are reserved
 * in the allocator, the data is written, and only then are the extents attached to the
 * file in a committed transaction. A write that fails releases its reservations and
 * leaves the pages dirty; nothing committed ever points at unwritten blocks.
 */

import { bioAlloc, type Bio } from '../block/bio.js';
import { blkFinishPlug, blkStartPlug } from '../block/plug.js';
import { blkdevIssueFlush, type RequestQueue } from '../block/queue.js';
import { fsError, toFsError } from '../errors.js';
import type { Folio } from '../mm/folio.js';
import { PAGE_SIZE, PG_dirty, PG_error, PG_writeback } from '../mm/page.js';
import { folioEndRead, type AddressSpace, type AddressSpaceOperations, type WritebackIo } from '../mm/pagecache.js';
import { folioClearDirtyForIo, releaseDelalloc } from '../mm/page-writeback.js';
import { folioEndWriteback } from '../mm/wait.js';
import { BLOCK_SIZE, type AttachItem, type Extent, type MetaStore, type Run } from './meta.js';

/** 4 KiB blocks are 8 sectors of 512 bytes. */
const SECTORS_PER_BLOCK = BLOCK_SIZE / 512;

/**
 * One page of a folio: the unit the block map works in (one page = one block). A large
 * folio is ended once, when the last of its pages' I/O is done (folio_end_read), with
 * success only if every part succeeded.
 */
interface PageSlot {
  readonly folio: Folio;
  readonly index: number;
  readonly data: Uint8Array;
}

/** The pages of ascending folios, each a view into its folio (order-0 folios: the folio's own view). */
function pageSlots(folios: Folio[]): PageSlot[] {
  const slots: PageSlot[] = [];
  for (const folio of folios) {
    if (folio.order === 0) {
      slots.push({ folio, index: folio.index, data: folio.data });
      continue;
    }
    for (let i = 0; i < folio.nrPages; i++) slots.push({ folio, index: folio.index + i, data: folio.data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE) });
  }
  return slots;
}

/** Counts down the outstanding parts of each folio of a read and ends it after the last. */
class ReadCompletion {
  private readonly left = new Map<Folio, { n: number; ok: boolean }>();

  constructor(slots: PageSlot[]) {
    for (const s of slots) {
      const e = this.left.get(s.folio);
      if (e) e.n++;
      else this.left.set(s.folio, { n: 1, ok: true });
    }
  }

  /** The I/O of `slots` finished (ok or not): end every folio whose last page this was. */
  done(slots: readonly PageSlot[], ok: boolean): void {
    for (const s of slots) {
      const e = this.left.get(s.folio)!;
      if (!ok) e.ok = false;
      if (--e.n === 0) folioEndRead(s.folio, e.ok);
    }
  }
}

export class AheadfsAops implements AddressSpaceOperations {
  constructor(
    private readonly meta: MetaStore,
    private readonly queue: RequestQueue,
  ) {}

  readFolio(mapping: AddressSpace, folio: Folio): void {
    this.readRun(mapping, [folio]);
  }

  /**
   * Context: folios are locked, new, ascending and contiguous, inside the caller's plug.
   */
  readahead(mapping: AddressSpace, folios: Folio[]): void {
    this.readRun(mapping, folios);
  }

  private readRun(mapping: AddressSpace, folios: Folio[]): void {
    const slots = pageSlots(folios);
    const completion = new ReadCompletion(slots);
    let maps;
    try {
      maps = this.meta.mapBlocks(mapping.ino, slots[0]!.index, slots.length);
    } catch {
      completion.done(slots, false); // the inode is gone: an I/O error for the waiters
      return;
    }
    const first = slots[0]!.index;
    for (const m of maps) {
      const run = slots.slice(m.fileBlock - first, m.fileBlock - first + m.len);
      if (m.devBlock === undefined) {
        for (const s of run) s.data.fill(0);
        completion.done(run, true);
        continue;
      }
      // mpage_end_io: runs in the block layer's completion context (bioEndIo), so every
      // folio of the bio is ended before any waiter resumes.
      const bio = bioAlloc('read', m.devBlock * SECTORS_PER_BLOCK, run.map((s) => s.data), (b: Bio) => completion.done(run, b.status === undefined));
      this.queue.submitBio(bio);
    }
  }

  /**
   * Write `folios` (locked, dirty, ascending) through to the device, then attach the
   * blocks newly allocated for holes in one committed transaction, with the file's
   * current size. Resolves when data and metadata are both done.
   */
  async writepages(mapping: AddressSpace, folios: Folio[]): Promise<void> {
    const ino = mapping.ino;
    // 1. Map every page, reserving blocks for holes, before any I/O: an ENOSPC leaves
    //    nothing half-written.
    const writes: { devBlock: number; slots: PageSlot[] }[] = [];
    const attach: { fileBlock: number; devBlock: number; len: number }[] = [];
    const reserved: { start: number; len: number }[] = [];
    try {
      for (const run of contiguousRuns(pageSlots(folios))) {
        const first = run[0]!.index;
        for (const m of this.meta.mapBlocks(ino, first, run.length)) {
          const runSlots = run.slice(m.fileBlock - first, m.fileBlock - first + m.len);
          if (m.devBlock !== undefined) {
            writes.push({ devBlock: m.devBlock, slots: runSlots });
            continue;
          }
          let fileBlock = m.fileBlock;
          for (const r of this.meta.allocateBlocks(ino, m.fileBlock, m.len)) {
            reserved.push(r);
            writes.push({ devBlock: r.start, slots: runSlots.slice(fileBlock - m.fileBlock, fileBlock - m.fileBlock + r.len) });
            attach.push({ fileBlock, devBlock: r.start, len: r.len });
            fileBlock += r.len;
          }
        }
      }
    } catch (err) {
      this.meta.unreserve(reserved);
      throw toFsError(err);
    }

    // 2. Submit every write inside one plug (no await in between), then wait. A folio is
    //    under writeback until the last bio with one of its pages completes.
    const parts = new Map<Folio, number>();
    for (const w of writes) for (const s of w.slots) parts.set(s.folio, (parts.get(s.folio) ?? 0) + 1);
    for (const folio of parts.keys()) {
      folioClearDirtyForIo(folio); // also untags a folio a writeback mount had dirtied
      releaseDelalloc(folio); // its blocks are allocated above
      folio.set(PG_writeback);
    }
    const done: Promise<boolean>[] = [];
    const plug = blkStartPlug();
    for (const w of writes) {
      done.push(
        new Promise<boolean>((resolve) => {
          this.queue.submitBio(
            bioAlloc('write', w.devBlock * SECTORS_PER_BLOCK, w.slots.map((s) => s.data), (b: Bio) => {
              const ok = b.status === undefined;
              for (const s of w.slots) {
                if (!ok) s.folio.set(PG_dirty | PG_error);
                const left = parts.get(s.folio)! - 1;
                parts.set(s.folio, left);
                if (left === 0) folioEndWriteback(s.folio);
              }
              resolve(ok);
            }),
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

  delallocPages(mapping: AddressSpace, folio: Folio): number {
    let holes = 0;
    try {
      for (const m of this.meta.mapBlocks(mapping.ino, folio.index, folio.nrPages)) if (m.devBlock === undefined) holes += m.len;
    } catch {
      return 0; // no inode: the writeback will fail and say so
    }
    return holes;
  }

  freeBlocks(): number {
    return this.meta.freeBlocks;
  }

  /**
   * Writeback's half of mpage_writepages: map every page of `folios` (reserving blocks for
   * holes, goal-contiguous with the file), and submit one write bio per contiguous device
   * run into the caller's plug. Folios stay under PG_writeback; the caller ends it after
   * writebackCommit. A folio that cannot be mapped (ENOSPC, a failed store) fails without I/O.
   */
  writebackStart(mapping: AddressSpace, folios: Folio[]): WritebackIo {
    const io = new AheadWritebackIo(mapping, folios);
    const ino = mapping.ino;
    const fail = (slots: readonly PageSlot[], err: unknown): void => {
      const code = toFsError(err).code;
      io.errorCode = code === 'ENOSPC' ? 'ENOSPC' : 'EIO';
      for (const s of slots) io.failed.add(s.folio);
    };
    for (const run of contiguousRuns(pageSlots(folios))) {
      const first = run[0]!.index;
      let maps;
      try {
        maps = this.meta.mapBlocks(ino, first, run.length);
      } catch (err) {
        fail(run, err);
        continue;
      }
      for (const m of maps) {
        const runSlots = run.slice(m.fileBlock - first, m.fileBlock - first + m.len);
        if (m.devBlock !== undefined) {
          io.writes.push({ devBlock: m.devBlock, slots: runSlots, ok: false });
          continue;
        }
        let runs: Run[];
        try {
          runs = this.meta.allocateBlocks(ino, m.fileBlock, m.len);
        } catch (err) {
          fail(runSlots, err);
          continue;
        }
        let fileBlock = m.fileBlock;
        for (const r of runs) {
          const slots = runSlots.slice(fileBlock - m.fileBlock, fileBlock - m.fileBlock + r.len);
          io.writes.push({ devBlock: r.start, slots, ok: false, attach: { fileBlock, devBlock: r.start, len: r.len } });
          fileBlock += r.len;
        }
      }
    }
    const done = io.writes.map(
      (w) =>
        new Promise<void>((resolve) => {
          this.queue.submitBio(
            bioAlloc('write', w.devBlock * SECTORS_PER_BLOCK, w.slots.map((s) => s.data), (b: Bio) => {
              w.ok = b.status === undefined;
              if (!w.ok) {
                io.errorCode = 'EIO';
                for (const s of w.slots) io.failed.add(s.folio);
              }
              resolve();
            }),
          );
        }),
    );
    io.data = Promise.all(done).then(() => undefined);
    return io;
  }

  /**
   * After every io's data completed: one transaction attaching the blocks of the writes
   * that succeeded, for all the files of the batch; the blocks of failed writes are
   * unreserved. A file's i_size on disk grows at most to the end of its last folio
   * written in this batch (ext4's i_disksize), never past data that is not there.
   */
  async writebackCommit(ios: readonly WritebackIo[]): Promise<void> {
    const mine = ios.map((io) => {
      if (!(io instanceof AheadWritebackIo)) throw new Error('writebackCommit: an io from another filesystem');
      return io;
    });
    await Promise.all(mine.map((io) => io.data));
    const items: AttachItem[] = [];
    const unreserve: Run[] = [];
    const attached: Run[] = [];
    for (const io of mine) {
      const maps: Extent[] = [];
      for (const w of io.writes) {
        if (w.attach === undefined) continue;
        // A run of a failed folio is not attached even if its own bio succeeded: the
        // folio's data is only partly there.
        if (w.ok && w.slots.every((s) => !io.failed.has(s.folio))) {
          maps.push(w.attach);
          attached.push({ start: w.attach.devBlock, len: w.attach.len });
        } else unreserve.push({ start: w.attach.devBlock, len: w.attach.len });
      }
      let end = 0;
      for (const f of io.folios) if (!io.failed.has(f)) end = Math.max(end, f.pos + f.size);
      items.push({ ino: io.mapping.ino, maps, newSize: Math.min(io.mapping.host.size, end), keepTimes: true });
    }
    this.meta.unreserve(unreserve);
    try {
      // The ordered rule across a power loss (jbd2's flush before its commit block): data
      // written into new blocks is made durable (REQ_PREFLUSH) before the metadata that
      // points at it commits. Without it the volatile cache of a disk, or an NBD server,
      // could lose the data while the extents survive, and the file would show whatever
      // those blocks held before (another file's old bytes).
      if (attached.length > 0) await blkdevIssueFlush(this.queue);
      await this.meta.attachExtentsBatch(items);
    } catch (err) {
      // Checked before any change: the runs are still reserved. (A failed commit turns the
      // store failing; its runs stay reserved until the remount.)
      if (attached.every((r) => this.meta.isReserved(r))) this.meta.unreserve(attached);
      for (const io of mine) {
        io.errorCode = 'EIO';
        for (const f of io.folios) io.failed.add(f);
      }
      void err;
    }
  }
}

/** One write bio of a writeback io, and the extent to attach if it was a hole. */
interface WbWrite {
  readonly devBlock: number;
  readonly slots: PageSlot[];
  ok: boolean;
  readonly attach?: Extent;
}

class AheadWritebackIo implements WritebackIo {
  readonly failed = new Set<Folio>();
  errorCode: 'EIO' | 'ENOSPC' = 'EIO';
  data: Promise<void> = Promise.resolve();
  readonly writes: WbWrite[] = [];
  constructor(
    readonly mapping: AddressSpace,
    readonly folios: readonly Folio[],
  ) {}
}

/** Split ascending pages into runs of consecutive indexes. */
function contiguousRuns(pages: PageSlot[]): PageSlot[][] {
  const runs: PageSlot[][] = [];
  let cur: PageSlot[] = [];
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
