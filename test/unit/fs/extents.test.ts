import test from 'ava';
import { ExtentMap } from '../../../src/fs/extents.js';
import { ROOT_INO, type MetaStore } from '../../../src/fs/meta.js';
import { openStore, rejectsCode, reopen, SMALL_BLOCKS } from './helpers.js';

const BS = 4096;

test('ExtentMap.map covers the range exactly, holes included, device-contiguous pieces merged', (t) => {
  const m = ExtentMap.from([
    { fileBlock: 12, devBlock: 900, len: 2 },
    { fileBlock: 0, devBlock: 500, len: 8 },
    { fileBlock: 8, devBlock: 508, len: 2 }, // contiguous with the first in file and device
    { fileBlock: 20, devBlock: 1000, len: 6 },
  ]);
  t.deepEqual(m.map(0, 30), [
    { fileBlock: 0, devBlock: 500, len: 10 },
    { fileBlock: 10, devBlock: undefined, len: 2 },
    { fileBlock: 12, devBlock: 900, len: 2 },
    { fileBlock: 14, devBlock: undefined, len: 6 },
    { fileBlock: 20, devBlock: 1000, len: 6 },
    { fileBlock: 26, devBlock: undefined, len: 4 },
  ]);
  t.deepEqual(m.map(5, 8), [
    { fileBlock: 5, devBlock: 505, len: 5 },
    { fileBlock: 10, devBlock: undefined, len: 2 },
    { fileBlock: 12, devBlock: 900, len: 1 },
  ]);
  t.deepEqual(m.map(21, 1), [{ fileBlock: 21, devBlock: 1001, len: 1 }]);
  t.deepEqual(m.map(100, 3), [{ fileBlock: 100, devBlock: undefined, len: 3 }]);
  t.is(m.blocks, 18);
});

test('ExtentMap.insert merges with both neighbours when contiguous in file and device only', (t) => {
  const m = new ExtentMap();
  m.insert({ fileBlock: 0, devBlock: 100, len: 4 });
  m.insert({ fileBlock: 8, devBlock: 108, len: 4 });
  t.deepEqual(m.insert({ fileBlock: 4, devBlock: 104, len: 4 }), [
    { kind: 'del', fileBlock: 8 },
    { kind: 'put', ext: { fileBlock: 0, devBlock: 100, len: 12 } },
  ]);
  t.deepEqual(m.toArray(), [{ fileBlock: 0, devBlock: 100, len: 12 }]);
  // file-contiguous but not device-contiguous: a separate extent
  m.insert({ fileBlock: 12, devBlock: 300, len: 2 });
  t.is(m.count, 2);
  t.throws(() => m.insert({ fileBlock: 13, devBlock: 50, len: 1 }), { message: /overlaps/ });
});

test('ExtentMap.punch trims straddling extents and returns the freed device runs', (t) => {
  const m = ExtentMap.from([
    { fileBlock: 0, devBlock: 100, len: 10 },
    { fileBlock: 10, devBlock: 500, len: 10 },
  ]);
  const { freed } = m.punch(4, 13);
  t.deepEqual(freed, [
    { fileBlock: 4, devBlock: 104, len: 6 },
    { fileBlock: 10, devBlock: 500, len: 3 },
  ]);
  t.deepEqual(m.toArray(), [
    { fileBlock: 0, devBlock: 100, len: 4 },
    { fileBlock: 13, devBlock: 503, len: 7 },
  ]);
  t.is(m.blocks, 11);
  t.deepEqual(m.punch(15, Infinity).freed, [{ fileBlock: 15, devBlock: 505, len: 5 }]);
  t.deepEqual(m.punch(100, Infinity).freed, []);
});

/** Reserve and attach `count` blocks at `fileBlock`, like writepages after the data is written. */
async function writeBlocks(meta: MetaStore, ino: number, fileBlock: number, count: number, size?: number): Promise<void> {
  const runs = meta.allocateBlocks(ino, fileBlock, count);
  let fb = fileBlock;
  const maps = runs.map((r) => {
    const e = { fileBlock: fb, devBlock: r.start, len: r.len };
    fb += r.len;
    return e;
  });
  await meta.attachExtents(ino, maps, size ?? (fileBlock + count) * BS);
}

test('sequential writes become one extent; mapBlocks reports holes', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  t.deepEqual(meta.mapBlocks(f, 0, 4), [{ fileBlock: 0, devBlock: undefined, len: 4 }]);
  const other = await meta.create(ROOT_INO, 'other', 0o644, 0, 0);
  for (let i = 0; i < 8; i++) {
    await writeBlocks(meta, f, i * 32, 32);
    await writeBlocks(meta, other, i, 1); // an interleaved writer must not break f's contiguity
  }
  t.is(meta.fileExtents(f).length, 1);
  t.like(meta.fileExtents(f)[0], { fileBlock: 0, len: 256 });
  t.is(meta.blockCount(f), 256);
  t.is(meta.getInode(f).size, 256 * BS);

  // a hole in the middle of a sparse file
  await writeBlocks(meta, f, 300, 4);
  const dev300 = meta.fileExtents(f)[1]!.devBlock;
  t.deepEqual(meta.mapBlocks(f, 250, 60), [
    { fileBlock: 250, devBlock: meta.fileExtents(f)[0]!.devBlock + 250, len: 6 },
    { fileBlock: 256, devBlock: undefined, len: 44 },
    { fileBlock: 300, devBlock: dev300, len: 4 },
    { fileBlock: 304, devBlock: undefined, len: 6 },
  ]);
  await rejectsCode(t, () => meta.mapBlocks(9999, 0, 1), 'ENOENT');
  await rejectsCode(t, () => meta.mapBlocks(f, 0, 0), 'EINVAL');
});

test('in-flight reservations keep a sequential writer contiguous before they are attached', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  const r1 = meta.allocateBlocks(f, 0, 16);
  const g = await meta.create(ROOT_INO, 'g', 0o644, 0, 0);
  meta.allocateBlocks(g, 0, 16); // someone else allocates meanwhile
  const r2 = meta.allocateBlocks(f, 16, 16);
  t.is(r2[0]!.start, r1[0]!.start + 16, `r1 ${JSON.stringify(r1)} r2 ${JSON.stringify(r2)}`);
});

test('attachExtents merges with the file\'s neighbours, only grows i_size, refuses unreserved blocks', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  const a = meta.allocateBlocks(f, 0, 4);
  const b = meta.allocateBlocks(f, 4, 4);
  t.is(b[0]!.start, a[0]!.start + 4);
  // attach out of order: the second piece first, then the first joins it
  await meta.attachExtents(f, [{ fileBlock: 4, devBlock: b[0]!.start, len: 4 }], 8 * BS);
  await meta.attachExtents(f, [{ fileBlock: 0, devBlock: a[0]!.start, len: 4 }], 4 * BS);
  t.deepEqual(meta.fileExtents(f), [{ fileBlock: 0, devBlock: a[0]!.start, len: 8 }]);
  t.is(meta.getInode(f).size, 8 * BS, 'a smaller newSize does not shrink the file');

  await rejectsCode(t, () => meta.attachExtents(f, [{ fileBlock: 8, devBlock: 1500, len: 1 }]), 'EINVAL');
  await rejectsCode(t, () => meta.attachExtents(f, [{ fileBlock: 8, devBlock: a[0]!.start, len: 1 }]), 'EINVAL');
  t.is(meta.statfs().bfree, SMALL_BLOCKS - 8);
});

test('attaching over a mapped range replaces it and frees the old blocks after commit', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  await writeBlocks(meta, f, 0, 8);
  const old = meta.fileExtents(f)[0]!.devBlock;
  const [r] = meta.allocateBlocks(f, 100, 2); // (a different goal: not next to block 0)
  await meta.attachExtents(f, [{ fileBlock: 2, devBlock: r!.start, len: 2 }]);
  t.deepEqual(meta.mapBlocks(f, 0, 8), [
    { fileBlock: 0, devBlock: old, len: 2 },
    { fileBlock: 2, devBlock: r!.start, len: 2 },
    { fileBlock: 4, devBlock: old + 4, len: 4 },
  ]);
  t.is(meta.blockCount(f), 8);
  t.is(meta.statfs().bfree, SMALL_BLOCKS - 8);
});

test('truncate drops and trims extents past the new size and frees their blocks', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  await writeBlocks(meta, f, 0, 10);
  await writeBlocks(meta, f, 20, 10);
  t.is(meta.statfs().bfree, SMALL_BLOCKS - 20);
  const dev0 = meta.fileExtents(f)[0]!.devBlock;

  await meta.truncate(f, 5 * BS + 1); // keeps blocks 0..5 (block 5 partly)
  t.is(meta.getInode(f).size, 5 * BS + 1);
  t.deepEqual(meta.fileExtents(f), [{ fileBlock: 0, devBlock: dev0, len: 6 }]);
  t.is(meta.blockCount(f), 6);
  t.is(meta.statfs().bfree, SMALL_BLOCKS - 6);

  await meta.truncate(f, 100 * BS); // growing leaves a hole
  t.is(meta.getInode(f).size, 100 * BS);
  t.deepEqual(meta.mapBlocks(f, 4, 4), [
    { fileBlock: 4, devBlock: dev0 + 4, len: 2 },
    { fileBlock: 6, devBlock: undefined, len: 2 },
  ]);
  await meta.truncate(f, 0);
  t.deepEqual(meta.fileExtents(f), []);
  t.is(meta.statfs().bfree, SMALL_BLOCKS);
  t.deepEqual(meta.allocatorState().extents, [{ start: 0, len: SMALL_BLOCKS }]);
});

test('extents, sizes and free space persist across close and reopen', async (t) => {
  const { store, meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  const g = await meta.create(ROOT_INO, 'g', 0o644, 0, 0);
  await writeBlocks(meta, f, 0, 64);
  await writeBlocks(meta, g, 0, 3);
  await writeBlocks(meta, f, 64, 64);
  await writeBlocks(meta, f, 1000, 2, 1002 * BS);
  await meta.truncate(f, 1001 * BS);
  const extF = meta.fileExtents(f);
  const extG = meta.fileExtents(g);
  const free = meta.allocatorState().extents;

  const m2 = await reopen(t, store, meta);
  t.deepEqual(m2.fileExtents(f), extF);
  t.deepEqual(m2.fileExtents(g), extG);
  t.is(m2.getInode(f).size, 1001 * BS);
  t.deepEqual(m2.allocatorState().extents, free);
  t.is(m2.statfs().bfree, SMALL_BLOCKS - 64 - 64 - 1 - 3);
  t.is(extF.length, 2);
});

test('ENOSPC from allocateBlocks reserves nothing', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  await writeBlocks(meta, f, 0, SMALL_BLOCKS - 10);
  await rejectsCode(t, () => meta.allocateBlocks(f, SMALL_BLOCKS, 11), 'ENOSPC');
  t.is(meta.statfs().bfree, 10);
  t.is(meta.allocatorState().reserved, 0);
  const runs = meta.allocateBlocks(f, SMALL_BLOCKS, 10);
  meta.unreserve(runs);
  t.is(meta.statfs().bfree, 10);
});
