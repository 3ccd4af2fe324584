/**
 * The frame arena and its buddy allocator (mm/page_alloc.c, Linux 6.18): every byte the
 * page cache holds lives in one `WebAssembly.Memory`, cut into 4 KiB frames (the kernel's
 * struct page frames, without the struct), handed out in naturally aligned blocks of
 * 2^order contiguous frames.
 *
 *   memory.buffer (page-aligned by the engine; never grown: grow() would detach views)
 *   +--------+--------+--------+--------+-- ... --+--------+
 *   | frame0 | frame1 | frame2 | frame3 |         | frameN-1|
 *   +--------+--------+--------+--------+-- ... --+--------+
 *
 *   free_area[order]: one doubly linked list per order of free blocks (head frames)
 *   order 2: [ 8 ] -> [ 0 ]             block 8 = frames 8..11, block 0 = frames 0..3
 *   order 1: [ 6 ]                      frames 6..7
 *   order 0: [ 5 ]                      frame 5 (its buddy 4 is allocated)
 *
 * alloc(order) (__rmqueue_smallest + expand): take the first block of the smallest order
 * >= `order` that has one; while it is larger than asked, cut it in two, put the upper
 * half on the free list one order down, keep the lower half. Returns the head frame, or
 * `undefined` when no block that large is free (the caller reclaims, or falls back to a
 * smaller order: see pagecache.ts `filemapAddFolio` and the readahead order fallback).
 *
 * free(frame) (__free_one_page): the block's buddy at this order is `frame ^ (1 << order)`;
 * while the buddy is a free block of the same order, take it off its list and merge
 * (the merged block starts at the lower of the two), one order up, to maxOrder. After
 * every block is freed, the free lists are the initial max-order blocks again.
 *
 * The top order is min(MAX_PAGE_ORDER, log2(frames)): a 64 MiB cache (16384 frames) is
 * sixteen order-10 blocks. An arena whose size is not a multiple of the top block is
 * cut, from frame 0 up, into the largest aligned blocks that fit.
 *
 * A block's view (`view(frame, order)`) is a 2^order * 4096-byte Uint8Array at offset
 * frame * 4096 of the arena: page-aligned, so the block layer can hand it straight to an
 * O_DIRECT read (no bounce buffer). Order-0 views are cached (one object per frame).
 *
 * Frames are NOT zeroed when handed out: read_folio fills them; code that needs zeros
 * (holes, the tail past EOF, a write beyond i_size) zeroes exactly what it needs.
 */

import { WASM_PAGE_SIZE, wasmMemory, type WasmMemory } from '../block/aligned.js';
import { fsError } from '../errors.js';
import { PAGE_SIZE } from './page.js';

/** The largest arena a 32-bit WebAssembly.Memory can hold: 65536 pages of 64 KiB. */
export const MAX_CACHE_BYTES = 4 * 1024 * 1024 * 1024;

/**
 * include/linux/mmzone.h, 6.18: MAX_PAGE_ORDER = CONFIG_ARCH_FORCE_MAX_ORDER or 10; x86-64
 * does not force it, so the buddy allocator's largest block is 2^10 pages = 4 MiB.
 */
export const MAX_PAGE_ORDER = 10;
/** NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1 free lists. */
export const NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;

const NONE = -1;

export class FrameArena {
  readonly memory: WasmMemory;
  /** Frames in the arena: cacheBytes / 4096. */
  readonly nrFrames: number;
  /** The largest block order this arena has: min(MAX_PAGE_ORDER, floor(log2(nrFrames))). */
  readonly maxOrder: number;
  /** free_area[order]: the head frame of the first free block, or NONE. */
  private readonly freeHead = new Int32Array(NR_PAGE_ORDERS).fill(NONE);
  /** Free blocks per order (free_area[order].nr_free). */
  private readonly nrFreeBlocks = new Array<number>(NR_PAGE_ORDERS).fill(0);
  /** List links of free blocks, indexed by head frame. Meaningless for other frames. */
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  /**
   * Invariant: freeOrder[f] = the order of the free block whose head is f (the kernel's
   * PageBuddy + buddy_order), NONE for every other frame.
   */
  private readonly freeOrder: Int8Array;
  /**
   * Invariant: allocOrder[f] = the order of the allocated block whose head is f, NONE for
   * every other frame. Catches a double free (or a free of a tail frame) at once.
   */
  private readonly allocOrder: Int8Array;
  private free = 0;
  /** Lazily created order-0 views, one per frame. */
  private readonly views: (Uint8Array | undefined)[];

  /**
   * @param cacheBytes the cache size in bytes: a positive multiple of 4 KiB, at most 4 GiB.
   *   The memory itself is rounded up to a whole number of 64 KiB WebAssembly pages; only
   *   `cacheBytes / 4096` frames are handed out (so a test can have a 4-frame cache).
   */
  constructor(cacheBytes: number) {
    if (!Number.isSafeInteger(cacheBytes) || cacheBytes <= 0 || cacheBytes % PAGE_SIZE !== 0) {
      throw fsError('EINVAL', `cache size must be a positive multiple of ${PAGE_SIZE} bytes, got ${cacheBytes}`);
    }
    if (cacheBytes > MAX_CACHE_BYTES) {
      throw fsError('EINVAL', `cache size ${cacheBytes} bytes is larger than the 4 GiB a WebAssembly.Memory can hold`);
    }
    const wasmPages = Math.ceil(cacheBytes / WASM_PAGE_SIZE);
    try {
      // initial === maximum: the arena never grows (grow() would detach every view).
      this.memory = wasmMemory(wasmPages);
    } catch (err) {
      throw fsError('ENOMEM', `cannot allocate a ${cacheBytes}-byte page cache arena`, err);
    }
    this.nrFrames = cacheBytes / PAGE_SIZE;
    this.maxOrder = Math.min(MAX_PAGE_ORDER, Math.floor(Math.log2(this.nrFrames)));
    this.next = new Int32Array(this.nrFrames).fill(NONE);
    this.prev = new Int32Array(this.nrFrames).fill(NONE);
    this.freeOrder = new Int8Array(this.nrFrames).fill(NONE);
    this.allocOrder = new Int8Array(this.nrFrames).fill(NONE);
    this.views = new Array<Uint8Array | undefined>(this.nrFrames);
    // memblock_free_all: the largest aligned blocks that fit, from frame 0 up. Added at
    // the tail so that a fresh arena hands out ascending frames.
    let f = 0;
    while (f < this.nrFrames) {
      let order = this.maxOrder;
      while ((f & ((1 << order) - 1)) !== 0 || f + (1 << order) > this.nrFrames) order--;
      this.addTail(f, order);
      f += 1 << order;
    }
    this.free = this.nrFrames;
  }

  /** Free frames now (pages, not blocks). */
  get nrFree(): number {
    return this.free;
  }

  /** Free blocks of each order, index = order (the kernel's /proc/buddyinfo row). */
  buddyinfo(): number[] {
    return this.nrFreeBlocks.slice(0, this.maxOrder + 1);
  }

  /** Every free block as [head frame, order], in list order per order (for tests). */
  freeBlocks(): [number, number][] {
    const out: [number, number][] = [];
    for (let order = 0; order <= this.maxOrder; order++) {
      for (let f = this.freeHead[order]!; f !== NONE; f = this.next[f]!) out.push([f, order]);
    }
    return out;
  }

  /** The order of the allocated block headed by `frame`, or undefined if none is. */
  allocatedOrder(frame: number): number | undefined {
    const o = this.allocOrder[frame];
    return o === undefined || o === NONE ? undefined : o;
  }

  private addHead(f: number, order: number): void {
    const h = this.freeHead[order]!;
    this.next[f] = h;
    this.prev[f] = NONE;
    if (h !== NONE) this.prev[h] = f;
    this.freeHead[order] = f;
    this.freeOrder[f] = order;
    this.nrFreeBlocks[order]!++;
  }

  private addTail(f: number, order: number): void {
    let t = this.freeHead[order]!;
    if (t === NONE) {
      this.addHead(f, order);
      return;
    }
    while (this.next[t] !== NONE) t = this.next[t]!;
    this.next[t] = f;
    this.prev[f] = t;
    this.next[f] = NONE;
    this.freeOrder[f] = order;
    this.nrFreeBlocks[order]!++;
  }

  private unlink(f: number, order: number): void {
    const p = this.prev[f]!;
    const n = this.next[f]!;
    if (p !== NONE) this.next[p] = n;
    else this.freeHead[order] = n;
    if (n !== NONE) this.prev[n] = p;
    this.freeOrder[f] = NONE;
    this.nrFreeBlocks[order]!--;
  }

  /**
   * __rmqueue_smallest + expand: a naturally aligned block of 2^order contiguous frames
   * (its head frame is a multiple of 2^order), or `undefined` when no free block is that
   * large (even if enough frames are free in smaller pieces: fragmentation).
   */
  alloc(order: number): number | undefined {
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) throw new RangeError(`alloc: bad order ${order}`);
    let cur = order;
    while (cur <= this.maxOrder && this.freeHead[cur] === NONE) cur++;
    if (cur > this.maxOrder) return undefined;
    const f = this.freeHead[cur]!;
    this.unlink(f, cur);
    // expand: keep the lower half, give the upper half back one order down.
    while (cur > order) {
      cur--;
      this.addHead(f + (1 << cur), cur);
    }
    this.allocOrder[f] = order;
    this.free -= 1 << order;
    return f;
  }

  /**
   * __free_one_page: give back the block headed by `frame` (of the order it was allocated
   * with), merging it with its free buddies. Context: nothing may use the block's views
   * afterwards (the folio that owned it was removed from the page cache first).
   */
  freeBlock(frame: number): void {
    if (!Number.isInteger(frame) || frame < 0 || frame >= this.nrFrames) throw new RangeError(`free: no frame ${frame}`);
    const order0 = this.allocOrder[frame]!;
    if (order0 === NONE) throw new Error(`free(${frame}): the frame does not head an allocated block (double free)`);
    this.allocOrder[frame] = NONE;
    this.free += 1 << order0;
    let f = frame;
    let order = order0;
    while (order < this.maxOrder) {
      const buddy = f ^ (1 << order);
      if (buddy + (1 << order) > this.nrFrames || this.freeOrder[buddy] !== order) break;
      this.unlink(buddy, order);
      f = Math.min(f, buddy);
      order++;
    }
    this.addHead(f, order);
  }

  /**
   * split_page: turn the allocated block headed by `frame` into 2^order allocated order-0
   * frames, each freed on its own from now on (a large folio split into small ones).
   */
  splitBlock(frame: number): void {
    const order = this.allocOrder[frame]!;
    if (order === NONE) throw new Error(`splitBlock(${frame}): the frame does not head an allocated block`);
    for (let i = 0; i < 1 << order; i++) this.allocOrder[frame + i] = 0;
  }

  /** Take a free frame (order 0); `undefined` when none is free. */
  allocFrame(): number | undefined {
    return this.alloc(0);
  }

  /** Give back a frame allocated with allocFrame (or any block, by its head frame). */
  freeFrame(n: number): void {
    this.freeBlock(n);
  }

  /** The 4096-byte, page-aligned view of frame `n` (created once, then cached). */
  frameView(n: number): Uint8Array {
    let v = this.views[n];
    if (v === undefined) {
      if (!Number.isInteger(n) || n < 0 || n >= this.nrFrames) throw new RangeError(`frameView: no frame ${n}`);
      v = new Uint8Array(this.memory.buffer, n * PAGE_SIZE, PAGE_SIZE);
      this.views[n] = v;
    }
    return v;
  }

  /** The view of the 2^order frames from `frame` on: one contiguous, page-aligned range. */
  view(frame: number, order: number): Uint8Array {
    if (order === 0) return this.frameView(frame);
    const n = 1 << order;
    if (!Number.isInteger(frame) || frame < 0 || frame + n > this.nrFrames) throw new RangeError(`view: no frames ${frame}..${frame + n - 1}`);
    return new Uint8Array(this.memory.buffer, frame * PAGE_SIZE, n * PAGE_SIZE);
  }
}
