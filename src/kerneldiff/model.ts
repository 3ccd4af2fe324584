/**
 * The model side of `aheadfs kernel-diff --model`: the pattern's reads go through the
 * 6.18 readahead module (src/mm/readahead-v6.ts) over a plain in-memory page cache, with
 * a small copy of 6.18's read loop (mm/filemap.c filemap_read -> filemap_get_pages ->
 * filemap_get_read_batch / page_cache_sync_ra / filemap_create_folio / filemap_readahead).
 *
 * It checks the readahead algorithm alone: I/O completes at once (a folio is uptodate as
 * soon as read_pages submits it) and allocation always succeeds, at any order up to the
 * mapping's maximum. The kernel's decisions do not depend on I/O timing: a batch ends at
 * the first folio that is not uptodate or carries PG_readahead, so the marker folio is
 * always the last one of some batch, whenever its I/O completes.
 */

import { PAGE_SHIFT } from '../mm/page.js';
import {
  fileRaState618Init,
  pageCacheAsyncRa,
  pageCacheSyncRa,
  readaheadControl,
  type FileRaState618,
  type RaAddResult,
  type RaFolio,
  type RaMapping,
  type RaTraceSink,
} from '../mm/readahead-v6.js';
import { formatEvent } from '../stats/trace.js';
import { parseRaTrace, type RaEvent } from './events.js';
import type { QueueSettings } from './kernel.js';
import type { Pattern } from './patterns.js';

const PAGE = 2 ** PAGE_SHIFT;
/** PAGEVEC_SIZE in 6.18: a folio_batch holds at most 31 folios. */
const FOLIO_BATCH = 31;
/** MAX_PAGECACHE_ORDER for x86-64 with 4 KiB pages (include/linux/pagemap.h). */
export const MAX_PAGECACHE_ORDER = 9;

interface MemFolio extends RaFolio {
  uptodate: boolean;
  readahead: boolean;
}

/** A page cache that is a Map from every page index to the folio holding it. */
export class MemPageCache implements RaMapping {
  readonly minOrder = 0;
  private readonly pages = new Map<number, MemFolio>();
  private pending: MemFolio[] = [];
  /** Every folio added, in order (index, order): what the model allocated. */
  readonly added: { index: number; order: number }[] = [];

  constructor(
    readonly ino: number,
    readonly isize: number,
    readonly maxOrder = MAX_PAGECACHE_ORDER,
  ) {}

  folioAt(index: number): MemFolio | undefined {
    return this.pages.get(index);
  }

  addFolio(index: number, order: number, opts: { readahead: boolean }): RaAddResult {
    const n = 2 ** order;
    if (index % n !== 0) throw new Error(`folio of order ${order} at unaligned index ${index}`);
    for (let i = 0; i < n; i++) if (this.pages.has(index + i)) return 'exists';
    const folio: MemFolio = { index, order, uptodate: false, readahead: opts.readahead, writeback: false };
    for (let i = 0; i < n; i++) this.pages.set(index + i, folio);
    this.pending.push(folio);
    this.added.push({ index, order });
    return 'added';
  }

  /** The I/O completes at once. */
  readPages(): void {
    for (const f of this.pending) f.uptodate = true;
    this.pending = [];
  }

  clearReadahead(folio: RaFolio): void {
    (folio as MemFolio).readahead = false;
  }
}

/** An open file of the model: its cache, readahead state, FMODE_RANDOM. */
export interface ModelFile {
  readonly cache: MemPageCache;
  readonly ra: FileRaState618;
  readonly random: boolean;
}

/** filemap_get_read_batch (6.18): folios from `index` up to `max`, stopping after one that is not uptodate or has PG_readahead. */
function getReadBatch(cache: MemPageCache, index: number, max: number): MemFolio[] {
  const batch: MemFolio[] = [];
  let at = index;
  while (at <= max && batch.length < FOLIO_BATCH) {
    const folio = cache.folioAt(at);
    if (!folio) break;
    batch.push(folio);
    if (!folio.uptodate || folio.readahead) break;
    at = folio.index + 2 ** folio.order;
  }
  return batch;
}

/**
 * The 6.18 read loop (filemap_read with filemap_get_pages inlined) for one pread of
 * `count` bytes at `pos`; returns the bytes read.
 */
export function modelRead(file: ModelFile, pos: number, count: number, opts: { ioPages: number; trace: RaTraceSink }): number {
  const { cache, ra } = file;
  let lastPos = ra.prevPos;
  let done = 0;
  if (count === 0) return 0;
  while (count > 0) {
    if (pos >= cache.isize) break;
    // filemap_get_pages
    const index = Math.floor(pos / PAGE);
    const lastIndex = Math.ceil((pos + count) / PAGE); // the page beyond the end of the read
    let batch = getReadBatch(cache, index, lastIndex - 1);
    if (batch.length === 0) {
      const ractl = readaheadControl({ mapping: cache, ra, file: { random: file.random }, ioPages: opts.ioPages, trace: opts.trace, index });
      pageCacheSyncRa(ractl, lastIndex - index);
      batch = getReadBatch(cache, index, lastIndex - 1);
    }
    if (batch.length === 0) {
      // filemap_create_folio: one min-order folio, read with read_folio (no trace event).
      const res = cache.addFolio(index, cache.minOrder, { readahead: false });
      if (res !== 'added') throw new Error(`model: cannot create the folio at ${index}: ${res}`);
      cache.readPages();
      batch = [cache.folioAt(index)!];
    }
    const last = batch[batch.length - 1]!;
    if (last.readahead) {
      // filemap_readahead
      const ractl = readaheadControl({ mapping: cache, ra, file: { random: file.random }, ioPages: opts.ioPages, trace: opts.trace, index: last.index });
      pageCacheAsyncRa(ractl, last, lastIndex - last.index);
    }
    // Copy out of the batch.
    const endOffset = Math.min(cache.isize, pos + count);
    for (const folio of batch) {
      const fsize = PAGE * 2 ** folio.order;
      if (endOffset < folio.index * PAGE) break;
      const offset = pos % fsize;
      const bytes = Math.min(endOffset - pos, fsize - offset);
      pos += bytes;
      count -= bytes;
      done += bytes;
      lastPos = pos;
    }
    if (pos >= cache.isize) break;
  }
  ra.prevPos = lastPos;
  return done;
}

/** Run a pattern through the model; its readahead events, parsed like the kernel's. */
export function runPatternOnModel(pattern: Pattern, queue: QueueSettings): { events: RaEvent[]; lines: string[] } {
  const lines: string[] = [];
  const trace: RaTraceSink = { enabled: true, emit: (ev, ...args) => lines.push(formatEvent(ev, args)) };
  const files: ModelFile[] = pattern.files.map((f, i) => ({
    cache: new MemPageCache(12 + i, f.size),
    ra: fileRaState618Init(Math.floor(queue.readAheadKb / 4)),
    random: false,
  }));
  const ioPages = Math.floor(queue.maxSectorsKb / 4);
  for (const op of pattern.ops) modelRead(files[op.file]!, op.offset, op.length, { ioPages, trace });
  return { events: parseRaTrace(lines.join('\n'), { inoHex: true }), lines };
}
