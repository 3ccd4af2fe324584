/**
 * The readahead chart of one file, from its trace: page offset up, time (or read number)
 * across. Each readahead window is a bar at the moment it was decided, from `start` to
 * `start + size`; its async part (the last `async` pages: reaching them starts the next
 * window) is drawn lighter over it, the PG_readahead marker page (`start + size - async`)
 * in red, and the application's reads are dots:
 *
 *   page
 *    60 |                         ░
 *       |                   ░     ░        ░ async part (lighter)
 *    28 |             ░     ░     ▓        ▓ window before the marker
 *    12 |       ░     ▓     ▓              ━ marker page (red)
 *     4 |  ▓ ░  ━     ━     ━
 *     0 |  ▓━ ·  ·  ·  ·  ·  ·  ·          · reads
 *       +--------------------------------- time (µs from the first line)
 *
 * Built as a vega-lite spec, rendered to SVG by vega (headless, no canvas), and to PNG by
 * resvg. Every layer has a stable `name`, so the SVG groups are classed `windows_marks`,
 * `async_marks`, `marker_marks`, `reads_marks` (tests count the window rects).
 */

import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { PAGE_SHIFT } from '../mm/page.js';
import { PLOT_MAX_WINDOWS } from './defaults.js';
import { busiestInode, type ParsedTrace } from './parse.js';

export type PlotAxis = 'time' | 'read';

export interface ChartOptions {
  /** The inode to chart; default: the one with the most `ra` lines. */
  ino?: number;
  /** What runs across: µs since the file's first line, or the read number (1, 2, ...). */
  x?: PlotAxis;
  /** Chart only the first this many windows (and the reads before the next one); 0 = all. */
  maxWindows?: number;
  /** A line under the title (e.g. where the trace came from). */
  subtitle?: string;
}

export { PLOT_MAX_WINDOWS };
const WIDTH = 900;
const HEIGHT = 480;
const BAR_PX = 5;

export interface WindowDatum {
  x: number;
  start: number;
  end: number;
  /** First page of the async part = the marker page. */
  marker: number;
  size: number;
  asyncSize: number;
  trigger: 'sync' | 'async';
  reason: string;
}

export interface ReadDatum {
  x: number;
  page: number;
}

export interface ChartData {
  ino: number;
  windows: WindowDatum[];
  reads: ReadDatum[];
  /** True when the reads come from `ra` lines (the trace had no `read` lines for the file). */
  readsFromRa: boolean;
  axis: PlotAxis;
}

/** Pick the file and lay its events out on the chosen axis. Throws if there is nothing to chart. */
export function chartData(trace: ParsedTrace, opts: ChartOptions = {}): ChartData {
  const ino = opts.ino ?? busiestInode(trace.ra);
  if (ino === undefined) throw new Error('the trace has no `ra` lines (was tracing on? see tunables/trace)');
  let ra = trace.ra.filter((e) => e.ino === ino);
  if (ra.length === 0) throw new Error(`the trace has no \`ra\` lines for inode ${ino}`);
  const max = opts.maxWindows ?? PLOT_MAX_WINDOWS;
  const tEnd = max > 0 && ra.length > max ? ra[max]!.t : Infinity; // reads up to the first window left out
  if (max > 0) ra = ra.slice(0, max);

  let reads = trace.reads.filter((r) => r.ino === ino && r.t < tEnd).map((r) => ({ t: r.t, page: Math.floor(r.pos / 2 ** PAGE_SHIFT) }));
  const readsFromRa = reads.length === 0;
  if (readsFromRa) reads = ra.map((e) => ({ t: e.t, page: e.index }));

  const t0 = Math.min(ra[0]!.t, reads[0]?.t ?? Infinity);
  const axis = opts.x ?? 'time';
  // Read number of a moment: how many reads came in up to it (a window is drawn at the read that triggered it).
  const readTimes = reads.map((r) => r.t);
  const readNo = (t: number): number => {
    let lo = 0;
    let hi = readTimes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (readTimes[mid]! <= t) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(lo, 1);
  };
  const xOf = (t: number): number => (axis === 'time' ? t - t0 : readNo(t));

  return {
    ino,
    axis,
    readsFromRa,
    windows: ra.map((e) => ({
      x: xOf(e.t),
      start: e.start,
      end: e.start + e.size,
      marker: e.start + e.size - e.asyncSize,
      size: e.size,
      asyncSize: e.asyncSize,
      trigger: e.trigger,
      reason: e.reason,
    })),
    reads: reads.map((r, i) => ({ x: axis === 'time' ? r.t - t0 : i + 1, page: r.page })),
  };
}

/** The vega-lite spec of the chart. */
export function chartSpec(data: ChartData, opts: { subtitle?: string } = {}): TopLevelSpec {
  const xTitle = data.axis === 'time' ? 'time (µs from the first line)' : 'read number';
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle };
  const y = { type: 'quantitative' as const, title: 'page offset (4 KiB pages)' };
  // vega tags the objects it is given (a symbol id): hand it copies, not the caller's data.
  const windows = data.windows.map((w) => ({ ...w }));
  const withAsync = windows.filter((w) => w.asyncSize > 0);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `readahead of inode ${data.ino}: ${data.windows.length} windows, ${data.reads.length} reads`,
      subtitle: [
        'dark bar: readahead window [start, start+size)  ·  light: its async part  ·  red: PG_readahead marker page  ·  dots: ' +
          (data.readsFromRa ? 'the reads that triggered a decision' : 'the application\'s reads'),
        ...(opts.subtitle ? [opts.subtitle] : []),
      ],
    },
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    layer: [
      {
        name: 'windows',
        description: 'readahead windows',
        data: { values: windows },
        mark: { type: 'bar', width: BAR_PX, color: '#1f5fa8' },
        encoding: { x, y: { ...y, field: 'start' }, y2: { field: 'end' } },
      },
      {
        name: 'async',
        description: 'async part of each window',
        data: { values: withAsync.map((w) => ({ ...w })) },
        mark: { type: 'bar', width: BAR_PX, color: '#9cc3ec' },
        encoding: { x, y: { ...y, field: 'marker' }, y2: { field: 'end' } },
      },
      {
        name: 'marker',
        description: 'PG_readahead marker page',
        data: { values: withAsync.map((w) => ({ ...w, markerEnd: w.marker + 1 })) },
        mark: { type: 'bar', width: BAR_PX + 4, color: '#d62728' },
        encoding: { x, y: { ...y, field: 'marker' }, y2: { field: 'markerEnd' } },
      },
      {
        name: 'reads',
        description: 'application reads',
        data: { values: data.reads.map((r) => ({ ...r })) },
        mark: { type: 'point', filled: true, size: 10, color: '#222222', opacity: 0.8 },
        encoding: { x, y: { ...y, field: 'page' } },
      },
    ],
  };
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string): Buffer {
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true } }).render().asPng();
  return Buffer.from(png);
}

/** How many marks the SVG's group of layer `name` holds (e.g. 'windows'). */
export function countLayerMarks(svg: string, name: string): number {
  const open = new RegExp(`<g class="mark-[a-z]+ role-mark ${name}_marks"[^>]*>`).exec(svg);
  if (!open || open[0].endsWith('/>')) return 0; // no group, or an empty one (`<g .../>`)
  const rest = svg.slice(open.index + open[0].length);
  const body = rest.slice(0, rest.indexOf('</g>'));
  return (body.match(/<path\b/g) ?? []).length;
}
