/**
 * The 6.18 read loop (src/mm/filemap-read-v6.ts) over the real page cache with the fake
 * filesystem: data through large folios, the synchronous cached path, the 6.18 EIO path
 * (a failed readahead folio is read again with read_folio, and only that second failure
 * shrinks ra_pages), order fallback in a fragmented buddy arena, and --ra-policy none.
 */
import test from 'ava';
import { isFsError } from '../../../src/errors.js';
import { filemapReadV6, filemapReadV6Async } from '../../../src/mm/filemap-read-v6.js';
import { EXT4_MAX_PAGECACHE_ORDER } from '../../../src/mm/folio.js';
import { PAGE_SIZE, PG_dirty, PG_error, PG_locked } from '../../../src/mm/page.js';
import { folioUnlock } from '../../../src/mm/wait.js';
import { filemapAddFolio, filemapRemoveFolio, mappingSetFolioOrderRange } from '../../../src/mm/pagecache.js';
import type { MmFileV6 } from '../../../src/mm/ra-mapping.js';
import { fileRaState618Init } from '../../../src/mm/readahead-v6.js';
import { expected, rig, tick } from './fake-fs.js';

/** A rig whose mapping has ext4's 6.18 folio orders, and an open file with read_ahead_kb 128. */
function rig6(opts: { frames?: number; size?: number } = {}) {
  const r = rig({ frames: opts.frames ?? 1024, size: opts.size ?? 4 << 20 });
  mappingSetFolioOrderRange(r.mapping, 0, Math.min(EXT4_MAX_PAGECACHE_ORDER, r.cache.frames.maxOrder));
  const file: MmFileV6 = { fh: 3, ra: fileRaState618Init(32) };
  return { ...r, file6: file };
}

async function read(r: ReturnType<typeof rig6>, pos: number, len: number) {
  const buf = new Uint8Array(len);
  const n = await filemapReadV6Async(r.mapping, r.file6, buf, pos, len);
  return { n, buf: buf.subarray(0, n) };
}

test('a cold sequential read: right bytes, large folios, the 6.18 tracepoints; a cached re-read completes before the call returns', async (t) => {
  const r = rig6();
  for (let pos = 0; pos < 1 << 20; pos += 4096) {
    const { n, buf } = await read(r, pos, 4096);
    t.is(n, 4096);
    if (pos % (64 << 10) === 0) t.deepEqual(buf, expected(pos, 4096, r.fs.baseSize), `at ${pos}`);
  }
  const orders = [...r.mapping.folios()].map((f) => f.order);
  t.true(Math.max(...orders) >= 4, `large folios were used (orders ${[...new Set(orders)].sort()})`);
  t.true(r.file6.ra.order >= 4, 'ra->order grew');
  const lines = r.trace.read();
  t.true(lines.some((l) => l.startsWith('page_cache_sync_ra: ino=7 index=0 req_count=1 order=0 size=0 async_size=0 ra_pages=32')));
  t.true(lines.some((l) => l.startsWith('page_cache_async_ra: ')));
  t.true(lines.some((l) => /^ra async ino=7 fh=3 .* order=\d+ reason=window t=\d+$/.test(l)));
  t.is(r.stats.c.readpage_ios, 0, 'everything came through readahead');

  // Cached: one synchronous call, 128 KiB at an odd offset, right bytes.
  const buf = new Uint8Array(128 << 10);
  let got: number | undefined;
  filemapReadV6(r.mapping, r.file6, buf, 12345, buf.length, (err, n) => {
    t.is(err, undefined);
    got = n;
  });
  t.is(got, buf.length, 'done ran before filemapReadV6 returned');
  t.deepEqual(buf, expected(12345, buf.length, r.fs.baseSize));
  t.is(r.file6.ra.prevPos, 12345 + buf.length, 'prev_pos is last_pos, a byte position');
});

test('reads at EOF of an odd-sized file and past it', async (t) => {
  const size = 300_001;
  const r = rig6({ size });
  const { n, buf } = await read(r, 290_000, 20_000);
  t.is(n, size - 290_000);
  t.deepEqual(buf, expected(290_000, n, size));
  t.is((await read(r, size, 100)).n, 0);
});

test('EIO under 6.18: a failed readahead folio is read again with read_folio; the second failure shrinks ra_pages once and the read fails', async (t) => {
  const r = rig6();
  r.fs.mode = 'tick';
  for (let i = 0; i < 64; i++) r.fs.failIndexes.add(i);
  const err = await t.throwsAsync(read(r, 0, 4096));
  t.true(isFsError(err) && err.code === 'EIO');
  t.is(r.stats.c.readpage_ios, 1, 'one retry with read_folio');
  t.true(r.fs.readpageIndexes.filter((i) => i === 0).length >= 2, 'page 0 was read by readahead and again by read_folio');
  t.is(r.file6.ra.raPages, 8, '32 / 4: shrink_readahead_size_eio once');
  t.is(r.stats.c.ra_eio_shrink, 1);
  for (const f of r.mapping.folios()) t.false(f.has(PG_locked), `folio ${f.index} is not left locked`);
  // The device recovers: the same read now succeeds (the folio is read once more).
  r.fs.failIndexes.clear();
  const ok = await read(r, 0, 4096);
  t.deepEqual(ok.buf, expected(0, 4096, r.fs.baseSize));
});

test('EIO under 6.18: a readahead failure that the read_folio retry cures costs no shrink and no error', async (t) => {
  const r = rig6();
  r.fs.mode = 'manual';
  const p = read(r, 0, 4096);
  await tick();
  t.true(r.fs.pending.length > 0, 'readahead is in flight');
  // The readahead of page 0 fails (the reader waits on it); the rest of the window and
  // the retry succeed.
  r.fs.mode = 'sync';
  const f0 = r.fs.pending.shift()!;
  t.is(f0.index, 0);
  f0.set(PG_error);
  folioUnlock(f0);
  r.fs.completeAll();
  const { n, buf } = await p;
  t.is(n, 4096);
  t.deepEqual(buf, expected(0, 4096, r.fs.baseSize));
  t.is(r.stats.c.readpage_ios, 1, 'the reader read the folio again itself');
  t.is(r.file6.ra.raPages, 32, 'no shrink: only filemap_read_folio failures shrink');
});

test('a fragmented arena: readahead falls back to the orders it can get, and the data is right', async (t) => {
  const r = rig6({ frames: 256, size: 1 << 20 });
  // Fragment: pin every other frame with an order-0 folio of another file (dirty, so
  // reclaim cannot take it): no free block above order 0 is left.
  const other = r.cache.mapping({ ino: 99, size: 1 << 30 }, r.fs);
  const pinned = [];
  for (let i = 0; ; i++) {
    const a = filemapAddFolio(other, i, 0);
    if (a.kind !== 'added') break;
    pinned.push(a.folio);
  }
  // Free every other one: 2^0 holes only; the rest stay dirty (reclaim cannot take them).
  for (let i = 0; i < pinned.length; i++) {
    const f = pinned[i]!;
    folioUnlock(f);
    if (i % 2 === 0) filemapRemoveFolio(f);
    else f.set(PG_dirty);
  }
  t.is(r.cache.frames.nrFree, Math.ceil(pinned.length / 2));
  const { n, buf } = await read(r, 0, 64 << 10);
  t.is(n, 64 << 10);
  t.deepEqual(buf, expected(0, 64 << 10, r.fs.baseSize));
  const orders = [...r.mapping.folios()].map((f) => f.order);
  t.true(orders.length > 0);
  t.deepEqual([...new Set(orders)], [0], 'only order-0 blocks could be had: every folio fell back to order 0');
});

test('--ra-policy none: no readahead call at all; each miss reads one folio with read_folio', async (t) => {
  const r = rig6();
  r.cache.raPolicy = 'none';
  const { buf } = await read(r, 0, 3 * PAGE_SIZE);
  t.deepEqual(buf, expected(0, 3 * PAGE_SIZE, r.fs.baseSize));
  t.deepEqual(r.fs.readpageIndexes, [0, 1, 2]);
  t.is(r.stats.c.ra_pages, 0);
  t.false(r.trace.read().some((l) => l.startsWith('page_cache_')), 'no tracepoint: readahead was never called');
});

test('reads started from inside done (the iocb is reused) each get their own bytes, once; a done that throws ends only its own read', async (t) => {
  const r = rig6();
  await read(r, 0, 256 << 10); // cache the first 256 KiB
  const calls: Array<[number, number]> = [];
  const outer = new Uint8Array(8192);
  const inner = new Uint8Array(4096);
  filemapReadV6(r.mapping, r.file6, outer, 4096, outer.length, (err, n) => {
    t.is(err, undefined);
    calls.push([4096, n]);
    // A cached read from done: it takes the iocb the outer read just gave back.
    filemapReadV6(r.mapping, r.file6, inner, 100_000, inner.length, (err2, n2) => {
      t.is(err2, undefined);
      calls.push([100_000, n2]);
    });
  });
  t.deepEqual(calls, [[4096, 8192], [100_000, 4096]]);
  t.deepEqual(outer, expected(4096, 8192, r.fs.baseSize));
  t.deepEqual(inner, expected(100_000, 4096, r.fs.baseSize));

  let thrownCalls = 0;
  t.throws(() =>
    filemapReadV6(r.mapping, r.file6, inner, 0, inner.length, () => {
      thrownCalls++;
      throw new Error('from done');
    }),
  { message: 'from done' });
  t.is(thrownCalls, 1, 'done was not called again with the error');
  // The next read works normally (the iocb was given back before done threw).
  const again = await read(r, 8192, 4096);
  t.deepEqual(again.buf, expected(8192, 4096, r.fs.baseSize));
});
