/**
 * The chart of an nbd-delay result (nbd-delay.ts writes `<date>-nbd-delay.json`): one
 * horizontal bar per case, its median MB/s on a log axis (readahead off over a 2 ms read
 * delay and the device without delay differ by two orders of magnitude), coloured by what
 * reads: aheadfs with readahead off / 128 KiB / 1024 KiB, fio's own NBD engine, or aheadfs
 * over the devices without delay. Drawn as a vega-lite spec by src/plot/chart.ts' renderer
 * (SVG) and resvg (PNG). The bar layer is named `bars`, the figures `labels` (tests count
 * the marks of the SVG group `bars_marks`).
 *
 *   npm run bench -- --chart bench-results/<date>-nbd-delay.json [--out docs]
 */

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { UsageError } from '../errors.js';
import { renderSvg, svgToPng } from '../plot/chart.js';

export interface NbdCaseFigure {
  id: string;
  mbps: number;
}

export interface NbdDelayDoc {
  date: string;
  reps: number;
  fileBytes: number;
  runtime: number;
  results: NbdCaseFigure[];
}

export type NbdGroup = 'readahead off' | 'readahead 128 KiB' | 'readahead 1024 KiB' | "fio's nbd engine" | 'no delay (ra 128 KiB)';

/** Which bar colour a case gets, from its id (the ids of nbd-delay.ts' CASES). */
export function nbdGroup(id: string): NbdGroup {
  if (!id.startsWith('delay ')) return 'no delay (ra 128 KiB)';
  if (id.includes('fio nbd engine')) return "fio's nbd engine";
  if (id.endsWith('ra off')) return 'readahead off';
  if (id.endsWith('ra 1024')) return 'readahead 1024 KiB';
  return 'readahead 128 KiB';
}

const GROUPS: NbdGroup[] = ['readahead off', 'readahead 128 KiB', 'readahead 1024 KiB', "fio's nbd engine", 'no delay (ra 128 KiB)'];
const COLORS = ['#d62728', '#1f77b4', '#17becf', '#7f7f7f', '#2ca02c'];

/** Check that a parsed JSON document is an nbd-delay result. Throws UsageError, one line. */
export function parseNbdDelayDoc(doc: unknown, what = 'the result'): NbdDelayDoc {
  const rec = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!rec(doc) || !Array.isArray(doc.results) || doc.results.length === 0) throw new UsageError(`${what} is not an nbd-delay result (no "results" list)`);
  const results: NbdCaseFigure[] = doc.results.map((r: unknown, i: number) => {
    if (!rec(r) || typeof r.id !== 'string' || typeof r.mbps !== 'number' || !Number.isFinite(r.mbps) || r.mbps <= 0) throw new UsageError(`${what}: results[${i}] needs an "id" and a positive "mbps"`);
    return { id: r.id, mbps: r.mbps };
  });
  const num = (k: string): number => (typeof doc[k] === 'number' ? (doc[k] as number) : Number.NaN);
  return { date: typeof doc.date === 'string' ? doc.date : '?', reps: num('reps'), fileBytes: num('fileBytes'), runtime: num('runtime'), results };
}

export function nbdChartSpec(doc: NbdDelayDoc): TopLevelSpec {
  const values = doc.results.map((r) => ({ id: r.id, mbps: r.mbps, group: nbdGroup(r.id), label: r.mbps >= 10 ? r.mbps.toFixed(0) : r.mbps.toFixed(1) }));
  const y = { field: 'id', type: 'nominal' as const, sort: null, title: null, axis: { labelLimit: 400 } };
  // A log axis must not start at 0 (vega-lite's default for bars): start below the smallest bar.
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values.map((v) => v.mbps)) / 2));
  const x = { field: 'mbps', type: 'quantitative' as const, scale: { type: 'log' as const, domainMin: lo, domainMax: Math.max(...values.map((v) => v.mbps)) * 1.6 }, title: 'MB/s (median, log scale)' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'aheadfs over nbdkit with a 2 ms read delay: cold reads, readahead off vs on',
      subtitle: `${doc.date}, ${doc.reps} repetition(s), ${Number.isFinite(doc.fileBytes) ? doc.fileBytes / (1 << 20) : '?'} MiB file, fio psync (fio's nbd engine: at the queue depth named)`,
    },
    width: 560,
    height: { step: 22 },
    background: 'white',
    data: { values },
    layer: [
      {
        name: 'bars',
        mark: { type: 'bar' },
        encoding: { y, x, x2: { datum: lo }, color: { field: 'group', type: 'nominal', title: null, scale: { domain: GROUPS, range: COLORS }, legend: { orient: 'bottom', columns: 3, labelLimit: 300 } } },
      },
      {
        name: 'labels',
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
        encoding: { y, x, text: { field: 'label' } },
      },
    ],
  };
}

/**
 * Draw `jsonPath`'s chart: `<out>/nbd-delay.{svg,png}` when `outDir` is given, else next to
 * the result (`<name>.svg`, `<name>.png`). Returns the files written.
 */
export async function renderNbdChartFile(jsonPath: string, outDir: string | undefined): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${jsonPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${jsonPath} is not JSON`);
  }
  const doc = parseNbdDelayDoc(parsed, jsonPath);
  const svg = await renderSvg(nbdChartSpec(doc));
  const base = outDir !== undefined ? join(outDir, 'nbd-delay') : join(dirname(jsonPath), basename(jsonPath, '.json'));
  if (outDir !== undefined) await mkdir(outDir, { recursive: true });
  await writeFile(`${base}.svg`, svg);
  await writeFile(`${base}.png`, svgToPng(svg));
  return [`${base}.svg`, `${base}.png`];
}
