import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_USAGE, FIO_SCENARIO_IDS, MAX_REPS, parseBenchArgs } from '../../src/bench/args.js';
import { UsageError } from '../../src/errors.js';
import { ROOT, runNode, type CliResult } from '../helpers/cli.js';

test('parseBenchArgs: defaults, --quick, --reps and --out in both spellings', (t) => {
  t.deepEqual(parseBenchArgs([]), { quick: false, reps: undefined, out: undefined, scenario: undefined, only: undefined, readAheadKb: undefined, mountArgs: [], chart: undefined, help: false });
  t.deepEqual(parseBenchArgs(['--quick', '--reps', '3', '--out', '/tmp/r']), { quick: true, reps: 3, out: '/tmp/r', scenario: undefined, only: undefined, readAheadKb: undefined, mountArgs: [], chart: undefined, help: false });
  t.deepEqual(parseBenchArgs(['--reps=7', '--out=res']), { quick: false, reps: 7, out: 'res', scenario: undefined, only: undefined, readAheadKb: undefined, mountArgs: [], chart: undefined, help: false });
  t.is(parseBenchArgs([`--reps=${MAX_REPS}`]).reps, MAX_REPS);
  t.true(parseBenchArgs(['--help']).help);
  t.true(parseBenchArgs(['-h']).help);
  t.is(parseBenchArgs(['--scenario', 'nbd-delay', '--quick']).scenario, 'nbd-delay');
});

test('parseBenchArgs: focused runs, the window, extra mount arguments and --chart', (t) => {
  // In the bench's order, whatever order they are named in.
  const a = parseBenchArgs(['--scenario', 'cached-read-128k,seq-read-128k', '--read-ahead-kb', '4096']);
  t.deepEqual(a.only, ['seq-read-128k', 'cached-read-128k']);
  t.is(a.scenario, undefined);
  t.is(a.readAheadKb, 4096);
  t.deepEqual(parseBenchArgs(['--mount-args=--scheduler none', '--mount-args= --cache-size  512M ']).mountArgs, ['--scheduler', 'none', '--cache-size', '512M']);
  t.is(parseBenchArgs(['--chart', 'r/x-nbd-delay.json']).chart, 'r/x-nbd-delay.json');
  t.deepEqual(parseBenchArgs(['--scenario=' + FIO_SCENARIO_IDS.join(',')]).only, [...FIO_SCENARIO_IDS]);
});

test('parseBenchArgs: unknown arguments and bad values are one-line usage errors', (t) => {
  const bad: string[][] = [
    ['--bogus'],
    ['quick'],
    ['--reps'],
    ['--reps', '--quick'],
    ['--reps', 'abc'],
    ['--reps', '0'],
    ['--reps', '-2'],
    ['--reps', '2.5'],
    ['--reps', String(MAX_REPS + 1)],
    ['--reps='],
    ['--out'],
    ['--out='],
    ['--quick=yes'],
    ['--scenario', 'seq'],
    ['--scenario'],
    ['--scenario', 'seq-read-128k,nbd-delay'],
    ['--scenario', 'seq-read-128k,'],
    ['--read-ahead-kb', '0'],
    ['--read-ahead-kb', '130'],
    ['--read-ahead-kb', '65540'],
    ['--read-ahead-kb', '4k'],
    ['--mount-args', '--kernel'],
    // The bench mounts both kernels itself: --kernel in --mount-args would relabel a target.
    ['--mount-args=--kernel 4.18'],
    ['--mount-args=--cache-size 512M --kernel=6.18'],
    ['--mount-args='],
    ['--chart', 'result.svg'],
    ['--chart'],
  ];
  for (const argv of bad) {
    const err = t.throws(() => parseBenchArgs(argv), { instanceOf: UsageError }, argv.join(' '));
    t.false(err?.message.includes('\n'), argv.join(' '));
  }
});

/** `node scripts/bench.js <args>`; a run that starts by mistake is stopped (SIGTERM cleans up). */
const bench = (args: string[]): Promise<CliResult> => runNode(join(ROOT, 'scripts', 'bench.js'), args, { timeoutMs: 30_000 });

test('scripts/bench: --help prints the usage and runs nothing; bad input exits 2 with one line and writes nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aheadfs-bench-args-'));
  try {
    const help = await bench(['--help', '--out', join(dir, 'help')]);
    t.is(help.code, 0, help.stderr);
    t.is(help.stdout, BENCH_USAGE);
    t.is(help.stderr, '');
    for (const args of [['--bogus'], ['--reps', 'x'], ['--quick', '--reps', '0'], ['--scenario', 'seq'], ['--chart', join(dir, 'missing.json')]]) {
      const out = join(dir, 'results');
      const r = await bench([...args, '--out', out]);
      t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      t.regex(r.stderr, /^bench: .+\n$/, args.join(' '));
      t.is(r.stdout, '');
      t.false(existsSync(out), `${args.join(' ')} created ${out}`);
    }
    t.false(existsSync(join(dir, 'help')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
