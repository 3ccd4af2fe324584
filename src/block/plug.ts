/**
 * Plugging (block/blk-core.c blk_start_plug / blk_finish_plug, blk_attempt_plug_merge).
 *
 * A plug belongs to the submitter's current synchronous run (the kernel's current->plug):
 * between blkStartPlug and blkFinishPlug, with no await in between, bios submitted with
 * `submitBio` collect in the plug as requests and are merged there; blkFinishPlug flushes
 * them, sorted by sector, into each request's queue (its I/O scheduler). Nested plugs are
 * ignored: the inner blkStartPlug returns undefined and the matching
 * blkFinishPlug(undefined) does nothing.
 *
 *   blkStartPlug ─ submitBio(8) submitBio(16) submitBio(0) ─ blkFinishPlug
 *                        │             │            │
 *   plug.mqList:    [ 8..16 ]   →  [ 8..24 ]   →  [ 8..24 ][ 0..8 ]     (16 back-merged)
 *                                                        │ sort by sector
 *                                  scheduler  ←  [ 0..8 ][ 8..24 ]     (may merge again)
 *
 * With BLK_MAX_REQUEST_COUNT requests of one queue already plugged, the plug is flushed
 * before the next request is added. If the run ends (returns to the event loop, or
 * awaits) with the plug still open, a microtask flushes it and drops it: the kernel flushes
 * a plug when its task sleeps (blk_schedule_flush_plug), and nothing may stay stuck in a
 * plug nobody will finish.
 */

import type { Bio } from './bio.js';
import type { RequestQueue } from './queue.js';
import { blkAttemptBioMerge, type Request } from './request.js';

/** Requests of one queue a plug holds before it is flushed. */
export const BLK_MAX_REQUEST_COUNT = 16;

/** Why a plug was flushed (shown in the trace). */
export type PlugFlushReason = 'finish' | 'full' | 'schedule';

export interface Plug {
  readonly id: number;
  /** Plugged requests, in submission order (the kernel's plug->mq_list). */
  readonly mqList: Request[];
}

let current: Plug | undefined;
let nextId = 1;

export function currentPlug(): Plug | undefined {
  return current;
}

/** Context: synchronous; keep the plug to the end of the same synchronous run. */
export function blkStartPlug(): Plug | undefined {
  if (current) return undefined;
  const plug: Plug = { id: nextId++, mqList: [] };
  current = plug;
  queueMicrotask(() => {
    // The run that opened the plug gave up the thread without finishing it.
    if (current === plug) {
      current = undefined;
      blkFlushPlugList(plug, 'schedule');
    }
  });
  return plug;
}

export function blkFinishPlug(plug: Plug | undefined): void {
  if (!plug) return;
  if (current === plug) current = undefined;
  blkFlushPlugList(plug, 'finish');
}

/**
 * blk_flush_plug_list: hand every plugged request to its queue, sorted by sector (a
 * stable sort, so equal sectors keep submission order), one batch per queue.
 */
export function blkFlushPlugList(plug: Plug, reason: PlugFlushReason): void {
  if (plug.mqList.length === 0) return;
  const list = plug.mqList.splice(0);
  const queues: RequestQueue[] = [];
  for (const rq of list) if (!queues.includes(rq.q)) queues.push(rq.q);
  for (const q of queues) {
    const batch = list.filter((rq) => rq.q === q).sort((a, b) => a.sector - b.sector);
    q.insertRequests(batch, reason);
  }
}

/** Requests of queue `q` in the plug (blk_attempt_plug_merge's request_count). */
export function plugRequestCount(plug: Plug, q: RequestQueue): number {
  let n = 0;
  for (const rq of plug.mqList) if (rq.q === q) n++;
  return n;
}

/**
 * blk_attempt_plug_merge: newest request first, try a back merge then a front merge of
 * `bio` into a plugged request of the same queue and direction, within `maxSectors`.
 * True when the bio now belongs to a plugged request.
 */
export function blkAttemptPlugMerge(plug: Plug, q: RequestQueue, bio: Bio, maxSectors: number): boolean {
  if (bio.op === 'flush') return false;
  for (let i = plug.mqList.length - 1; i >= 0; i--) {
    const rq = plug.mqList[i]!;
    if (rq.q === q && blkAttemptBioMerge(rq, bio, maxSectors)) return true;
  }
  return false;
}
