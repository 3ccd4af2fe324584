/**
 * Page-aligned memory for O_DIRECT.
 *
 * Node Buffers come from a pool and are not page-aligned; O_DIRECT needs the user buffer
 * aligned to the device's logical block size (512 or 4096). The base of a
 * `WebAssembly.Memory` is 64 KiB aligned, so views into it at multiples of 4096 are page
 * aligned. Never call `grow()` on such a memory: it detaches every view.
 *
 *   WebAssembly.Memory.buffer (base 64 KiB aligned)
 *   |<-- 4K -->|<-- 4K -->|<-- 4K -->| ...
 *   ^ view 0   ^ view 1   ^ view 2        every view page-aligned
 *
 * The mm arena (mm/frames.ts) owns the real frames, in one such memory; allocAligned is
 * for the device's own probe and tests.
 */

/** One WebAssembly page. */
export const WASM_PAGE_SIZE = 65536;

/**
 * The bit of WebAssembly.Memory we use. The project compiles with lib ES2022 and no DOM,
 * and @types/node does not declare the WebAssembly namespace, so it is typed here.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
type WasmMemoryCtor = new (desc: { initial: number; maximum?: number }) => WasmMemory;

const WasmMemoryImpl = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryCtor } }).WebAssembly.Memory;

/** A fixed-size memory of `pages` WebAssembly pages (initial = maximum: it never grows). */
export function wasmMemory(pages: number): WasmMemory {
  return new WasmMemoryImpl({ initial: pages, maximum: pages });
}

/** A zero-filled, page-aligned byte array of `bytes` (rounded up to whole 64 KiB pages underneath). */
export function allocAligned(bytes: number): Uint8Array {
  if (!Number.isInteger(bytes) || bytes <= 0) throw new RangeError(`allocAligned: bad size ${bytes}`);
  return new Uint8Array(wasmMemory(Math.ceil(bytes / WASM_PAGE_SIZE)).buffer, 0, bytes);
}
