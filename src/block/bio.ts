/**
 * struct bio: one I/O to the device. The block layer knows nothing of pages: a bio
 * carries page-aligned byte views (segments, each a multiple of 512 bytes, normally
 * 4 KiB frames of the arena) and a completion callback.
 *
 *   sector ->  [ seg0 4K ][ seg1 4K ][ seg2 4K ]   size = 12K, contiguous on the device
 *
 * `endIo` runs exactly once, after the device finished every part of the bio (a bio
 * split at max_sectors_kb completes when its last part does); `status` is undefined on
 * success or the error code (always 'EIO' for device errors).
 */

import type { ErrorCode } from '../errors.js';

export const SECTOR_SHIFT = 9;
export const SECTOR_SIZE = 512;

/** A 512-byte sector number on the device. */
export type Sector = number;

export type BioOp = 'read' | 'write' | 'flush';

export interface Bio {
  readonly op: BioOp;
  /** First sector on the device. */
  readonly sector: Sector;
  /** Data views, contiguous on the device in this order. Empty for a flush. */
  readonly segments: Uint8Array[];
  /** Total bytes (sum of segment lengths). */
  readonly size: number;
  status: ErrorCode | undefined;
  endIo(bio: Bio): void;
  /** Opaque to the block layer: the submitter's own data (e.g. the pages). */
  readonly private?: unknown;
}

export function bioAlloc(op: BioOp, sector: Sector, segments: Uint8Array[], endIo: (bio: Bio) => void, priv?: unknown): Bio {
  let size = 0;
  for (const s of segments) size += s.byteLength;
  return { op, sector, segments, size, status: undefined, endIo, private: priv };
}
