import test from 'ava';
import { isFsError } from '../../../src/errors.js';
import { FrameArena, MAX_CACHE_BYTES } from '../../../src/mm/frames.js';

test('the arena cuts the cache into 4 KiB frames and hands each out once', (t) => {
  const a = new FrameArena(16 * 4096);
  t.is(a.nrFrames, 16);
  t.is(a.nrFree, 16);
  const got = new Set<number>();
  for (let i = 0; i < 16; i++) {
    const f = a.allocFrame();
    t.not(f, undefined);
    got.add(f!);
  }
  t.is(got.size, 16);
  t.is(a.allocFrame(), undefined);
  t.is(a.nrFree, 0);
  a.freeFrame(5);
  t.is(a.nrFree, 1);
  t.is(a.allocFrame(), 5);
});

test('freed neighbours merge back: a new run of four frames is contiguous again', (t) => {
  const a = new FrameArena(8 * 4096);
  const all = Array.from({ length: 8 }, () => a.allocFrame()!);
  t.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7], 'ascending on a fresh arena');
  // Free 2..5 in file order (as reclaim or drop_caches does), then 0: 2+3 and 4+5 merge
  // into order-1 blocks (their order-2 buddies 0..3 / 4..7 are still partly in use).
  for (const f of [2, 3, 4, 5, 0]) a.freeFrame(f);
  t.deepEqual(a.freeBlocks(), [[0, 0], [4, 1], [2, 1]]);
  t.is(a.alloc(1), 4, 'an order-1 block: two contiguous frames');
  t.is(a.alloc(1), 2);
  t.is(a.allocFrame(), 0);
  t.is(a.allocFrame(), undefined);
  t.is(a.nrFree, 0);
});

test('frame views are 4096 bytes, page-aligned, cached, and do not overlap', (t) => {
  const a = new FrameArena(64 * 1024);
  const v0 = a.frameView(0);
  const v3 = a.frameView(3);
  t.is(v0.byteLength, 4096);
  t.is(v3.byteOffset, 3 * 4096);
  t.is(v3.byteOffset % 4096, 0);
  t.is(a.frameView(3), v3, 'the same view object every time');
  t.is(v0.buffer, a.memory.buffer, 'views go straight into the arena (no bounce copy)');
  v0.fill(0xaa);
  t.is(v3[0], 0);
  t.is(a.frameView(1)[0], 0);
  t.throws(() => a.frameView(16), { instanceOf: RangeError });
});

test('a cache smaller than 64 KiB still works (the memory rounds up, the frames do not)', (t) => {
  const a = new FrameArena(4 * 4096);
  t.is(a.nrFrames, 4);
  t.is(a.memory.buffer.byteLength, 65536);
});

test('bad sizes are EINVAL with a clear message', (t) => {
  for (const bad of [0, -4096, 1000, 4096.5, MAX_CACHE_BYTES + 65536]) {
    const err = t.throws(() => new FrameArena(bad));
    t.true(isFsError(err, 'EINVAL'), String(bad));
  }
  const err = t.throws(() => new FrameArena(MAX_CACHE_BYTES + 65536));
  t.regex(err!.message, /4 GiB/);
});

test('a double free is caught', (t) => {
  const a = new FrameArena(2 * 4096);
  t.throws(() => a.freeFrame(0), { message: /double free/ });
  const f = a.allocFrame()!;
  a.allocFrame();
  a.freeFrame(f);
  t.throws(() => a.freeFrame(f), { message: /double free/ });
  t.throws(() => a.freeFrame(7), { instanceOf: RangeError });
});
