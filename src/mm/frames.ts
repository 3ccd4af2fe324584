/**
 * The frame arena: every byte the page cache holds lives in one `WebAssembly.Memory`,
 * cut into 4 KiB frames (the kernel's struct page frames, without the struct).
 *
 *   memory.buffer (page-aligned by the engine; never grown: grow() would detach views)
 *   +--------+--------+--------+--------+-- ... --+--------+
 *   | frame0 | frame1 | frame2 | frame3 |         | frameN-1|
 *   +--------+--------+--------+--------+-- ... --+--------+
 *
 *   free list: a Uint32Array used as a ring (first freed, first handed out again)
 *   [ . | . | 7 | 8 | 9 | . ]   head -> 7, nrFree = 3; a freed frame goes in after 9
 *
 * First in, first out keeps neighbours together: pages reclaimed (or dropped) in file
 * order give their frames back in that order, the next readahead window gets them in
 * the same order, and a 32-page bio is one contiguous iovec instead of 32 (a stack
 * would hand them back reversed).
 *
 * A frame's view (`frameView(n)`) is a 4096-byte Uint8Array at offset n * 4096 of the
 * arena: page-aligned, so the block layer can hand it straight to an O_DIRECT read (no
 * bounce buffer). Views are created on first use and cached (one object per frame for
 * the life of the arena).
 *
 * Frames are NOT zeroed when handed out: readpage fills them; code that needs zeros
 * (holes, the tail past EOF, a write beyond i_size) zeroes exactly what it needs.
 */

import { WASM_PAGE_SIZE, wasmMemory, type WasmMemory } from '../block/aligned.js';
import { fsError } from '../errors.js';
import { PAGE_SIZE } from './page.js';

/** The largest arena a 32-bit WebAssembly.Memory can hold: 65536 pages of 64 KiB. */
export const MAX_CACHE_BYTES = 4 * 1024 * 1024 * 1024;

export class FrameArena {
  readonly memory: WasmMemory;
  /** Frames in the arena: cacheBytes / 4096. */
  readonly nrFrames: number;
  /** Free frame numbers: nrFree of them, from `head` on, wrapping around. */
  private readonly freeRing: Uint32Array;
  private head = 0;
  private free: number;
  /** 1 while a frame is handed out: catches a double free at once, not as corruption later. */
  private readonly inUse: Uint8Array;
  /** Lazily created views, one per frame. */
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
    this.freeRing = new Uint32Array(this.nrFrames);
    // Frames are handed out in ascending order on a fresh arena.
    for (let i = 0; i < this.nrFrames; i++) this.freeRing[i] = i;
    this.free = this.nrFrames;
    this.inUse = new Uint8Array(this.nrFrames);
    this.views = new Array<Uint8Array | undefined>(this.nrFrames);
  }

  /** Free frames now. */
  get nrFree(): number {
    return this.free;
  }

  /** Take a free frame; `undefined` when none is free (the caller reclaims and retries). */
  allocFrame(): number | undefined {
    if (this.free === 0) return undefined;
    const n = this.freeRing[this.head]!;
    this.head = this.head + 1 === this.nrFrames ? 0 : this.head + 1;
    this.free--;
    this.inUse[n] = 1;
    return n;
  }

  /**
   * Give a frame back. Context: nothing may use the frame's view afterwards (the page that
   * owned it was deleted from the page cache first).
   */
  freeFrame(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.nrFrames) throw new RangeError(`freeFrame: no frame ${n}`);
    if (this.inUse[n] === 0) throw new Error(`freeFrame(${n}): the frame is already free (double free)`);
    this.inUse[n] = 0;
    const tail = this.head + this.free;
    this.freeRing[tail >= this.nrFrames ? tail - this.nrFrames : tail] = n;
    this.free++;
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
}
