/**
 * The mount options of fault injection and delay, with the ranges of their control files
 * (`.aheadfs/fail_make_request/`, `.aheadfs/delay/`): both come from the knob table
 * (src/knobs/table.ts), so a flag and its file take the same values.
 *
 *   --fail-probability PCT   --fail-interval N   --fail-times N   --fail-space BYTES
 *   --fail-verbose N         --fail-ops LIST     --fail-sectors START-END
 *   --delay-read-us N        --delay-write-us N
 *
 * Options not given leave the kernel's defaults (probability 0: off). A bad value is a
 * UsageError (one line, exit 2) naming the option and what it takes.
 */

import type { FaultConfig } from '../block/fault-inject.js';
import { KNOBS, parseFlag, type Knob } from '../knobs/table.js';

/** FaultConfig field -> its knob (each has a mount flag). */
const FAULT_KNOBS = {
  probability: KNOBS.failProbability,
  interval: KNOBS.failInterval,
  times: KNOBS.failTimes,
  space: KNOBS.failSpace,
  verbose: KNOBS.failVerbose,
  ops: KNOBS.failOps,
  sectors: KNOBS.failSectors,
  readUs: KNOBS.delayReadUs,
  writeUs: KNOBS.delayWriteUs,
} as const satisfies { [F in keyof FaultConfig]: Knob<FaultConfig[F]> };

type Field = keyof typeof FAULT_KNOBS;
const FIELDS = Object.keys(FAULT_KNOBS) as Field[];

/** The raw flag values, by flag name (`fail-probability`). */
export type RawFaultArgs = Record<string, unknown>;

function flagOf(field: Field): string {
  const flag = FAULT_KNOBS[field].flag;
  if (flag === undefined) throw new Error(`knob ${FAULT_KNOBS[field].name} has no mount flag`);
  return flag;
}

/** Parse and check; undefined when no fault option was given. Throws UsageError. */
export function parseFaultArgs(a: RawFaultArgs): Partial<FaultConfig> | undefined {
  const c: Partial<Record<Field, unknown>> = {};
  for (const field of FIELDS) {
    const v = a[flagOf(field)];
    if (v === undefined) continue;
    c[field] = parseFlag(FAULT_KNOBS[field] as Knob<unknown>, String(v));
  }
  return Object.keys(c).length > 0 ? (c as Partial<FaultConfig>) : undefined;
}

/** The daemon's command-line arguments for already checked values. */
export function faultArgs(c: Partial<FaultConfig> | undefined): string[] {
  if (c === undefined) return [];
  const args: string[] = [];
  for (const field of FIELDS) {
    const v = c[field];
    if (v !== undefined) args.push(`--${flagOf(field)}`, (FAULT_KNOBS[field] as Knob<unknown>).format(v));
  }
  return args;
}
