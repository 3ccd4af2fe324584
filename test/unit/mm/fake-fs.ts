/**
 * Test helpers for the mm unit tests: a fake filesystem (AddressSpaceOperations over an
 * in-memory "disk") and a factory for a small page cache. No FUSE, no block layer.
 *
 * The disk: bytes [0, baseSize) hold `pattern(pos)`, every page written through
 * writepages is stored as is, everything else reads as zeros. readpage completes
 *   'sync'   before it returns,
 *   'tick'   on a later tick (setImmediate),
 *   'manual' when the test calls completeAll()/complete(n),
 * and fails (PG_error) for a folio holding any index in `failIndexes`. A large folio is
 * filled whole (the written-page map holds order-0 pages only).
 */

import { FsError } from '../../../src/errors.js';
import type { Folio } from '../../../src/mm/folio.js';
import { PAGE_SIZE, PG_dirty, PG_error, PG_uptodate, PG_writeback } from '../../../src/mm/page.js';
import { filemapAddFolio, PageCache, type AddressSpace, type AddressSpaceOperations } from '../../../src/mm/pagecache.js';
import { fileRaStateInit, type BackingDevInfo, type InodeHost, type MmFile } from '../../../src/mm/types.js';
import { folioEndWriteback, folioUnlock } from '../../../src/mm/wait.js';
import { Stats } from '../../../src/stats/registry.js';
import { Trace } from '../../../src/stats/trace.js';

export type Completion = 'sync' | 'tick' | 'manual';

/** The byte at file position `pos` of the base content: not periodic in 4 KiB. */
export function pattern(pos: number): number {
  return (pos % 251 ^ Math.floor(pos / PAGE_SIZE) % 256) & 255;
}

export function expected(pos: number, len: number, baseSize: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = pos + i < baseSize ? pattern(pos + i) : 0;
  return out;
}

export class FakeFs implements AddressSpaceOperations {
  mode: Completion = 'sync';
  readonly failIndexes = new Set<number>();
  /** readpage calls, in order, by page index. */
  readonly readpageIndexes: number[] = [];
  /** writepages calls: the page indexes of each call. */
  readonly writepagesCalls: number[][] = [];
  /** When set, writepages rejects with it (pages stay dirty). */
  writeError: FsError | undefined = undefined;
  /** Reads started but not completed ('manual' mode). */
  readonly pending: Folio[] = [];
  readonly written = new Map<number, Uint8Array>();
  /** When set, bytes past the data read as this value instead of 0 (a filesystem that does not zero tails). */
  tailGarbage: number | undefined = undefined;

  constructor(public baseSize: number) {}

  /** What a real filesystem does on truncate: forget the data past `size` on the device. */
  truncate(size: number): void {
    this.baseSize = Math.min(this.baseSize, size);
    for (const [index, data] of this.written) {
      if (index * PAGE_SIZE >= size) this.written.delete(index);
      else if ((index + 1) * PAGE_SIZE > size) data.fill(0, size - index * PAGE_SIZE);
    }
  }

  get readpageCalls(): number {
    return this.readpageIndexes.length;
  }

  /** Fill the frame from the disk (zeros past the data), as a real readpage does. */
  private fill(page: Folio): void {
    const w = this.written.get(page.index);
    if (w) {
      page.data.set(w);
      return;
    }
    const start = page.index * PAGE_SIZE;
    const past = this.tailGarbage ?? 0;
    for (let i = 0; i < page.data.length; i++) page.data[i] = start + i < this.baseSize ? pattern(start + i) : past;
  }

  /** End the read of `page`: uptodate or PG_error, then unlock (wakes the waiters). */
  finish(page: Folio): void {
    let fail = false;
    for (let i = page.index; i < page.nextIndex; i++) fail ||= this.failIndexes.has(i);
    if (fail) page.set(PG_error);
    else {
      this.fill(page);
      page.set(PG_uptodate);
    }
    folioUnlock(page);
  }

  readFolio(_mapping: AddressSpace, page: Folio): void {
    this.readpageIndexes.push(page.index);
    switch (this.mode) {
      case 'sync':
        this.finish(page);
        break;
      case 'tick':
        setImmediate(() => this.finish(page));
        break;
      case 'manual':
        this.pending.push(page);
        break;
    }
  }

  /** Complete the first `n` pending reads (all by default). */
  completeAll(n = this.pending.length): void {
    for (const page of this.pending.splice(0, n)) this.finish(page);
  }

  async writepages(_mapping: AddressSpace, pages: Folio[]): Promise<void> {
    this.writepagesCalls.push(pages.map((p) => p.index));
    await new Promise((r) => setImmediate(r));
    if (this.writeError) throw this.writeError;
    for (const page of pages) {
      page.set(PG_writeback);
      page.clear(PG_dirty);
      this.written.set(page.index, Uint8Array.from(page.data));
    }
    await new Promise((r) => setImmediate(r));
    for (const page of pages) folioEndWriteback(page);
  }
}

export const bdi: BackingDevInfo = { raPages: 0, ioPages: 32, readCongested: () => false };

export interface Rig {
  cache: PageCache;
  stats: Stats;
  trace: Trace;
  fs: FakeFs;
  host: InodeHost;
  mapping: AddressSpace;
  /** An open file with readahead off (raPages = 0): every miss reads exactly one page. */
  file: MmFile;
}

export function rig(opts: { frames?: number; size?: number; ino?: number } = {}): Rig {
  const stats = new Stats();
  const trace = new Trace(4096);
  const cache = new PageCache({ cacheBytes: (opts.frames ?? 64) * PAGE_SIZE, stats, trace, bdi });
  const size = opts.size ?? 10 * PAGE_SIZE + 123;
  const fs = new FakeFs(size);
  const host: InodeHost = { ino: opts.ino ?? 7, size };
  const mapping = cache.mapping(host, fs);
  return { cache, stats, trace, fs, host, mapping, file: { fh: 1, ra: fileRaStateInit(0) } };
}

/** A fresh open file (prev_pos = -1) with readahead off. */
export function openFile(fh = 2): MmFile {
  return { fh, ra: fileRaStateInit(0) };
}

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A new order-0 folio at `index` (locked, not uptodate), or undefined if it exists or no frame is free. */
export function addFolio(mapping: AddressSpace, index: number): Folio | undefined {
  const r = filemapAddFolio(mapping, index, 0);
  return r.kind === 'added' ? r.folio : undefined;
}
