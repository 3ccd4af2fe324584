/**
 * The buddy allocator of the frame arena (mm/page_alloc.c: __rmqueue_smallest, expand,
 * __free_one_page): orders, natural alignment, split and merge, exhaustion,
 * fragmentation, and a property test over random alloc/free sequences.
 */
import test from 'ava';
import fc from 'fast-check';
import { FrameArena, MAX_PAGE_ORDER } from '../../../src/mm/frames.js';

const F = 4096;

test('a fresh arena is its largest aligned blocks; MAX_PAGE_ORDER caps them', (t) => {
  t.deepEqual(new FrameArena(16 * F).freeBlocks(), [[0, 4]]);
  // 13 frames: 8 + 4 + 1, each naturally aligned
  t.deepEqual(new FrameArena(13 * F).freeBlocks(), [[12, 0], [8, 2], [0, 3]]);
  const big = new FrameArena(4096 * F); // 16 MiB: four order-10 blocks
  t.is(big.maxOrder, MAX_PAGE_ORDER);
  t.deepEqual(big.buddyinfo(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
});

test('alloc splits the smallest block that fits, keeps the lower half, frees the upper halves', (t) => {
  const a = new FrameArena(16 * F);
  t.is(a.alloc(0), 0);
  // 16 -> 8 (8..15) + 4 (4..7) + 2 (2..3) + 1 (1)
  t.deepEqual(a.freeBlocks(), [[1, 0], [2, 1], [4, 2], [8, 3]]);
  t.is(a.alloc(2), 4, 'an exact fit is taken before a larger block is split');
  t.is(a.alloc(1), 2);
  t.is(a.alloc(3), 8);
  t.is(a.nrFree, 1);
  t.is(a.alloc(1), undefined, 'no order-1 block left although a frame is free');
  t.is(a.allocFrame(), 1);
  t.is(a.alloc(0), undefined, 'exhausted');
});

test('blocks are naturally aligned and their views contiguous and page-aligned', (t) => {
  const a = new FrameArena(64 * F);
  for (const order of [0, 3, 1, 4, 2, 0]) {
    const f = a.alloc(order)!;
    t.is(f % (1 << order), 0, `order ${order} at ${f}`);
    const v = a.view(f, order);
    t.is(v.byteOffset, f * F);
    t.is(v.byteLength, F << order);
    t.is(v.buffer, a.memory.buffer);
  }
});

test('free merges with free buddies up to the largest order', (t) => {
  const a = new FrameArena(8 * F);
  const fs = [a.alloc(0)!, a.alloc(0)!, a.alloc(1)!, a.alloc(2)!];
  t.deepEqual(fs, [0, 1, 2, 4]);
  a.freeFrame(1);
  t.deepEqual(a.freeBlocks(), [[1, 0]], 'buddy 0 in use: no merge');
  a.freeFrame(0);
  t.deepEqual(a.freeBlocks(), [[0, 1]], '0+1 merged');
  a.freeBlock(4);
  t.deepEqual(a.freeBlocks(), [[0, 1], [4, 2]], '4..7 cannot merge with 0..3 while 2..3 is used');
  a.freeBlock(2);
  t.deepEqual(a.freeBlocks(), [[0, 3]], 'everything merged back into one block');
});

test('fragmentation: free frames in pieces cannot satisfy a large order; a smaller one can', (t) => {
  const a = new FrameArena(32 * F);
  const frames = Array.from({ length: 32 }, () => a.allocFrame()!);
  for (const f of frames) if (f % 4 !== 3) a.freeFrame(f); // every fourth frame stays in use
  t.is(a.nrFree, 24);
  t.is(a.alloc(2), undefined, 'no 4 aligned contiguous frames free');
  t.is(a.alloc(3), undefined);
  // The fallback a caller makes (page_cache_ra_order -> order 0, __filemap_get_folio order--):
  const f = a.alloc(1);
  t.not(f, undefined);
  t.is(f! % 2, 0);
});

test('a double free and a free of a tail frame are caught; split blocks free frame by frame', (t) => {
  const a = new FrameArena(8 * F);
  const f = a.alloc(2)!;
  t.throws(() => a.freeBlock(f + 1), { message: /double free/ });
  a.splitBlock(f);
  for (let i = 0; i < 4; i++) t.is(a.allocatedOrder(f + i), 0);
  for (let i = 3; i >= 0; i--) a.freeFrame(f + i);
  t.throws(() => a.freeFrame(f), { message: /double free/ });
  t.deepEqual(a.freeBlocks(), [[0, 3]]);
});

test('property: random alloc/free never hands out overlapping frames, and freeing all restores the initial blocks', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300 }),
      fc.array(fc.record({ alloc: fc.boolean(), order: fc.integer({ min: 0, max: 6 }), pick: fc.nat() }), { maxLength: 200 }),
      (nrFrames, ops) => {
        const a = new FrameArena(nrFrames * F);
        const initial = a.freeBlocks().sort((x, y) => x[0] - y[0]);
        const owner = new Int32Array(nrFrames).fill(-1);
        const live: [number, number][] = [];
        for (const op of ops) {
          if (op.alloc || live.length === 0) {
            const f = a.alloc(op.order);
            if (f === undefined) continue;
            if (f % (1 << op.order) !== 0 || f + (1 << op.order) > nrFrames) return false;
            for (let i = f; i < f + (1 << op.order); i++) {
              if (owner[i] !== -1) return false; // overlap
              owner[i] = f;
            }
            live.push([f, op.order]);
          } else {
            const [f, order] = live.splice(op.pick % live.length, 1)[0]!;
            for (let i = f; i < f + (1 << order); i++) owner[i] = -1;
            a.freeBlock(f);
          }
          let used = 0;
          for (const [, o] of live) used += 1 << o;
          if (a.nrFree !== nrFrames - used) return false;
        }
        for (const [f] of live) a.freeBlock(f);
        const after = a.freeBlocks().sort((x, y) => x[0] - y[0]);
        return JSON.stringify(after) === JSON.stringify(initial) && a.nrFree === nrFrames;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
