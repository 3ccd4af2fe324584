/**
 * The lab's pieces: the generated trace set (named, deterministic, each a valid fio iolog
 * of the pattern its name says) and the verdict on the stride policy.
 */

import test from 'ava';
import type { ReplayResult } from '../../../src/replay/engine.js';
import { verdicts, type LabRun } from '../../../src/replay/lab.js';
import { parseTrace } from '../../../src/replay/parse.js';
import { labTraces } from '../../../src/replay/traces.js';

test('the trace set: seven named traces, byte-identical for a seed, another seed another random trace', (t) => {
  const a = labTraces(1);
  t.deepEqual(a.map((x) => x.name), ['seq-4k', 'stride-64k', 'stride-8k', 'interleave-2', 'interleave-8', 'random-4k', 'mixed']);
  t.deepEqual(labTraces(1), a);
  const b = labTraces(2);
  t.not(b.find((x) => x.name === 'random-4k')!.text, a.find((x) => x.name === 'random-4k')!.text);
  t.is(b.find((x) => x.name === 'seq-4k')!.text, a.find((x) => x.name === 'seq-4k')!.text, 'the fixed patterns do not depend on the seed');
});

test('each trace is the pattern its name says', (t) => {
  const byName = new Map(labTraces(1).map((x) => [x.name, parseTrace(x.text)]));
  const steps = (name: string): number[] => {
    const tr = byName.get(name)!;
    return Array.from({ length: Math.min(tr.count, 40) - 1 }, (_, i) => tr.pos[i + 1]! - tr.pos[i]!);
  };
  t.true(steps('seq-4k').every((d) => d === 4096));
  t.true(steps('stride-64k').every((d) => d === 65536));
  t.true(steps('stride-8k').every((d) => d === 8192));
  t.deepEqual(steps('interleave-2').slice(0, 4), [256 << 20, 4096 - (256 << 20), 256 << 20, 4096 - (256 << 20)]);
  t.deepEqual(steps('interleave-8').slice(0, 8), [...Array<number>(7).fill(64 << 20), 4096 - 7 * (64 << 20)]);
  for (const tr of byName.values()) t.is(tr.handles.length, 1, 'one descriptor');
});

test('verdict: stride against ondemand of the same kernel; under 0.95 a win, over 1.05 a loss', (t) => {
  const run = (trace: string, device: string, kernel: '4.18' | '6.18', raPolicy: 'ondemand' | 'stride', elapsedUs: number): LabRun => ({
    trace,
    result: { settings: { kernel, raPolicy, readAheadKb: 128, device, iodepth: 1, seed: 1 }, elapsedUs } as ReplayResult,
  });
  const runs = [
    run('a', 'hdd', '6.18', 'ondemand', 1000),
    run('a', 'hdd', '6.18', 'stride', 500),
    run('a', 'hdd', '4.18', 'ondemand', 100), // a better kernel does not make stride lose against 6.18
    run('a', 'hdd', '4.18', 'stride', 104),
    run('b', 'nbd-2ms', '6.18', 'ondemand', 1000),
    run('b', 'nbd-2ms', '6.18', 'stride', 1100),
  ];
  t.deepEqual(
    verdicts(runs).map((v) => `${v.trace} ${v.device} ${v.kernel} ${v.outcome}`),
    ['a hdd 4.18 even', 'a hdd 6.18 win', 'b nbd-2ms 6.18 loss'],
  );
});
