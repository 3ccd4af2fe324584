/**
 * The bench's command line, parsed before anything is mounted or written: a mistyped
 * option must not start a five-minute run (nor `--help`), and a bad value must not reach
 * the run as NaN repetitions.
 *
 *   npm run bench [-- --quick] [--reps N] [--out DIR] [--scenario nbd-delay|ID,ID...]
 *                    [--read-ahead-kb N] [--mount-args="ARGS"] [--chart RESULT.json] [--help]
 */

import { UsageError } from '../errors.js';
import { parseInteger } from '../int.js';

export interface BenchArgs {
  /** Two repetitions of smaller files, for development (under two minutes). */
  quick: boolean;
  /** Repetitions per scenario; undefined: the mode's own (quick 2, full 5). */
  reps: number | undefined;
  /** Directory for the .json/.svg/.md results; undefined: bench-results/ in the repository. */
  out: string | undefined;
  /** 'nbd-delay': only the NBD latency scenario (nbd-delay.ts); undefined: the fio table. */
  scenario: 'nbd-delay' | undefined;
  /** Only these fio scenarios (ids of FIO_SCENARIO_IDS, in the bench's order); undefined: all. */
  only: string[] | undefined;
  /**
   * The window of the run: the aheadfs mounts' --read-ahead-kb and bindfs' FUSE bdi
   * read_ahead_kb (a scenario's own tunable still wins); undefined: 128, the default.
   */
  readAheadKb: number | undefined;
  /** Extra `aheadfs mount` arguments for the aheadfs stores (never --kernel: the bench sets it). */
  mountArgs: string[];
  /** Instead of a run: draw the chart of this nbd-delay result JSON (nbd-chart.ts). */
  chart: string | undefined;
  help: boolean;
}

/** The fio scenarios of run.ts, in their order (run.ts checks that it matches). */
export const FIO_SCENARIO_IDS = ['seq-read-4k', 'seq-read-128k', 'seq-read-128k-ra1m', 'rand-read-4k', 'rand-read-4k-qd16', 'seq-read-4x', 'cached-read-4k', 'cached-read-128k', 'seq-write-128k', 'seq-write-128k-fsync', 'rand-write-4k-fsync64'] as const;

export const BENCH_USAGE: string = `usage: npm run bench [-- [--quick] [--reps N] [--out DIR]]

  fio against aheadfs, its baselines (null FUSE, readahead off, O_DIRECT block files) and
  its peers (bindfs, the kernel reading the same disk),
  side by side in one run; prints a table and writes <date>.json, .svg and .md.

  --quick     2 repetitions of 32 MiB files, for development (under two minutes)
  --reps N    repetitions per scenario (1..100; default: quick 2, full 5)
  --out DIR   where the results go (default: bench-results/ in the repository)
  --scenario nbd-delay
              instead: readahead over nbdkit with a 2 ms read delay (and nbdkit vs block files);
              writes its chart too
  --scenario ID[,ID...]
              only these fio scenarios, of:
              ${FIO_SCENARIO_IDS.join(' ')}
  --read-ahead-kb N
              the window of aheadfs and bindfs for the whole run (4..65536, a multiple of 4;
              default 128; seq-read-128k-ra1m still sets 1024)
  --mount-args="ARGS"
              extra aheadfs mount arguments for the aheadfs stores (not --kernel: aheadfs
              runs 6.18 and aheadfs-4.18 runs 4.18 in the seq-read-4k, seq-read-128k and
              cached-read-128k scenarios)
  --chart RESULT.json
              instead: draw the chart of an nbd-delay result (RESULT.svg/.png, or in --out DIR)
  --help      this text
`;

/** Most repetitions accepted: a full run of 100 takes well over an hour already. */
export const MAX_REPS = 100;

/** Parse the bench's arguments (without node and the script). Throws UsageError, one line. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const out: BenchArgs = { quick: false, reps: undefined, out: undefined, scenario: undefined, only: undefined, readAheadKb: undefined, mountArgs: [], chart: undefined, help: false };
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
        const n = parseInteger(v, { min: 1, max: MAX_REPS });
        if (!n.ok) throw new UsageError(`--reps must be a whole number from 1 to ${MAX_REPS} (got ${JSON.stringify(v)})`);
        out.reps = n.value;
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
        if (v === 'nbd-delay') {
          out.scenario = v;
          break;
        }
        const ids = v.split(',');
        const known: readonly string[] = FIO_SCENARIO_IDS;
        const bad = ids.find((id) => !known.includes(id));
        if (bad !== undefined) throw new UsageError(`--scenario must be nbd-delay or a comma list of ${FIO_SCENARIO_IDS.join(', ')} (got ${JSON.stringify(bad)})`);
        out.only = known.filter((id) => ids.includes(id));
        break;
      }
      case '--read-ahead-kb': {
        const v = value();
        const n = parseInteger(v, { min: 4, max: 65536, multipleOf: 4 });
        if (!n.ok) throw new UsageError(`--read-ahead-kb must be a multiple of 4 from 4 to 65536 (got ${JSON.stringify(v)})`);
        out.readAheadKb = n.value;
        break;
      }
      case '--mount-args': {
        const v = value().trim();
        if (v === '') throw new UsageError('--mount-args needs arguments');
        const extra = v.split(/\s+/);
        // The bench mounts aheadfs under both kernels itself (aheadfs: 6.18, aheadfs-4.18).
        if (extra.some((x) => x === '--kernel' || x.startsWith('--kernel='))) throw new UsageError('--mount-args must not set --kernel: the bench mounts aheadfs with --kernel 6.18 and aheadfs-4.18 with --kernel 4.18 itself');
        out.mountArgs.push(...extra);
        break;
      }
      case '--chart': {
        const v = value();
        if (!v.endsWith('.json')) throw new UsageError(`--chart needs an nbd-delay result .json file (got ${JSON.stringify(v)})`);
        out.chart = v;
        break;
      }
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(a)} (try --help)`);
    }
  }
  return out;
}
