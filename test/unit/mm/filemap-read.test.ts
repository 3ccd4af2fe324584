import test from 'ava';
import { isFsError, type FsError } from '../../../src/errors.js';
import { filemapRead, filemapReadAsync } from '../../../src/mm/filemap-read.js';
import { filemapGetFolio } from '../../../src/mm/pagecache.js';
import { truncateInodePages } from '../../../src/mm/truncate.js';
import { PAGE_SIZE, PG_active, PG_error, PG_locked, PG_raunread, PG_referenced, PG_waiters } from '../../../src/mm/page.js';
import { PREV_POS_NONE } from '../../../src/mm/types.js';
import { expected, openFile, pattern, rig, tick } from './fake-fs.js';

async function read(r: ReturnType<typeof rig>, pos: number, len: number, file = r.file) {
  const buf = new Uint8Array(len);
  const n = await filemapReadAsync(r.mapping, file, buf, pos, len);
  return { n, buf: buf.subarray(0, n) };
}

test('reads whole and partial pages, aligned or not', async (t) => {
  const r = rig();
  for (const [pos, len] of [
    [0, PAGE_SIZE],
    [0, 3 * PAGE_SIZE],
    [100, 200],
    [4000, 200], // straddles pages 0 and 1
    [PAGE_SIZE - 1, PAGE_SIZE + 2], // touches three pages
    [5 * PAGE_SIZE + 17, 4 * PAGE_SIZE],
  ] as const) {
    const { n, buf } = await read(r, pos, len);
    t.is(n, len, `${pos}+${len}`);
    t.deepEqual(buf, expected(pos, len, r.fs.baseSize), `${pos}+${len}`);
  }
});

test('each missing page is read once with readpage (readahead off); then served from cache', async (t) => {
  const r = rig();
  await read(r, 0, 3 * PAGE_SIZE);
  t.deepEqual(r.fs.readpageIndexes, [0, 1, 2]);
  t.is(r.stats.c.pgcache_miss, 3);
  t.is(r.stats.c.readpage_ios, 3);
  await read(r, 100, 2 * PAGE_SIZE);
  t.is(r.fs.readpageCalls, 3);
  t.is(r.stats.c.pgcache_hit, 3);
});

test('EOF: the partial last page is cut at i_size, reads past EOF return 0 without I/O', async (t) => {
  const size = 2 * PAGE_SIZE + 123;
  const r = rig({ size });
  let res = await read(r, 0, 4 * PAGE_SIZE);
  t.is(res.n, size);
  t.deepEqual(res.buf, expected(0, size, size));
  res = await read(r, 2 * PAGE_SIZE + 100, 100);
  t.is(res.n, 23);
  t.deepEqual(res.buf, expected(2 * PAGE_SIZE + 100, 23, size));
  const calls = r.fs.readpageCalls;
  t.is((await read(r, size, 10)).n, 0, 'at EOF');
  t.is((await read(r, 10 * PAGE_SIZE, PAGE_SIZE)).n, 0, 'well past EOF');
  t.is(r.fs.readpageCalls, calls, 'no page is allocated or read past EOF');
  t.is(filemapGetFolio(r.mapping, 10), undefined);
});

test('a file whose size is a multiple of 4 KiB ends cleanly (no page past EOF)', async (t) => {
  const r = rig({ size: 2 * PAGE_SIZE });
  t.is((await read(r, 0, 8 * PAGE_SIZE)).n, 2 * PAGE_SIZE);
  t.deepEqual(r.fs.readpageIndexes, [0, 1]);
});

test('an empty file reads 0 bytes; a 0-byte read does nothing', async (t) => {
  const r = rig({ size: 0 });
  t.is((await read(r, 0, 100)).n, 0);
  t.is(r.fs.readpageCalls, 0);
  const r2 = rig();
  t.is((await read(r2, 0, 0)).n, 0);
  t.is(r2.file.ra.prevPos, PREV_POS_NONE, '0-byte read leaves prev_pos alone');
});

// prev_pos = (prev_index << 12) | prev_offset after the read, worked out by hand from
// do_generic_file_read: prev_index is the index of the last page copied from, prev_offset
// the offset reached after the copy (0 when the copy ended exactly on a page boundary,
// in which case index has already moved on but prev_index has not).
test('prev_pos after reads of various sizes and offsets matches the kernel formula', async (t) => {
  const size = 10 * PAGE_SIZE + 123;
  const cases: [pos: number, len: number, prevPos: number][] = [
    [0, 4096, 0 * 4096 + 0], // page 0 whole: offset wraps to 0, prev_index stays 0
    [100, 200, 0 * 4096 + 300],
    [4000, 200, 1 * 4096 + 104], // page 0 (96 bytes) then page 1 (104)
    [8192, 8192, 3 * 4096 + 0], // pages 2 and 3 whole
    [4096 + 4095, 1, 1 * 4096 + 0], // last byte of page 1: offset 4096 -> 0
    [10 * 4096, 4096, 10 * 4096 + 123], // partial last page: stops at i_size
    [10 * 4096 + 50, 10, 10 * 4096 + 60],
  ];
  for (const [pos, len, prevPos] of cases) {
    const r = rig({ size });
    await read(r, pos, len);
    t.is(r.file.ra.prevPos, prevPos, `read ${pos}+${len}`);
  }
  // A fresh open is -1 (all ones); a read past EOF copies nothing and keeps it.
  const r = rig({ size });
  const f = openFile();
  t.is(f.ra.prevPos, -1);
  await read(r, size + 10, 10, f);
  t.is(f.ra.prevPos, -1);
  await read(r, 300, 10, f);
  t.is(f.ra.prevPos, 310);
  await read(r, size + 4096, 10, f);
  t.is(f.ra.prevPos, 310, 'unchanged by a read that copied nothing');
});

test('prev_pos past 4 GiB: no 32-bit arithmetic', async (t) => {
  const size = 5 * 2 ** 30 + 1000; // 5 GiB + 1000 bytes (sparse: only touched pages exist)
  const r = rig({ size });
  const pos = 4.5 * 2 ** 30 + 4000;
  const { n, buf } = await read(r, pos, 200);
  t.is(n, 200);
  t.deepEqual(buf, expected(pos, 200, size));
  const lastIndex = Math.floor((pos + 199) / 4096);
  t.is(r.file.ra.prevPos, lastIndex * 4096 + ((pos + 200) % 4096));
  t.true(r.file.ra.prevPos > 2 ** 32);
  const tail = await read(r, size - 10, 100);
  t.is(tail.n, 10);
  t.is(r.file.ra.prevPos, size);
});

test('mark_page_accessed only when the read moves to another page or offset', async (t) => {
  const r = rig();
  const f = openFile();
  await read(r, 0, 100, f); // prev_pos -1: marked -> referenced
  const p = filemapGetFolio(r.mapping, 0)!;
  t.true(p.has(PG_referenced));
  t.false(p.has(PG_active));
  await read(r, 100, 100, f); // continues exactly at prev_pos (same page, same offset): not marked
  t.false(p.has(PG_active));
  t.is(r.stats.c.pgactivate, 0);
  await read(r, 50, 10, f); // same page, other offset: marked -> activated
  t.true(p.has(PG_active));
  t.is(r.stats.c.pgactivate, 1);
  // Sequential small reads across pages: each page is marked once, on its first touch.
  const r2 = rig();
  const g = openFile();
  for (let pos = 0; pos < 3 * PAGE_SIZE; pos += 1024) await read(r2, pos, 1024, g);
  for (let i = 0; i < 3; i++) {
    const q = filemapGetFolio(r2.mapping, i)!;
    t.true(q.has(PG_referenced), `page ${i}`);
    t.false(q.has(PG_active), `page ${i} touched by 4 reads but marked once`);
  }
});

test('a readahead page read counts ra_hit and loses PG_raunread', async (t) => {
  const r = rig();
  await read(r, 0, 10);
  const p = filemapGetFolio(r.mapping, 0)!;
  p.set(PG_raunread);
  await read(r, 10, 10);
  t.false(p.has(PG_raunread));
  t.is(r.stats.c.ra_hit, 1);
});

test('hot path: a cached read calls done before filemapRead returns', async (t) => {
  const r = rig();
  r.fs.mode = 'tick';
  const buf = new Uint8Array(2 * PAGE_SIZE);
  let sync = true;
  let calledSync = false;
  filemapRead(r.mapping, r.file, buf, 0, buf.length, () => (calledSync = sync));
  sync = false;
  t.false(calledSync, 'cold: done comes later, from the I/O completion');
  await tick();
  await tick();
  await tick();
  t.is(r.stats.c.page_waits, 1, 'one read that waited (twice)');
  sync = true;
  let bytes = -1;
  let err: FsError | undefined;
  filemapRead(r.mapping, r.file, buf, 10, 5000, (e, n) => {
    calledSync = sync;
    bytes = n;
    err = e;
  });
  sync = false;
  t.true(calledSync);
  t.is(bytes, 5000);
  t.is(err, undefined);
  t.deepEqual(buf.subarray(0, 5000), expected(10, 5000, r.fs.baseSize));
});

test('a file larger than the cache reads correctly through a 4-page cache', async (t) => {
  const size = 256 * PAGE_SIZE + 777;
  for (const mode of ['sync', 'tick'] as const) {
    const r = rig({ frames: 4, size });
    r.fs.mode = mode;
    for (let pos = 0; pos < size; pos += 128 * 1024) {
      const { n, buf } = await read(r, pos, 128 * 1024);
      t.is(n, Math.min(128 * 1024, size - pos));
      t.deepEqual(buf, expected(pos, n, size));
    }
    // and some unaligned reads going back over evicted pages
    for (const pos of [5, 40000, 1000000, size - 5000, 12345]) {
      const { n, buf } = await read(r, pos, 9000);
      t.deepEqual(buf, expected(pos, n, size), `${mode} ${pos}`);
    }
    t.true(r.stats.c.pgsteal > 200);
    t.true(r.cache.nrPages <= 4);
    t.is(r.cache.frames.nrFree + r.cache.nrPages, 4);
  }
});

test('N readers of one missing page: one readpage, the others wait, all get the data', async (t) => {
  const r = rig();
  r.fs.mode = 'manual';
  const results = Array.from({ length: 5 }, (_, i) => read(r, 100 * i, 300, openFile(10 + i)));
  await tick();
  t.deepEqual(r.fs.readpageIndexes, [0]);
  const page = filemapGetFolio(r.mapping, 0)!;
  t.true(page.has(PG_locked) && page.has(PG_waiters));
  r.fs.completeAll();
  const out = await Promise.all(results);
  out.forEach(({ n, buf }, i) => {
    t.is(n, 300);
    t.deepEqual(buf, expected(100 * i, 300, r.fs.baseSize));
  });
  t.is(r.fs.readpageCalls, 1);
  t.is(r.stats.c.page_waits, 5);
  t.false(page.has(PG_locked) || page.has(PG_waiters));
  t.is(r.cache.waitTable.nrWaiting, 0);
});

test('I/O error: every waiter gets EIO, the page is left PG_error and unlocked; a later read retries', async (t) => {
  const r = rig();
  r.fs.mode = 'manual';
  r.fs.failIndexes.add(1);
  const files = Array.from({ length: 4 }, (_, i) => openFile(20 + i));
  for (const f of files) f.ra.raPages = 32 / 1; // to see the shrink (readahead never runs: nothing sync-reads past here)
  const results = files.map((f) => read(r, PAGE_SIZE + 10, 100, f).then(
    () => 'ok',
    (e: unknown) => (isFsError(e, 'EIO') ? 'EIO' : String(e)),
  ));
  await tick();
  // (With readahead on, the lead's sync readahead may have submitted page 1 itself.)
  r.fs.completeAll();
  await tick();
  r.fs.completeAll();
  t.deepEqual(await Promise.all(results), ['EIO', 'EIO', 'EIO', 'EIO']);
  const page = filemapGetFolio(r.mapping, 1)!;
  t.true(page.has(PG_error));
  t.false(page.has(PG_locked));
  t.false(page.has(PG_waiters));
  t.is(r.cache.waitTable.nrWaiting, 0);
  for (const f of files) t.true(f.ra.raPages < 32, 'ra_pages shrunk on EIO');

  // The error was temporary: the next read issues the I/O again and succeeds.
  r.fs.failIndexes.clear();
  r.fs.mode = 'sync';
  const before = r.fs.readpageCalls;
  const again = await read(r, PAGE_SIZE + 10, 100);
  t.is(again.n, 100);
  t.deepEqual(again.buf, expected(PAGE_SIZE + 10, 100, r.fs.baseSize));
  t.is(r.fs.readpageCalls, before + 1);
  t.false(page.has(PG_error));
});

test('an error after some bytes were copied returns the bytes (written ? written : error)', async (t) => {
  const r = rig();
  r.fs.failIndexes.add(2);
  const { n, buf } = await read(r, PAGE_SIZE, 3 * PAGE_SIZE);
  t.is(n, PAGE_SIZE);
  t.deepEqual(buf, expected(PAGE_SIZE, PAGE_SIZE, r.fs.baseSize));
  const err = await t.throwsAsync(read(r, 2 * PAGE_SIZE, 10));
  t.true(isFsError(err, 'EIO'));
  t.false(filemapGetFolio(r.mapping, 2)!.has(PG_locked));
});

test('a reader waiting on a page that is truncated away looks again and stops at the new EOF', async (t) => {
  const r = rig({ size: 4 * PAGE_SIZE });
  r.fs.mode = 'manual';
  const pending = read(r, 3 * PAGE_SIZE, 100);
  await tick();
  t.deepEqual(r.fs.readpageIndexes, [3]);
  r.host.size = 3 * PAGE_SIZE + 0; // the vfs sets i_size, then truncates the page cache
  const trunc = truncateInodePages(r.mapping, r.host.size);
  r.fs.completeAll(); // I/O ends: the reader or truncate runs first; either way:
  await trunc;
  t.is((await pending).n, 0);
  t.is(filemapGetFolio(r.mapping, 3), undefined);
  t.is(r.cache.waitTable.nrWaiting, 0);
});

test('reading with a buffer smaller than len is EINVAL', async (t) => {
  const r = rig();
  const err = await t.throwsAsync(filemapReadAsync(r.mapping, r.file, new Uint8Array(10), 0, 20));
  t.true(isFsError(err, 'EINVAL'));
});

test('pattern is not 4 KiB periodic (sanity of the fake disk)', (t) => {
  t.not(pattern(5), pattern(5 + PAGE_SIZE));
});
