/**
 * The I/O scheduler interface (block/elevator.c, include/linux/elevator.h), reduced to what
 * the request queue asks of a scheduler:
 *
 *   submitBio --bioMerge?--> [ queued requests ] --dispatch--> device (within nr_requests)
 *   plug flush --insert----> [                 ]
 *                            drainAll on a scheduler switch (nothing is lost)
 *
 * Merges a scheduler makes (a bio joining a queued request, or one request absorbing
 * another) are reported through `ElevatorContext.merged` so that the queue counts them in
 * one place (elv_merge and the diskstats merges field).
 *
 * A scheduler's own tunables are its `attrs` (elevator_type.elevator_attrs, the files of
 * /sys/block/<dev>/queue/iosched/; see elv-attrs.ts), bound to that elevator instance.
 */

import type { Bio } from './bio.js';
import type { ElvFsEntry } from './elv-attrs.js';
import { MqDeadline } from './mq-deadline.js';
import type { DataDir, Request } from './request.js';
import { SchedNone } from './sched-none.js';

export const ELEVATOR_NAMES = ['none', 'mq-deadline'] as const;
export type SchedulerName = (typeof ELEVATOR_NAMES)[number];
export const DEFAULT_SCHEDULER: SchedulerName = 'mq-deadline';

export function isSchedulerName(name: string): name is SchedulerName {
  return (ELEVATOR_NAMES as readonly string[]).includes(name);
}

/** What a scheduler may ask of its queue. */
export interface ElevatorContext {
  /** max_sectors_kb in sectors, read at each merge (it is a run-time tunable). */
  maxSectors(): number;
  /** A bio or a request joined a queued request. */
  merged(dir: DataDir): void;
}

export interface Elevator {
  readonly name: SchedulerName;
  /** This elevator's iosched/ files; empty for `none` (the kernel has no iosched/ then). */
  readonly attrs: readonly ElvFsEntry[];
  /** Queue a request (read or write; never a flush). May merge it into a queued one. */
  insert(rq: Request, nowMs: number): void;
  /** Try to merge a bio into a queued request; true when the bio now belongs to one. */
  bioMerge(bio: Bio): boolean;
  /** The next request for the device, taken off the scheduler; undefined when empty. */
  dispatch(nowMs: number): Request | undefined;
  /** Requests queued. */
  count(): number;
  /** Take every queued request out, oldest first (scheduler switch). */
  drainAll(): Request[];
}

export function elevatorAlloc(name: SchedulerName, ctx: ElevatorContext): Elevator {
  switch (name) {
    case 'none':
      return new SchedNone(ctx);
    case 'mq-deadline':
      return new MqDeadline(ctx);
  }
}
