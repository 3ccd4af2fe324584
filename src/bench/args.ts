/**
 * The bench's command line, parsed before anything is mounted or written: a mistyped
 * option must not start a five-minute run (nor `--help`), and a bad value must not reach
 * the run as NaN repetitions.
 *
 *   npm run bench [-- --quick] [--reps N] [--out DIR] [--scenario nbd-delay] [--help]
 */

import { UsageError } from '../errors.js';

export interface BenchArgs {
  /** Two repetitions of smaller files, for development (under two minutes). */
  quick: boolean;
  /** Repetitions per scenario; undefined: the mode's own (quick 2, full 5). */
  reps: number | undefined;
  /** Directory for the .json/.svg/.md results; undefined: bench-results/ in the repository. */
  out: string | undefined;
  /** 'nbd-delay': only the NBD latency scenario (nbd-delay.ts); undefined: the fio table. */
  scenario: 'nbd-delay' | undefined;
  help: boolean;
}

export const BENCH_USAGE = `usage: npm run bench [-- [--quick] [--reps N] [--out DIR]]

  fio against aheadfs and its baselines (null FUSE, readahead off, O_DIRECT block files),
  side by side in one run; prints a table and writes <date>.json, .svg and .md.

  --quick     2 repetitions of 32 MiB files, for development (under two minutes)
  --reps N    repetitions per scenario (1..100; default: quick 2, full 5)
  --out DIR   where the results go (default: bench-results/ in the repository)
  --scenario nbd-delay
              instead: readahead over nbdkit with a 2 ms read delay (and nbdkit vs block files)
  --help      this text
`;

/** Most repetitions accepted: a full run of 100 takes well over an hour already. */
export const MAX_REPS = 100;

/** Parse the bench's arguments (without node and the script). Throws UsageError, one line. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const out: BenchArgs = { quick: false, reps: undefined, out: undefined, scenario: undefined, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    // --name=value is accepted as well as --name value.
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
      i++;
      return v;
    };
    switch (name) {
      case '--quick':
      case '--help':
      case '-h':
        if (eq > 0) throw new UsageError(`${name} takes no value`);
        if (name === '--quick') out.quick = true;
        else out.help = true;
        break;
      case '--reps': {
        const v = value();
        const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
        if (!Number.isSafeInteger(n) || n < 1 || n > MAX_REPS) throw new UsageError(`--reps must be a whole number from 1 to ${MAX_REPS} (got ${JSON.stringify(v)})`);
        out.reps = n;
        break;
      }
      case '--out': {
        const v = value();
        if (v === '') throw new UsageError('--out needs a directory');
        out.out = v;
        break;
      }
      case '--scenario': {
        const v = value();
        if (v !== 'nbd-delay') throw new UsageError(`--scenario must be nbd-delay (got ${JSON.stringify(v)})`);
        out.scenario = v;
        break;
      }
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(a)} (try --help)`);
    }
  }
  return out;
}
