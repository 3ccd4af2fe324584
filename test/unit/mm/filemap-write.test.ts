import test from 'ava';
import { fsError, isFsError } from '../../../src/errors.js';
import { filemapReadAsync } from '../../../src/mm/filemap-read.js';
import { filemapWrite } from '../../../src/mm/filemap-write.js';
import { filemapGetFolio } from '../../../src/mm/pagecache.js';
import { truncateInodePages } from '../../../src/mm/truncate.js';
import { PAGE_SIZE, PG_dirty, PG_locked, PG_uptodate, PG_writeback } from '../../../src/mm/page.js';
import { expected, rig, tick } from './fake-fs.js';

function bytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 7 + seed) & 255;
  return b;
}

async function readAll(r: ReturnType<typeof rig>, pos: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  const n = await filemapReadAsync(r.mapping, r.file, buf, pos, len);
  return buf.subarray(0, n);
}

test('full-page writes: no read, one writepages call in index order, pages end clean and unlocked', async (t) => {
  const r = rig({ size: 0 });
  const data = bytes(3 * PAGE_SIZE, 1);
  t.is(await filemapWrite(r.mapping, r.file, data, 0, data.length), data.length);
  t.is(r.fs.readpageCalls, 0);
  t.deepEqual(r.fs.writepagesCalls, [[0, 1, 2]]);
  t.is(r.host.size, 3 * PAGE_SIZE);
  for (let i = 0; i < 3; i++) {
    const p = filemapGetFolio(r.mapping, i)!;
    t.true(p.has(PG_uptodate));
    t.false(p.has(PG_dirty) || p.has(PG_locked) || p.has(PG_writeback));
  }
  t.deepEqual(await readAll(r, 0, 3 * PAGE_SIZE), data);
  t.deepEqual(r.fs.written.get(1), data.subarray(PAGE_SIZE, 2 * PAGE_SIZE));
});

test('partial-page write inside the file reads the page first (read-modify-write)', async (t) => {
  const size = 4 * PAGE_SIZE;
  const r = rig({ size });
  const data = bytes(100, 9);
  await filemapWrite(r.mapping, r.file, data, PAGE_SIZE + 1000, 100);
  t.deepEqual(r.fs.readpageIndexes, [1]);
  const want = expected(0, size, size);
  want.set(data, PAGE_SIZE + 1000);
  // The page is cached and uptodate now: another partial write needs no read.
  await filemapWrite(r.mapping, r.file, data, PAGE_SIZE + 3000, 100);
  t.deepEqual(r.fs.readpageIndexes, [1]);
  want.set(data, PAGE_SIZE + 3000);
  t.deepEqual(await readAll(r, 0, size), want);
  t.deepEqual(r.fs.written.get(1)!.subarray(3000, 3100), data);
  t.deepEqual(r.fs.written.get(1)!.subarray(0, 1000), want.subarray(PAGE_SIZE, PAGE_SIZE + 1000));
});

test('a write spanning pages with partial ends reads only the partial ends', async (t) => {
  const size = 8 * PAGE_SIZE;
  const r = rig({ size });
  const data = bytes(3 * PAGE_SIZE, 3);
  const pos = 2 * PAGE_SIZE + 500;
  await filemapWrite(r.mapping, r.file, data, pos, data.length);
  t.deepEqual(r.fs.readpageIndexes.sort(), [2, 5]);
  t.deepEqual(r.fs.writepagesCalls, [[2, 3, 4, 5]]);
  const want = expected(0, size, size);
  want.set(data, pos);
  t.deepEqual(await readAll(r, 0, size), want);
});

test('a partial write past EOF zeroes the rest of the page and extends i_size', async (t) => {
  const r = rig({ size: 100 });
  const data = bytes(10, 5);
  await filemapWrite(r.mapping, r.file, data, 2 * PAGE_SIZE + 50, 10);
  t.is(r.host.size, 2 * PAGE_SIZE + 60);
  t.deepEqual(r.fs.readpageIndexes, [], 'page 2 lies wholly past the old EOF: nothing to read');
  const want = new Uint8Array(2 * PAGE_SIZE + 60);
  want.set(expected(0, 100, 100));
  want.set(data, 2 * PAGE_SIZE + 50);
  t.deepEqual(await readAll(r, 0, 3 * PAGE_SIZE), want);
});

test('a partial write to the EOF page zeroes the old bytes past EOF', async (t) => {
  const r = rig({ size: 100 });
  // The device holds stale bytes past i_size in the EOF page (a filesystem that did not
  // zero the tail on a truncate down): the read-modify-write must not resurrect them.
  r.fs.tailGarbage = 0xee;
  await filemapWrite(r.mapping, r.file, bytes(10, 1), 200, 10);
  t.deepEqual(r.fs.readpageIndexes, [0]);
  const got = await readAll(r, 0, 210);
  t.deepEqual(got.subarray(100, 200), new Uint8Array(100));
});

test('a cache smaller than the write: written through in chunks, nothing left locked', async (t) => {
  const r = rig({ frames: 4, size: 0 });
  const data = bytes(64 * 1024, 11);
  t.is(await filemapWrite(r.mapping, r.file, data, 0, data.length), data.length);
  t.true(r.fs.writepagesCalls.length >= 4);
  t.deepEqual(r.fs.writepagesCalls.flat(), Array.from({ length: 16 }, (_, i) => i));
  for (const p of r.mapping.pages.values()) t.false(p.has(PG_locked) || p.has(PG_dirty));
  t.deepEqual(await readAll(r, 0, data.length), data);
});

test('writepages failure: rejects, unlocks, drops the unwritten pages, restores i_size', async (t) => {
  const r = rig({ size: PAGE_SIZE });
  await readAll(r, 0, 10); // page 0 cached
  r.fs.writeError = fsError('ENOSPC', 'device full');
  const err = await t.throwsAsync(filemapWrite(r.mapping, r.file, bytes(2 * PAGE_SIZE, 2), 100, 2 * PAGE_SIZE));
  t.true(isFsError(err, 'ENOSPC'));
  t.is(r.host.size, PAGE_SIZE);
  for (const p of r.mapping.pages.values()) t.false(p.has(PG_locked));
  t.is(filemapGetFolio(r.mapping, 0), undefined, 'the page held data the device never got');
  t.is(r.cache.waitTable.nrWaiting, 0);
  r.fs.writeError = undefined;
  t.deepEqual(await readAll(r, 0, 2 * PAGE_SIZE), expected(0, PAGE_SIZE, PAGE_SIZE));
});

test('a reader never waits forever behind a writer; it sees the old or the new bytes, whole', async (t) => {
  const size = 4 * PAGE_SIZE;
  const r = rig({ size });
  r.fs.mode = 'tick';
  const data = bytes(2 * PAGE_SIZE, 4);
  const w = filemapWrite(r.mapping, r.file, data, PAGE_SIZE, data.length);
  const rd = readAll(r, PAGE_SIZE, 2 * PAGE_SIZE);
  await w;
  const got = await rd;
  const old = expected(PAGE_SIZE, 2 * PAGE_SIZE, size);
  t.true(Buffer.from(got).equals(Buffer.from(data)) || Buffer.from(got).equals(Buffer.from(old)));
  t.deepEqual(await readAll(r, PAGE_SIZE, 2 * PAGE_SIZE), data);
});

test('truncate drops pages past EOF and zeroes the tail of the last page', async (t) => {
  const size = 6 * PAGE_SIZE;
  const r = rig({ size });
  await readAll(r, 0, size);
  t.is(r.cache.nrPages, 6);
  r.host.size = 2 * PAGE_SIZE + 10;
  await truncateInodePages(r.mapping, r.host.size);
  t.deepEqual([...r.mapping.pages.keys()].sort(), [0, 1, 2]);
  const p2 = filemapGetFolio(r.mapping, 2)!;
  t.true(p2.has(PG_uptodate));
  t.deepEqual(p2.data.subarray(10), new Uint8Array(PAGE_SIZE - 10));
  t.deepEqual(await readAll(r, 0, size), expected(0, 2 * PAGE_SIZE + 10, size));
  // Extending again (a hole) reads zeros past the old EOF from the cached tail page.
  r.host.size = 3 * PAGE_SIZE;
  const got = await readAll(r, 2 * PAGE_SIZE, PAGE_SIZE);
  t.deepEqual(got.subarray(0, 10), expected(2 * PAGE_SIZE, 10, size));
  t.deepEqual(got.subarray(10), new Uint8Array(PAGE_SIZE - 10));
});

test('truncate waits for a locked page (I/O in flight) before dropping it', async (t) => {
  const r = rig({ size: 4 * PAGE_SIZE });
  r.fs.mode = 'manual';
  const rd = readAll(r, 3 * PAGE_SIZE, 10);
  await tick();
  const page = filemapGetFolio(r.mapping, 3)!;
  t.true(page.has(PG_locked));
  r.host.size = PAGE_SIZE;
  let truncated = false;
  const tr = truncateInodePages(r.mapping, PAGE_SIZE).then(() => (truncated = true));
  await tick();
  t.false(truncated, 'still waiting for the read to finish');
  t.is(filemapGetFolio(r.mapping, 3), page);
  r.fs.completeAll();
  await tr;
  t.is(filemapGetFolio(r.mapping, 3), undefined);
  t.is(page.mapping, undefined);
  t.true((await rd).length <= 10);
});

test('unlink: truncate to 0 and forget the mapping frees every frame', async (t) => {
  const r = rig({ frames: 8, size: 6 * PAGE_SIZE });
  await readAll(r, 0, 6 * PAGE_SIZE);
  t.is(r.cache.frames.nrFree, 2);
  r.host.size = 0;
  await truncateInodePages(r.mapping, 0);
  r.cache.forgetMapping(r.host.ino);
  t.is(r.cache.frames.nrFree, 8);
  t.is(r.cache.nrPages, 0);
  t.is(r.cache.findMapping(r.host.ino), undefined);
  const again = r.cache.mapping({ ino: r.host.ino, size: 0 }, r.fs);
  t.not(again, r.mapping, 'a new inode with a reused number gets a fresh address space');
  t.is(again.pages.size, 0);
});

test('one address space per inode, shared by all opens', (t) => {
  const r = rig();
  t.is(r.cache.mapping(r.host, r.fs), r.mapping);
  t.true(r.cache.useReadahead);
});
