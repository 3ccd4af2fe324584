/**
 * Splitting a bio at max_sectors (block/blk-merge.c blk_queue_split / bio_split).
 *
 *   parent  [==================== 3 MiB ====================]   max_sectors_kb = 1280
 *   parts   [==== 1280K ====][==== 1280K ====][=== 512K ===]
 *           each part is a bio of its own; a segment cut by a part boundary is shared
 *           through subarray (no copy)
 *
 * The parts' endIo counts them down; the parent's endIo runs once, after the last part,
 * with the first error any part reported (bio_chain / bio_endio of the parent).
 */

import type { ErrorCode } from '../errors.js';
import { bioAlloc, SECTOR_SHIFT, type Bio } from './bio.js';

/** Cut `bio` into parts of at most `maxSectors`; returns [bio] when it already fits. */
export function bioSplit(bio: Bio, maxSectors: number): Bio[] {
  const maxBytes = maxSectors << SECTOR_SHIFT;
  if (bio.size <= maxBytes || bio.op === 'flush') return [bio];

  let remaining = Math.ceil(bio.size / maxBytes);
  let status: ErrorCode | undefined;
  const partEndIo = (part: Bio): void => {
    status ??= part.status;
    if (--remaining === 0) {
      bio.status = status;
      bio.endIo(bio);
    }
  };

  const parts: Bio[] = [];
  let segs: Uint8Array[] = [];
  let bytes = 0;
  let sector = bio.sector;
  const cut = (): void => {
    parts.push(bioAlloc(bio.op, sector, segs, partEndIo, bio));
    sector += bytes >> SECTOR_SHIFT;
    segs = [];
    bytes = 0;
  };
  for (const seg of bio.segments) {
    let off = 0;
    while (off < seg.byteLength) {
      const n = Math.min(seg.byteLength - off, maxBytes - bytes);
      segs.push(n === seg.byteLength ? seg : seg.subarray(off, off + n));
      bytes += n;
      off += n;
      if (bytes === maxBytes) cut();
    }
  }
  if (bytes > 0) cut();
  return parts;
}
