/**
 * What `aheadfs replay` and `npm run lab` print and draw from replay results: the
 * cross product of the configuration lists, a text table, a markdown table, and two
 * charts (vega-lite through src/plot's renderer: SVG, and PNG by resvg):
 *
 *   windows.svg  every readahead window (`ra` decision that submitted I/O) over simulated
 *                time, its size in pages, one colour per configuration
 *   figures.svg  bars per configuration: simulated elapsed time, device requests, read
 *                latency p99, device bytes / bytes read
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { KernelVersion, RaPolicy } from '../mm/pagecache.js';
import type { DeviceProfile } from './device.js';
import type { ReplayConfig, ReplayResult } from './engine.js';

export interface ConfigLists {
  kernels: KernelVersion[];
  raPolicies: RaPolicy[];
  readAheadKbs: number[];
  devices: DeviceProfile[];
  iodepth: number;
  seed: number;
}

/** Every combination, kernels outermost (the order of the table). */
export function crossProduct(l: ConfigLists): ReplayConfig[] {
  const out: ReplayConfig[] = [];
  for (const device of l.devices)
    for (const kernel of l.kernels)
      for (const raPolicy of l.raPolicies)
        for (const readAheadKb of l.readAheadKbs) out.push({ kernel, raPolicy, readAheadKb, device, iodepth: l.iodepth, seed: l.seed });
  return out;
}

/** `6.18 ondemand 128K ssd qd1`. */
export function configLabel(s: ReplayResult['settings']): string {
  return `${s.kernel} ${s.raPolicy} ${s.readAheadKb}K ${s.device} qd${s.iodepth}`;
}

const COLUMNS = ['kernel', 'policy', 'ra_kb', 'device', 'qd', 'reads', 'hit%', 'ra_pages', 'ra_hit', 'ra_wasted', 'dev_reqs', 'dev_MiB', 'amplif', 'elapsed_ms', 'p50_us', 'p99_us', 'stalls', 'inflight', 'busy%'];

function row(r: ReplayResult): string[] {
  const s = r.settings;
  return [
    s.kernel,
    s.raPolicy,
    String(s.readAheadKb),
    s.device,
    String(s.iodepth),
    String(r.reads),
    (r.pageCacheHitRatio * 100).toFixed(1),
    String(r.raPages),
    String(r.raHit),
    String(r.raWasted),
    String(r.deviceRequests),
    (r.deviceBytes / 2 ** 20).toFixed(1),
    r.amplification.toFixed(2),
    (r.elapsedUs / 1000).toFixed(1),
    String(Math.round(r.latencyP50Us)),
    String(Math.round(r.latencyP99Us)),
    String(r.stalls),
    r.avgInFlight.toFixed(1),
    (r.deviceBusy * 100).toFixed(0),
  ];
}

/** Aligned columns, one line per configuration. */
export function formatTable(results: readonly ReplayResult[]): string {
  const rows = [COLUMNS, ...results.map(row)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** A markdown table (with an optional first column, e.g. the trace's name). */
export function markdownTable(results: readonly { name?: string; result: ReplayResult }[]): string {
  const withName = results.some((r) => r.name !== undefined);
  const head = [...(withName ? ['trace'] : []), ...COLUMNS];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < head.length - COLUMNS.length + 5 ? '---' : '---:')).join('|')}|`];
  for (const r of results) lines.push(`| ${[...(withName ? [r.name ?? ''] : []), ...row(r.result)].join(' | ')} |`);
  return lines.join('\n') + '\n';
}

/** One JSON object per configuration: its settings and figures (windows left out). */
export function jsonResults(results: readonly ReplayResult[]): string {
  return JSON.stringify(results.map(({ windows: _w, ...r }) => r), null, 2) + '\n';
}

/** At most this many window points per configuration on the chart (evenly thinned). */
const MAX_POINTS = 1500;

export function windowsSpec(results: readonly ReplayResult[], title: string): TopLevelSpec {
  const values: { ms: number; size: number; config: string }[] = [];
  for (const r of results) {
    const w = r.windows ?? [];
    const step = Math.max(1, Math.ceil(w.length / MAX_POINTS));
    for (let i = 0; i < w.length; i += step) values.push({ ms: w[i]!.tUs / 1000, size: w[i]!.size, config: configLabel(r.settings) });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `readahead windows over simulated time: ${title}`, subtitle: 'one point per readahead decision that submitted I/O (its window size)' },
    width: 900,
    height: 360,
    background: 'white',
    data: { values },
    mark: { type: 'point', filled: true, size: 14, opacity: 0.7 },
    encoding: {
      x: { field: 'ms', type: 'quantitative', title: 'simulated time (ms)' },
      y: { field: 'size', type: 'quantitative', title: 'window (pages)' },
      color: { field: 'config', type: 'nominal', title: 'configuration', legend: { labelLimit: 400 } },
    },
  };
}

export function figuresSpec(results: readonly { name?: string; result: ReplayResult }[], title: string): TopLevelSpec {
  const values = results.map(({ name, result: r }) => ({
    config: (name ? `${name}: ` : '') + configLabel(r.settings),
    elapsed_ms: r.elapsedUs / 1000,
    device_requests: r.deviceRequests,
    p99_us: r.latencyP99Us,
    amplification: r.amplification,
  }));
  const bar = (field: string, t: string) => ({
    width: 380,
    height: Math.max(60, 16 * values.length),
    mark: { type: 'bar' as const },
    encoding: {
      y: { field: 'config', type: 'nominal' as const, title: null, sort: null, axis: { labelLimit: 400 } },
      x: { field, type: 'quantitative' as const, title: t },
      color: { field: 'config', type: 'nominal' as const, legend: null },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `replay figures: ${title}`,
    background: 'white',
    data: { values },
    vconcat: [
      { hconcat: [bar('elapsed_ms', 'simulated elapsed (ms)'), bar('device_requests', 'device requests')] },
      { hconcat: [bar('p99_us', 'read latency p99 (µs)'), bar('amplification', 'device bytes / bytes read')] },
    ],
  };
}

/** Render a spec to `<dir>/<base>.svg` and `.png`. Returns the two paths. */
export async function writeChart(dir: string, base: string, spec: TopLevelSpec): Promise<string[]> {
  // vega is loaded only here: importing it at start-up would slow every aheadfs command.
  const { renderSvg, svgToPng } = await import('../plot/chart.js');
  await mkdir(dir, { recursive: true });
  const svg = await renderSvg(spec);
  const svgPath = join(dir, `${base}.svg`);
  const pngPath = join(dir, `${base}.png`);
  await writeFile(svgPath, svg);
  await writeFile(pngPath, svgToPng(svg));
  return [svgPath, pngPath];
}
