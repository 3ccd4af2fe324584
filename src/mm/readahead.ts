// STUB for the contract; the readahead work replaces it (kernel v4.10-v4.18 mm/readahead.c).
import type { Page, PageIndex } from './page.js';
import type { AddressSpaceLike, FileRaState, MmFile } from './types.js';

export function pageCacheSyncReadahead(_mapping: AddressSpaceLike, _ra: FileRaState, _file: MmFile, _index: PageIndex, _reqSize: number): void {}
export function pageCacheAsyncReadahead(_mapping: AddressSpaceLike, _ra: FileRaState, _file: MmFile, _page: Page, _index: PageIndex, _reqSize: number): void {}
/** shrink_readahead_size_eio: a read error divides this open file's ra_pages by 4. */
export function shrinkReadaheadSizeEio(ra: FileRaState): void {
  ra.raPages = Math.floor(ra.raPages / 4);
}
