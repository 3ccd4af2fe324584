/**
 * struct request: one I/O to the device built from one or more bios that are contiguous
 * on the device (block/blk-merge.c).
 *
 *   back merge:   [ request ........ ][ bio ]      rq end == bio sector
 *   front merge:  [ bio ][ request ........ ]      bio end == rq sector
 *   rq merge:     [ rq ][ next ]                    two queued requests become one
 *
 * A merge is allowed when both have the same direction (read/write; flushes never merge)
 * and the result stays within max_sectors. The device sees the concatenation of the bios'
 * segments, in order; on completion every bio gets its own endIo.
 *
 * Times are in ms from the queue's clock. `startMs` is the kernel's start_time_ns: the
 * moment the request was created (in the plug, or on insert), so ticks include plug and
 * queue time.
 */

import type { Bio, BioOp, Sector } from './bio.js';
import { SECTOR_SHIFT } from './bio.js';
import type { RequestQueue } from './queue.js';

export type DataDir = 'read' | 'write';

export interface Request {
  readonly q: RequestQueue;
  readonly op: BioOp;
  /** First sector; moves down on a front merge. Invariant: bios[0].sector === sector. */
  sector: Sector;
  /** Invariant: the sum of the bios' sizes >> 9. */
  nrSectors: number;
  /** In device order. */
  bios: Bio[];
  /** Creation time (ms); a request merge keeps the earlier of the two. */
  startMs: number;
  /** mq-deadline's expiry time (ms), set on insert. */
  fifoTime: number;
}

export function rqEnd(rq: Request): Sector {
  return rq.sector + rq.nrSectors;
}

export function bioSectors(bio: Bio): number {
  return bio.size >> SECTOR_SHIFT;
}

export function bioEnd(bio: Bio): Sector {
  return bio.sector + bioSectors(bio);
}

export function rqAlloc(q: RequestQueue, bio: Bio, nowMs: number): Request {
  return { q, op: bio.op, sector: bio.sector, nrSectors: bioSectors(bio), bios: [bio], startMs: nowMs, fifoTime: 0 };
}

/** The views the device reads into / writes from, in device order. */
export function rqSegments(rq: Request): Uint8Array[] {
  if (rq.bios.length === 1) return rq.bios[0]!.segments;
  const out: Uint8Array[] = [];
  for (const b of rq.bios) for (const s of b.segments) out.push(s);
  return out;
}

export function rqBytes(rq: Request): number {
  return rq.nrSectors << SECTOR_SHIFT;
}

function mergeable(rq: Request, op: BioOp, sectors: number, maxSectors: number): boolean {
  return rq.op === op && op !== 'flush' && rq.nrSectors + sectors <= maxSectors;
}

/** ll_back_merge_fn: may `bio` be appended to `rq`? */
export function canBackMerge(rq: Request, bio: Bio, maxSectors: number): boolean {
  return rqEnd(rq) === bio.sector && mergeable(rq, bio.op, bioSectors(bio), maxSectors);
}

/** ll_front_merge_fn: may `bio` be put in front of `rq`? */
export function canFrontMerge(rq: Request, bio: Bio, maxSectors: number): boolean {
  return bioEnd(bio) === rq.sector && mergeable(rq, bio.op, bioSectors(bio), maxSectors);
}

/** bio_attempt_back_merge, after canBackMerge said yes. */
export function bioBackMerge(rq: Request, bio: Bio): void {
  rq.bios.push(bio);
  rq.nrSectors += bioSectors(bio);
}

/** bio_attempt_front_merge, after canFrontMerge said yes. */
export function bioFrontMerge(rq: Request, bio: Bio): void {
  rq.bios.unshift(bio);
  rq.sector = bio.sector;
  rq.nrSectors += bioSectors(bio);
}

/**
 * blk_attempt_bio_merge: append `bio` to `rq` if it starts where `rq` ends, else put it in
 * front if it ends where `rq` starts. True when `bio` now belongs to `rq`.
 */
export function blkAttemptBioMerge(rq: Request, bio: Bio, maxSectors: number): boolean {
  if (canBackMerge(rq, bio, maxSectors)) {
    bioBackMerge(rq, bio);
    return true;
  }
  if (canFrontMerge(rq, bio, maxSectors)) {
    bioFrontMerge(rq, bio);
    return true;
  }
  return false;
}

/** attempt_merge's checks: may `next` be appended to `rq`? */
export function canRqMerge(rq: Request, next: Request, maxSectors: number): boolean {
  return rq !== next && rqEnd(rq) === next.sector && mergeable(rq, next.op, next.nrSectors, maxSectors);
}

/** Append `next` to `rq` (after canRqMerge); `next` is gone afterwards. */
export function rqMerge(rq: Request, next: Request): void {
  for (const b of next.bios) rq.bios.push(b);
  rq.nrSectors += next.nrSectors;
  if (next.startMs < rq.startMs) rq.startMs = next.startMs;
}

export function dataDir(op: BioOp): DataDir | undefined {
  return op === 'flush' ? undefined : op;
}
