/**
 * `npm run lab`: the trace set (traces.ts) through every lab configuration, in-process
 * over the simulated devices, and the report in lab-results/:
 *
 *   lab-results/report.md          the settings, one table per device, and the verdict on
 *                                  our policy (stride) against the kernels' ondemand
 *   lab-results/results.json       every run (settings and figures)
 *   lab-results/elapsed-<dev>.svg/.png   simulated elapsed time per trace, relative to
 *                                  6.18 ondemand, one bar per configuration
 *   lab-results/windows-interleave-8-nbd-2ms.svg/.png   windows over time
 *   lab-results/traces/<name>.iolog     the traces (aheadfs replay takes them)
 *
 * Configurations: {4.18, 6.18} x {ondemand, stride} x read_ahead_kb 128 x {hdd, nbd-2ms,
 * ssd}, iodepth 1, seed 1. Stride is ondemand plus a prefetcher, so it is judged against
 * ondemand of the same kernel: it "wins" where its simulated elapsed time is below 95% of
 * that, "loses" where above 105%; it is kept only with a win and no loss.
 *
 * Run: node dist/replay/lab.js [--out DIR]
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TopLevelSpec } from 'vega-lite';
import type { KernelVersion, RaPolicy } from '../mm/pagecache.js';
import { DEVICE_PROFILES } from './device.js';
import { runReplay, type ReplayResult } from './engine.js';
import { parseTrace, type ReplayTrace } from './parse.js';
import { markdownTable, windowsSpec, writeChart } from './report.js';
import { labTraces } from './traces.js';

const KERNELS: readonly KernelVersion[] = ['4.18', '6.18'];
const POLICIES: readonly { kernel: KernelVersion; raPolicy: RaPolicy }[] = KERNELS.flatMap((kernel) => [
  { kernel, raPolicy: 'ondemand' as const },
  { kernel, raPolicy: 'stride' as const },
]);
const DEVICES = ['hdd', 'nbd-2ms', 'ssd'] as const;
const READ_AHEAD_KB = 128;
const SEED = 1;

export interface LabRun {
  trace: string;
  result: ReplayResult;
}

export interface Verdict {
  trace: string;
  device: string;
  kernel: KernelVersion;
  /** stride's elapsed / ondemand's, same kernel. */
  ratio: number;
  outcome: 'win' | 'loss' | 'even';
}

const key = (r: ReplayResult): string => `${r.settings.kernel} ${r.settings.raPolicy}`;

export function verdicts(runs: readonly LabRun[]): Verdict[] {
  const out: Verdict[] = [];
  for (const device of DEVICES) {
    for (const trace of [...new Set(runs.map((r) => r.trace))]) {
      const of = (k: string): ReplayResult | undefined => runs.find((r) => r.trace === trace && r.result.settings.device === device && key(r.result) === k)?.result;
      for (const kernel of KERNELS) {
        const stride = of(`${kernel} stride`);
        const base = of(`${kernel} ondemand`);
        if (!stride || !base) continue;
        const ratio = stride.elapsedUs / base.elapsedUs;
        out.push({ trace, device, kernel, ratio, outcome: ratio < 0.95 ? 'win' : ratio > 1.05 ? 'loss' : 'even' });
      }
    }
  }
  return out;
}

function elapsedSpec(runs: readonly LabRun[], device: string): TopLevelSpec {
  const values = runs
    .filter((r) => r.result.settings.device === device)
    .map((r) => {
      const base = runs.find((b) => b.trace === r.trace && b.result.settings.device === device && key(b.result) === '6.18 ondemand')!.result.elapsedUs;
      return { trace: r.trace, config: key(r.result), relative: r.result.elapsedUs / base };
    });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `simulated elapsed time on ${device}, relative to 6.18 ondemand (lower is faster)`, subtitle: `read_ahead_kb ${READ_AHEAD_KB}, iodepth 1, seed ${SEED}` },
    background: 'white',
    data: { values },
    width: 110,
    height: 220,
    mark: { type: 'bar' },
    encoding: {
      column: { field: 'trace', type: 'nominal', title: null },
      x: { field: 'config', type: 'nominal', title: null, axis: { labels: false, ticks: false } },
      y: { field: 'relative', type: 'quantitative', title: 'elapsed / 6.18 ondemand' },
      color: { field: 'config', type: 'nominal', title: 'configuration' },
    },
  };
}

/**
 * The replay speed figure: `reads` 4 KiB reads front to back of a 64 MiB file, over and
 * over (after the first pass all cached: the engine's cached read path plus the driver),
 * on the ssd profile; replayed reads per second of wall time, best of `reps` (2).
 */
export async function measureSpeed(kernel: KernelVersion, reads = 1_000_000, reps = 2): Promise<{ kernel: KernelVersion; reads: number; readsPerSec: number; readsPerCpuSec: number; hitRatio: number }> {
  const fileBytes = 64 << 20;
  const pos = new Float64Array(reads);
  for (let i = 0; i < reads; i++) pos[i] = (i * 4096) % fileBytes;
  const trace: ReplayTrace = {
    format: 'fio-v2',
    files: [{ name: '/lab/speed', ino: 1, size: fileBytes }],
    handles: [{ file: 0, fh: 1 }],
    handle: new Uint32Array(reads),
    pos,
    len: new Uint32Array(reads).fill(4096),
    count: reads,
    skipped: 0,
  };
  let best = 0;
  let bestCpu = 0;
  let hitRatio = 0;
  for (let r = 0; r < reps; r++) {
    const cpu0 = process.cpuUsage();
    const res = await runReplay(trace, { kernel, raPolicy: 'ondemand', readAheadKb: READ_AHEAD_KB, device: DEVICE_PROFILES.ssd!, iodepth: 1, seed: SEED });
    const cpu = process.cpuUsage(cpu0);
    best = Math.max(best, reads / (res.wallMs / 1000));
    bestCpu = Math.max(bestCpu, reads / ((cpu.user + cpu.system) / 1e6));
    hitRatio = res.pageCacheHitRatio;
  }
  return { kernel, reads, readsPerSec: best, readsPerCpuSec: bestCpu, hitRatio };
}

export async function runLab(outDir: string, log: (msg: string) => void = () => undefined): Promise<{ runs: LabRun[]; verdicts: Verdict[]; wallMs: number }> {
  const t0 = performance.now();
  const traces = labTraces(SEED);
  await mkdir(join(outDir, 'traces'), { recursive: true });
  const runs: LabRun[] = [];
  const windowRuns: ReplayResult[] = [];
  for (const t of traces) {
    await writeFile(join(outDir, 'traces', `${t.name}.iolog`), t.text);
    const parsed = parseTrace(t.text);
    for (const device of DEVICES) {
      for (const p of POLICIES) {
        const charted = t.name === 'interleave-8' && device === 'nbd-2ms';
        const result = await runReplay(parsed, { ...p, readAheadKb: READ_AHEAD_KB, device: DEVICE_PROFILES[device]!, iodepth: 1, seed: SEED }, { collectWindows: charted });
        if (charted) windowRuns.push(result);
        runs.push({ trace: t.name, result });
        log(`${t.name} ${device} ${key(result)}: ${(result.elapsedUs / 1000).toFixed(1)} ms simulated, ${result.wallMs.toFixed(0)} ms wall`);
      }
    }
  }
  const v = verdicts(runs);
  const reads = runs.reduce((n, r) => n + r.result.reads, 0);
  const wallMs = performance.now() - t0;
  const speed = [];
  for (const k of KERNELS) {
    const sp = await measureSpeed(k);
    speed.push(sp);
    log(`replay speed ${k}: ${(sp.readsPerSec / 1e6).toFixed(2)} M reads/s of wall time, ${(sp.readsPerCpuSec / 1e6).toFixed(2)} M per CPU second`);
  }
  for (const device of DEVICES) await writeChart(outDir, `elapsed-${device}`, elapsedSpec(runs, device));
  await writeChart(outDir, 'windows-interleave-8-nbd-2ms', windowsSpec(windowRuns, 'interleave-8 on nbd-2ms'));
  const wins = v.filter((x) => x.outcome === 'win');
  const losses = v.filter((x) => x.outcome === 'loss');
  const fmt = (x: Verdict): string => `${x.trace} on ${x.device} under ${x.kernel} (${x.ratio.toFixed(2)}x)`;
  const cols = DEVICES.flatMap((d) => KERNELS.map((k) => ({ d, k })));
  const md = [
    '# aheadfs lab report',
    '',
    `${traces.length} traces x ${DEVICES.length} simulated devices x ${POLICIES.length} configurations (${POLICIES.map((p) => `${p.kernel} ${p.raPolicy}`).join(', ')}), ` +
      `read_ahead_kb ${READ_AHEAD_KB}, iodepth 1, seed ${SEED}: ${runs.length} replays, ${reads} reads, ${(wallMs / 1000).toFixed(1)} s wall (charts not included).`,
    '',
    '## Replay speed',
    '',
    ...speed.map(
      (sp) =>
        `- ${sp.kernel}: **${(sp.readsPerSec / 1e6).toFixed(2)} M** replayed 4 KiB reads per second of wall time, ${(sp.readsPerCpuSec / 1e6).toFixed(2)} M per second of CPU time ` +
        `(${sp.reads} sequential reads of a 64 MiB file, over and over, page-cache hit ratio ${(sp.hitRatio * 100).toFixed(1)}%, ssd profile, best of 2; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs)`,
    ),
    '',
    '## Traces',
    '',
    ...traces.map((t) => `- \`${t.name}\`: ${t.description}`),
    '',
    '## Our policy (`--ra-policy stride`) against ondemand',
    '',
    `Simulated elapsed time of stride / ondemand of the same kernel, per trace, device and kernel (win < 0.95, loss > 1.05):`,
    '',
    `| trace | ${cols.map((c) => `${c.d} ${c.k}`).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    ...[...new Set(v.map((x) => x.trace))].map((t) => `| ${t} | ${cols.map((c) => v.find((x) => x.trace === t && x.device === c.d && x.kernel === c.k)?.ratio.toFixed(2) ?? '').join(' | ')} |`),
    '',
    `Wins: ${wins.length ? wins.map(fmt).join(', ') : 'none'}.`,
    `Losses over 5%: ${losses.length ? losses.map(fmt).join(', ') : 'none'}.`,
    `Verdict: ${wins.length > 0 && losses.length === 0 ? 'keep it (it wins somewhere and loses nowhere by more than 5%)' : 'do not keep it'}.`,
    '',
    '## Simulated elapsed time (ms), read latency p99 (µs) and device requests',
    '',
    `| trace | device | ${POLICIES.map((p) => `${p.kernel} ${p.raPolicy}`).join(' | ')} |`,
    `|---|---|${POLICIES.map(() => '---:').join('|')}|`,
    ...traces.flatMap((t) =>
      DEVICES.map((d) => {
        const cell = (p: { kernel: KernelVersion; raPolicy: RaPolicy }): string => {
          const r = runs.find((x) => x.trace === t.name && x.result.settings.device === d && key(x.result) === `${p.kernel} ${p.raPolicy}`)!.result;
          return `${(r.elapsedUs / 1000).toFixed(1)} / ${Math.round(r.latencyP99Us)} / ${r.deviceRequests}`;
        };
        return `| ${t.name} | ${d} | ${POLICIES.map(cell).join(' | ')} |`;
      }),
    ),
    '',
    ...DEVICES.flatMap((d) => [`## ${d}`, '', markdownTable(runs.filter((r) => r.result.settings.device === d).map((r) => ({ name: r.trace, result: r.result }))), `![elapsed on ${d}](elapsed-${d}.png)`, '']),
    '## Windows over time: interleave-8 on nbd-2ms',
    '',
    '![windows](windows-interleave-8-nbd-2ms.png)',
    '',
  ].join('\n');
  await writeFile(join(outDir, 'report.md'), md);
  await writeFile(join(outDir, 'results.json'), JSON.stringify(runs.map((r) => ({ trace: r.trace, ...r.result, windows: undefined })), null, 2) + '\n');
  return { runs, verdicts: v, wallMs };
}

/** `npm run lab [-- --out DIR]` (scripts/lab.js). */
export async function runLabMain(args: string[]): Promise<void> {
  const i = args.indexOf('--out');
  const out = i >= 0 ? args[i + 1]! : 'lab-results';
  const t0 = performance.now();
  const { runs, verdicts: v } = await runLab(out, (m) => process.stdout.write(`${m}\n`));
  const wins = v.filter((x) => x.outcome === 'win').length;
  const losses = v.filter((x) => x.outcome === 'loss').length;
  process.stdout.write(`${runs.length} replays; stride: ${wins} wins, ${losses} losses over 5%; report in ${join(out, 'report.md')} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runLabMain(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`lab: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
