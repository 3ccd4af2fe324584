/**
 * The `none` scheduler: a FIFO, dispatched in arrival order.
 *
 *   insert -> [ rq5 | rq4 | rq3 | rq2 | rq1 ] -> dispatch
 *               ^^^^^^^^^^^^^^^^^ a new bio may merge (back, then front) into one of the
 *               NONE_MERGE_SCAN most recent requests, like blk-mq's software-queue merge
 *               (blk_mq_bio_list_merge) does when no elevator is set.
 *
 * Requests are never merged with each other here, and nothing is reordered: with `none`
 * the order requests leave the plug (sorted per flush) is the order the device sees.
 */

import type { Bio } from './bio.js';
import type { Elevator, ElevatorContext } from './elevator.js';
import type { ElvFsEntry } from './elv-attrs.js';
import { blkAttemptBioMerge, type Request } from './request.js';

/** blk_mq_bio_list_merge looks at no more than this many recent requests. */
export const NONE_MERGE_SCAN = 8;

export class SchedNone implements Elevator {
  readonly name = 'none' as const;
  /** No tunables: with `none` the kernel has no iosched/ directory. */
  readonly attrs: readonly ElvFsEntry[] = [];
  private fifo: Request[] = [];

  constructor(private readonly ctx: ElevatorContext) {}

  insert(rq: Request): void {
    this.fifo.push(rq);
  }

  bioMerge(bio: Bio): boolean {
    if (bio.op === 'flush') return false;
    const max = this.ctx.maxSectors();
    const stop = Math.max(0, this.fifo.length - NONE_MERGE_SCAN);
    for (let i = this.fifo.length - 1; i >= stop; i--) {
      if (blkAttemptBioMerge(this.fifo[i]!, bio, max)) {
        this.ctx.merged(bio.op);
        return true;
      }
    }
    return false;
  }

  dispatch(): Request | undefined {
    return this.fifo.shift();
  }

  count(): number {
    return this.fifo.length;
  }

  drainAll(): Request[] {
    const all = this.fifo;
    this.fifo = [];
    return all;
  }
}
