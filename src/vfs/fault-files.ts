/**
 * `.aheadfs/fail_make_request/` and `.aheadfs/delay/`: the fault-injection knobs of the
 * block layer (src/block/fault-inject.ts), like the kernel's
 * /sys/kernel/debug/fail_make_request/ and a dm-delay table.
 *
 *   fail_make_request/probability  percent 0..100 (0: off)
 *   fail_make_request/interval     0..INT_MAX
 *   fail_make_request/times        -1 (no limit) or 0..INT_MAX; counts down as failures happen
 *   fail_make_request/space        bytes 0..INT_MAX; counts down as I/O is let through
 *   fail_make_request/verbose      0, 1 or 2
 *   fail_make_request/ops          read,write,flush (any non-empty set)
 *   fail_make_request/sectors      START-END, inclusive, 512-byte sectors
 *   delay/read_us, delay/write_us  0..10000000 microseconds added to each request's completion
 *
 * Each reads as one line and takes one value per write; a bad value is refused with
 * EINVAL and changes nothing. The values act at once (on the next request dispatched).
 */

import { ATTR_EXPECT, formatOps, formatSectors, parseOps, parseSectors, parseWhole, type BlkFaults, type FaultAttrValues } from '../block/fault-inject.js';
import type { Tunable } from './tunables.js';

/** A directory of simple read/write files directly under `.aheadfs/`. */
export interface ControlGroup {
  names(): string[];
  get(name: string): Tunable | undefined;
}

export const FAIL_MAKE_REQUEST_DIR = 'fail_make_request';
export const DELAY_DIR = 'delay';

function group(entries: Record<string, Tunable>): ControlGroup {
  return { names: () => Object.keys(entries), get: (name) => (Object.hasOwn(entries, name) ? entries[name] : undefined) };
}

function attr(f: BlkFaults, name: keyof FaultAttrValues, doc: string): Tunable {
  return {
    doc: `${doc} (${ATTR_EXPECT[name]})`,
    read: () => String(f.get(name)),
    write: (v) => f.set(name, parseWhole(name, v, { signed: name === 'times' })),
  };
}

/** The two directories over one queue's BlkFaults; `nrSectors` shows the default range. */
export function makeFaultFiles(f: BlkFaults, nrSectors: number | undefined): Record<string, ControlGroup> {
  return {
    [FAIL_MAKE_REQUEST_DIR]: group({
      probability: attr(f, 'probability', 'likelihood of failure injection, in percent; 0 turns it off'),
      interval: attr(f, 'interval', 'fail only every interval-th request that passed the other tests'),
      times: attr(f, 'times', 'how many failures may happen at most; -1: no limit'),
      space: attr(f, 'space', 'bytes of I/O let through before failures may start'),
      verbose: attr(f, 'verbose', "0: no message; 1: a log line per failure; 2: also the call trace"),
      ops: {
        doc: 'which requests may fail: any of read, write, flush',
        read: () => formatOps(f.ops()),
        write: (v) => f.setOps(parseOps(v)),
      },
      sectors: {
        doc: 'the region aimed at: START-END, inclusive, 512-byte sectors (flushes are not filtered by it)',
        read: () => formatSectors(f.sectors(), nrSectors),
        write: (v) => f.setSectors(parseSectors(v)),
      },
    }),
    [DELAY_DIR]: group({
      read_us: {
        doc: 'microseconds added to the completion of each read request',
        read: () => String(f.delayUs('read')),
        write: (v) => f.setDelayUs('read', parseWhole('read_us', v, { signed: false })),
      },
      write_us: {
        doc: 'microseconds added to the completion of each write request',
        read: () => String(f.delayUs('write')),
        write: (v) => f.setDelayUs('write', parseWhole('write_us', v, { signed: false })),
      },
    }),
  };
}
