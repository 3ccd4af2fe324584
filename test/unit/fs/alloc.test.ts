import test from 'ava';
import { isFsError } from '../../../src/errors.js';
import { Allocator, ExtentSet, WINDOW_BLOCKS, type Run } from '../../../src/fs/alloc.js';
import { ROOT_INO } from '../../../src/fs/meta.js';
import { openStore, reopen, SMALL_BLOCKS } from './helpers.js';

const sum = (runs: Run[]): number => runs.reduce((n, r) => n + r.len, 0);

test('ExtentSet merges adjacent extents on add and splits on remove, with the db records to change', (t) => {
  const s = new ExtentSet();
  t.deepEqual(s.add(10, 5), [{ kind: 'put', start: 10, len: 5 }]);
  t.deepEqual(s.add(20, 5), [{ kind: 'put', start: 20, len: 5 }]);
  // fills the gap: three extents become one, the later record is deleted
  t.deepEqual(s.add(15, 5), [
    { kind: 'del', start: 20 },
    { kind: 'put', start: 10, len: 15 },
  ]);
  t.deepEqual(s.toArray(), [{ start: 10, len: 15 }]);
  // joins the next extent only: its record moves
  t.deepEqual(s.add(5, 5), [
    { kind: 'del', start: 10 },
    { kind: 'put', start: 5, len: 20 },
  ]);
  t.is(s.total, 20);
  // remove from the middle: head keeps its key, tail is a new record
  t.deepEqual(s.remove(10, 3), [
    { kind: 'put', start: 5, len: 5 },
    { kind: 'put', start: 13, len: 12 },
  ]);
  t.deepEqual(s.toArray(), [
    { start: 5, len: 5 },
    { start: 13, len: 12 },
  ]);
  t.throws(() => s.add(7, 1), { message: /double free/ });
  t.throws(() => s.remove(9, 2), { message: /not free/ });
  t.is(s.total, 17);
});

test('sequential allocations with a goal are contiguous', (t) => {
  const a = new Allocator(1000, [{ start: 0, len: 1000 }]);
  const r1 = a.allocate(16);
  t.deepEqual(r1, [{ start: 0, len: 16 }]);
  // another file takes the next blocks; the first file's goal still wins when free
  const other = a.allocate(4, 500);
  t.deepEqual(other, [{ start: 500, len: 4 }]);
  const r2 = a.allocate(16, 16);
  t.deepEqual(r2, [{ start: 16, len: 16 }]);
  const r3 = a.allocate(8, 32);
  t.deepEqual(r3, [{ start: 32, len: 8 }]);
  t.is(a.freeBlocks, 1000 - 16 - 4 - 16 - 8);
  t.is(a.reservedBlocks, 44);
});

test('a goal that is taken falls back to next-fit after the last allocation', (t) => {
  const a = new Allocator(100, [{ start: 0, len: 100 }]);
  a.allocate(10); // 0..9, cursor 10
  const r = a.allocate(5, 3); // goal 3 is taken
  t.deepEqual(r, [{ start: 10, len: 5 }]);
});

test('a partly free goal gives what is there, then the rest elsewhere', (t) => {
  const a = new Allocator(100, [
    { start: 10, len: 4 },
    { start: 50, len: 50 },
  ]);
  const r = a.allocate(10, 12);
  t.deepEqual(r, [
    { start: 12, len: 2 },
    { start: 50, len: 8 },
  ]);
});

test('fragmented free space gives several runs, largest first', (t) => {
  const a = new Allocator(100, [
    { start: 0, len: 3 },
    { start: 10, len: 5 },
    { start: 20, len: 2 },
    { start: 30, len: 4 },
  ]);
  const r = a.allocate(12);
  t.deepEqual(r, [
    { start: 10, len: 5 },
    { start: 30, len: 4 },
    { start: 0, len: 3 },
  ]);
  t.is(sum(r), 12);
  t.deepEqual(a.availExtents(), [{ start: 20, len: 2 }]);
});

test('ENOSPC allocates nothing', (t) => {
  const a = new Allocator(100, [
    { start: 0, len: 30 },
    { start: 60, len: 30 },
  ]);
  const before = a.availExtents();
  const err = t.throws(() => a.allocate(61));
  t.true(isFsError(err, 'ENOSPC'));
  t.deepEqual(a.availExtents(), before);
  t.is(a.reservedBlocks, 0);
  t.deepEqual(sum(a.allocate(60)), 60); // exactly what is free still works
});

test('reserved runs are not handed out twice; unreserve gives them back merged', (t) => {
  const a = new Allocator(64, [{ start: 0, len: 64 }]);
  const r1 = a.allocate(32);
  const r2 = a.allocate(32);
  t.deepEqual([...r1, ...r2], [
    { start: 0, len: 32 },
    { start: 32, len: 32 },
  ]);
  t.true(isFsError(t.throws(() => a.allocate(1)), 'ENOSPC'));
  a.unreserve(r1);
  a.unreserve(r2);
  t.deepEqual(a.availExtents(), [{ start: 0, len: 64 }]);
  t.throws(() => a.unreserve(r1), { message: /not reserved/ });
});

test('freed runs are not reusable before release (the commit) and reusable after', (t) => {
  const a = new Allocator(10, [{ start: 0, len: 10 }]);
  const r = a.allocate(10);
  for (const run of r) a.commitAllocated(run);
  t.is(a.durableFreeBlocks, 0);
  a.freeDurable({ start: 2, len: 3 });
  t.is(a.durableFreeBlocks, 3);
  t.is(a.freeBlocks, 0);
  t.true(isFsError(t.throws(() => a.allocate(1)), 'ENOSPC'));
  a.release([{ start: 2, len: 3 }]);
  t.deepEqual(a.allocate(3), [{ start: 2, len: 3 }]);
});

test('a new file does not start inside another file\'s window; windows yield when space is short', (t) => {
  const a = new Allocator(2 * WINDOW_BLOCKS + 64, [{ start: 0, len: 2 * WINDOW_BLOCKS + 64 }]);
  t.deepEqual(a.allocate(16, undefined, 1), [{ start: 0, len: 16 }]);
  // owner 2 has no goal: it lands after owner 1's window, so owner 1 can continue at 16
  t.deepEqual(a.allocate(16, undefined, 2), [{ start: 16 + WINDOW_BLOCKS, len: 16 }]);
  t.deepEqual(a.allocate(16, 16, 1), [{ start: 16, len: 16 }]);
  // owner 3: both windows cover almost everything; what is left (tail) is too small for 100
  // blocks outside them, so the windows are ignored rather than failing
  const r = a.allocate(100, undefined, 3);
  t.is(sum(r), 100);
  t.is(a.freeBlocks, 2 * WINDOW_BLOCKS + 64 - 148);
  // a forgotten owner's window no longer pushes others away
  const b = new Allocator(4 * WINDOW_BLOCKS, [{ start: 0, len: 4 * WINDOW_BLOCKS }]);
  b.allocate(8, undefined, 1);
  b.forgetOwner(1);
  t.deepEqual(b.allocate(8, undefined, 2), [{ start: 8, len: 8 }]);
});

// --- through the metadata store: the commit points are real LMDB transactions -----------

test('blocks freed by truncate are reused only after the truncate has committed', async (t) => {
  const { meta } = await openStore(t);
  const ino = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  const runs = meta.allocateBlocks(ino, 0, SMALL_BLOCKS);
  await meta.attachExtents(ino, [{ fileBlock: 0, devBlock: runs[0]!.start, len: SMALL_BLOCKS }], SMALL_BLOCKS * 4096);
  t.is(meta.statfs().bfree, 0);

  const other = await meta.create(ROOT_INO, 'g', 0o644, 0, 0);
  const truncating = meta.truncate(ino, 0);
  // the free is queued, not committed: its blocks must not be handed out
  t.true(isFsError(t.throws(() => meta.allocateBlocks(other, 0, 1)), 'ENOSPC'));
  t.is(meta.statfs().bfree, 0);
  await truncating;
  t.is(meta.statfs().bfree, SMALL_BLOCKS);
  t.deepEqual(meta.allocateBlocks(other, 0, 4), [{ start: 0, len: 4 }]);
});

test('blocks freed by freeInode are reused only after commit; adjacent frees merge into one extent', async (t) => {
  const { meta } = await openStore(t);
  const inos: number[] = [];
  for (const name of ['a', 'b', 'c']) {
    const ino = await meta.create(ROOT_INO, name, 0o644, 0, 0);
    const [run] = meta.allocateBlocks(ino, 0, 100);
    await meta.attachExtents(ino, [{ fileBlock: 0, devBlock: run!.start, len: run!.len }], 100 * 4096);
    inos.push(ino);
  }
  t.is(meta.statfs().bfree, SMALL_BLOCKS - 300);
  for (const name of ['a', 'c', 'b']) await meta.unlink(ROOT_INO, name);
  const frees = inos.map((i) => meta.freeInode(i));
  t.is(meta.statfs().bfree, SMALL_BLOCKS - 300, 'not reusable before commit');
  await Promise.all(frees);
  t.deepEqual(meta.allocatorState().extents, [{ start: 0, len: SMALL_BLOCKS }]);
});

test('reservations that were never attached are free again after reopen (crash before attach)', async (t) => {
  const { store, meta } = await openStore(t);
  const ino = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  meta.allocateBlocks(ino, 0, 500);
  t.is(meta.statfs().bfree, SMALL_BLOCKS - 500);
  const again = await reopen(t, store, meta);
  t.is(again.statfs().bfree, SMALL_BLOCKS);
  t.deepEqual(again.fileExtents(ino), []);
});
