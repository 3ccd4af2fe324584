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
 * EINVAL and changes nothing. Ranges and doc lines: the knob table (src/knobs/table.ts),
 * shared with the --fail-* / --delay-* mount flags. The values act at once (on the next request dispatched).
 */

import { formatOps, formatSectors, type BlkFaults, type FaultAttrValues } from '../block/fault-inject.js';
import { KNOBS, parseControl, type Knob } from '../knobs/table.js';
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

function attr(f: BlkFaults, name: keyof FaultAttrValues, knob: Knob<number>): Tunable {
  return {
    doc: `${knob.doc} (${knob.expected})`,
    read: () => String(f.get(name)),
    write: (v) => f.set(name, parseControl(knob, v)),
  };
}

/** The two directories over one queue's BlkFaults; `nrSectors` shows the default range. */
export function makeFaultFiles(f: BlkFaults, nrSectors: number | undefined): Record<string, ControlGroup> {
  return {
    [FAIL_MAKE_REQUEST_DIR]: group({
      probability: attr(f, 'probability', KNOBS.failProbability),
      interval: attr(f, 'interval', KNOBS.failInterval),
      times: attr(f, 'times', KNOBS.failTimes),
      space: attr(f, 'space', KNOBS.failSpace),
      verbose: attr(f, 'verbose', KNOBS.failVerbose),
      ops: {
        doc: KNOBS.failOps.doc,
        read: () => formatOps(f.ops()),
        write: (v) => f.setOps(parseControl(KNOBS.failOps, v)),
      },
      sectors: {
        doc: KNOBS.failSectors.doc,
        read: () => formatSectors(f.sectors(), nrSectors),
        write: (v) => f.setSectors(parseControl(KNOBS.failSectors, v)),
      },
    }),
    [DELAY_DIR]: group({
      read_us: {
        doc: KNOBS.delayReadUs.doc,
        read: () => String(f.delayUs('read')),
        write: (v) => f.setDelayUs('read', parseControl(KNOBS.delayReadUs, v)),
      },
      write_us: {
        doc: KNOBS.delayWriteUs.doc,
        read: () => String(f.delayUs('write')),
        write: (v) => f.setDelayUs('write', parseControl(KNOBS.delayWriteUs, v)),
      },
    }),
  };
}
