/**
 * The mount options of fault injection and delay, with the ranges of their control files
 * (`.aheadfs/fail_make_request/`, `.aheadfs/delay/`; src/block/fault-inject.ts):
 *
 *   --fail-probability PCT   --fail-interval N   --fail-times N   --fail-space BYTES
 *   --fail-verbose N         --fail-ops LIST     --fail-sectors START-END
 *   --delay-read-us N        --delay-write-us N
 *
 * Options not given leave the kernel's defaults (probability 0: off). A bad value is a
 * UsageError (one line, exit 2) naming the option and what it takes.
 */

import type { Argv } from 'yargs';
import { BlkFaults, formatOps, parseOps, parseSectors, parseWhole, type FaultConfig } from '../block/fault-inject.js';
import { isFsError, UsageError } from '../errors.js';

/** Option name -> the FaultConfig field it sets. */
const NUMERIC = {
  'fail-probability': 'probability',
  'fail-interval': 'interval',
  'fail-times': 'times',
  'fail-space': 'space',
  'fail-verbose': 'verbose',
  'delay-read-us': 'readUs',
  'delay-write-us': 'writeUs',
} as const satisfies Record<string, keyof FaultConfig>;

type NumericOption = keyof typeof NUMERIC;
export type RawFaultArgs = { [K in NumericOption | 'fail-ops' | 'fail-sectors']?: string | undefined };

const DESCRIBE: Record<NumericOption | 'fail-ops' | 'fail-sectors', string> = {
  'fail-probability': 'fail_make_request: percent of requests failed with EIO (0..100; 0 = off)',
  'fail-interval': 'fail_make_request: only every N-th eligible request',
  'fail-times': 'fail_make_request: failures at most (-1 = no limit; default 1)',
  'fail-space': 'fail_make_request: bytes let through before failures start',
  'fail-verbose': 'fail_make_request: 0 quiet, 1 a log line per failure, 2 also the call trace (default)',
  'fail-ops': 'fail_make_request: which requests: read,write,flush (any set)',
  'fail-sectors': 'fail_make_request: only requests overlapping START-END (512-byte sectors, inclusive)',
  'delay-read-us': 'microseconds added to each read request (like dm-delay)',
  'delay-write-us': 'microseconds added to each write request',
};

/** Declare the options on a yargs builder (all strings: validated by parseFaultArgs). */
export function faultOptions<T>(y: Argv<T>): Argv<T> {
  let out = y;
  for (const [name, describe] of Object.entries(DESCRIBE)) {
    out = out.option(name, { type: 'string', requiresArg: true, describe });
  }
  return out;
}

function usage(option: string, value: string, err: unknown): UsageError {
  const why = isFsError(err) ? err.message.replace(/^[A-Z]+: [a-z_-]+: /, '') : String(err);
  return new UsageError(`bad --${option} '${value}': ${why}`);
}

/** Parse and check; undefined when no fault option was given. Throws UsageError. */
export function parseFaultArgs(a: RawFaultArgs): Partial<FaultConfig> | undefined {
  const c: Partial<FaultConfig> = {};
  for (const [option, field] of Object.entries(NUMERIC) as [NumericOption, (typeof NUMERIC)[NumericOption]][]) {
    const v = a[option];
    if (v === undefined) continue;
    try {
      c[field] = parseWhole(option, String(v), { signed: field === 'times' });
      new BlkFaults().configure({ [field]: c[field] }); // the control files' ranges
    } catch (err) {
      throw usage(option, String(v), err);
    }
  }
  const ops = a['fail-ops'];
  if (ops !== undefined) {
    try {
      c.ops = parseOps(String(ops));
    } catch (err) {
      throw usage('fail-ops', String(ops), err);
    }
  }
  const sectors = a['fail-sectors'];
  if (sectors !== undefined) {
    try {
      c.sectors = parseSectors(String(sectors));
    } catch (err) {
      throw usage('fail-sectors', String(sectors), err);
    }
  }
  return Object.keys(c).length > 0 ? c : undefined;
}

/** The daemon's command-line arguments for already checked values. */
export function faultArgs(c: Partial<FaultConfig> | undefined): string[] {
  if (c === undefined) return [];
  const args: string[] = [];
  for (const [option, field] of Object.entries(NUMERIC) as [NumericOption, (typeof NUMERIC)[NumericOption]][]) {
    const v = c[field];
    if (v !== undefined) args.push(`--${option}`, String(v));
  }
  if (c.ops !== undefined) args.push('--fail-ops', formatOps(c.ops));
  if (c.sectors !== undefined) args.push('--fail-sectors', `${c.sectors.start}-${c.sectors.end}`);
  return args;
}
