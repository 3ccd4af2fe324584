/**
 * The read loop's page counters and readahead's per-reason counters, under both kernels,
 * over random concurrent reads (fast-check) with I/O completing on later ticks:
 *
 *   pgcache_hit + pgcache_wait + pgcache_miss = the pages the reads covered below EOF
 *   ra_initial + ra_sequential + ra_marker + ra_oversize + ra_context + ra_random + ra_forced
 *     = ra_sync + ra_async
 */
import test from 'ava';
import fc from 'fast-check';
import { filemapReadAsync } from '../../../src/mm/filemap-read.js';
import { filemapReadV6Async } from '../../../src/mm/filemap-read-v6.js';
import { EXT4_MAX_PAGECACHE_ORDER } from '../../../src/mm/folio.js';
import { PAGE_SIZE } from '../../../src/mm/page.js';
import { mappingSetFolioOrderRange } from '../../../src/mm/pagecache.js';
import type { MmFileV6 } from '../../../src/mm/ra-mapping.js';
import { fileRaState618Init } from '../../../src/mm/readahead-v6.js';
import { fileRaStateInit } from '../../../src/mm/types.js';
import type { Stats } from '../../../src/stats/registry.js';
import { rig } from './fake-fs.js';

const SIZE = 200 * PAGE_SIZE + 777;
const REASONS = ['ra_initial', 'ra_sequential', 'ra_marker', 'ra_oversize', 'ra_context', 'ra_random', 'ra_forced'] as const;

/** Pages of [pos, pos + len) below EOF. */
function pagesCovered(pos: number, len: number, size: number): number {
  const end = Math.min(pos + len, size);
  return end <= pos ? 0 : Math.ceil(end / PAGE_SIZE) - Math.floor(pos / PAGE_SIZE);
}

const looked = (s: Stats): number => s.c.pgcache_hit + s.c.pgcache_wait + s.c.pgcache_miss;
const byReason = (s: Stats): number => REASONS.reduce((sum, n) => sum + s.c[n], 0);

/** A reader: sequential runs (a stream) or random reads, of random sizes. */
const readerArb = fc.record({
  raPages: fc.constantFrom(0, 8, 32),
  reads: fc.array(
    fc.record({ jump: fc.boolean(), pos: fc.nat(SIZE + 2 * PAGE_SIZE), len: fc.integer({ min: 1, max: 48 * PAGE_SIZE }) }),
    { minLength: 1, maxLength: 25 },
  ),
});

for (const kernel of ['4.18', '6.18'] as const) {
  test(`${kernel}: hit + wait + miss = pages read, and the reasons add up to ra_sync + ra_async (random concurrent readers)`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.array(readerArb, { minLength: 1, maxLength: 3 }), fc.integer({ min: 48, max: 400 }), async (readers, frames) => {
        const r = rig({ frames, size: SIZE });
        r.fs.mode = 'tick';
        if (kernel === '6.18') mappingSetFolioOrderRange(r.mapping, 0, Math.min(EXT4_MAX_PAGECACHE_ORDER, r.cache.frames.maxOrder));
        let want = 0;
        await Promise.all(
          readers.map(async (rd, i) => {
            const file6: MmFileV6 = { fh: 10 + i, ra: fileRaState618Init(rd.raPages) };
            const file = { fh: 10 + i, ra: fileRaStateInit(rd.raPages) };
            let pos = 0;
            for (const op of rd.reads) {
              if (op.jump) pos = op.pos;
              const buf = new Uint8Array(op.len);
              const n = kernel === '4.18' ? await filemapReadAsync(r.mapping, file, buf, pos, op.len) : await filemapReadV6Async(r.mapping, file6, buf, pos, op.len);
              want += pagesCovered(pos, op.len, SIZE);
              pos += n;
            }
          }),
        );
        // Thrown, not t.is: fast-check shrinks a failing case to a small one.
        if (looked(r.stats) !== want) throw new Error(`hit ${r.stats.c.pgcache_hit} + wait ${r.stats.c.pgcache_wait} + miss ${r.stats.c.pgcache_miss} != ${want} pages read`);
        const sum = r.stats.c.ra_sync + r.stats.c.ra_async;
        if (byReason(r.stats) !== sum) throw new Error(`${REASONS.map((n) => `${n} ${r.stats.c[n]}`).join(' + ')} != ra_sync + ra_async ${sum}`);
      }),
      { numRuns: 40, seed: kernel === '4.18' ? 418 : 618 },
    );
    t.pass();
  });

  test(`${kernel}: a cold sequential read meets pages in flight: waits are counted, and a reread is all hits`, async (t) => {
    const r = rig({ frames: 512, size: SIZE });
    r.fs.mode = 'tick';
    if (kernel === '6.18') mappingSetFolioOrderRange(r.mapping, 0, Math.min(EXT4_MAX_PAGECACHE_ORDER, r.cache.frames.maxOrder));
    const file6: MmFileV6 = { fh: 3, ra: fileRaState618Init(32) };
    const file = { fh: 3, ra: fileRaStateInit(32) };
    const readAll = async (): Promise<void> => {
      for (let pos = 0; pos < SIZE; pos += 16384) {
        const buf = new Uint8Array(16384);
        if (kernel === '4.18') await filemapReadAsync(r.mapping, file, buf, pos, buf.length);
        else await filemapReadV6Async(r.mapping, file6, buf, pos, buf.length);
      }
    };
    await readAll();
    const pages = Math.ceil(SIZE / PAGE_SIZE);
    t.is(looked(r.stats), pages);
    t.true(r.stats.c.pgcache_wait > 0, 'pages found under I/O');
    t.true(r.stats.c.pgcache_miss > 0, 'the first page, at least');
    t.true(r.stats.c.ra_initial >= 1, 'the first window');
    t.true(r.stats.c.ra_sequential > 0, 'windows at the marker');
    const hits = r.stats.c.pgcache_hit;
    await readAll();
    t.is(r.stats.c.pgcache_hit - hits, pages, 'all hits the second time');
  });
}
