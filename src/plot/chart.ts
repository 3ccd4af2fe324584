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
import type { ChartRange } from './range.js';

export type PlotAxis = 'time' | 'read';

export interface ChartOptions {
  /** The inode to chart; default: the one with the most `ra` lines. */
  ino?: number;
  /** What runs across: µs since the file's first line, or the read number (1, 2, ...). */
  x?: PlotAxis;
  /** Chart only the first this many windows in the range (and the reads before the next one); 0 = all. */
  maxWindows?: number;
  /** --from/--to: what part of the file's time line and pages to chart. */
  range?: ChartRange;
  /** A line under the title (e.g. where the trace came from). */
  subtitle?: string;
}

export { PLOT_MAX_WINDOWS };
const WIDTH = 900;
/** Height of all panels together. */
const HEIGHT = 480;
const BAR_PX = 6;
/**
 * Two groups of pages are drawn as separate panels when the empty pages between them are
 * more than a quarter of the span charted and at least this many (4 MiB): two streams far
 * apart, not the gaps of one random reader.
 */
export const PANEL_MIN_GAP_PAGES = 1024;
/** tableau10's first colour: the first open file's, and the window-part legend's swatches. */
const FIRST_FILE_COLOUR = '#4c78a8';
const MAX_PANELS = 4;

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
  /** The open file it belongs to (`fh N`): one colour each. */
  file: string;
  /** Index into ChartData.panels. */
  panel: number;
}

export interface ReadDatum {
  x: number;
  page: number;
  file: string;
  panel: number;
}

/** A band of pages drawn as its own panel: [from, to). */
export interface Panel {
  from: number;
  to: number;
}

export interface ChartData {
  ino: number;
  windows: WindowDatum[];
  reads: ReadDatum[];
  /** True when the reads come from `ra` lines (the trace had no `read` lines for the file). */
  readsFromRa: boolean;
  axis: PlotAxis;
  /** Page bands, lowest first; every window and read lies in one. */
  panels: Panel[];
}

/** Pick the file and lay its events out on the chosen axis. Throws if there is nothing to chart. */
export function chartData(trace: ParsedTrace, opts: ChartOptions = {}): ChartData {
  const ino = opts.ino ?? busiestInode(trace.ra);
  if (ino === undefined) throw new Error('the trace has no `ra` lines (was tracing on? see tunables/trace)');
  const allRa = trace.ra.filter((e) => e.ino === ino);
  if (allRa.length === 0) throw new Error(`the trace has no \`ra\` lines for inode ${ino}`);
  let allReads = trace.reads.filter((r) => r.ino === ino).map((r) => ({ t: r.t, fh: r.fh, page: Math.floor(r.pos / 2 ** PAGE_SHIFT) }));
  const readsFromRa = allReads.length === 0;
  if (readsFromRa) allReads = allRa.map((e) => ({ t: e.t, fh: e.fh, page: e.index }));

  const t0 = Math.min(allRa[0]!.t, allReads[0]?.t ?? Infinity);
  const axis = opts.x ?? 'time';
  // Read number of a moment: how many reads came in up to it (a window is drawn at the read that triggered it).
  const readTimes = allReads.map((r) => r.t);
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

  // --from/--to: time and x bounds on the moment, page bounds on the pages touched.
  const r = opts.range ?? {};
  const inTime = (t: number, x: number): boolean =>
    (r.tFrom === undefined || t - t0 >= r.tFrom) && (r.tTo === undefined || t - t0 < r.tTo) && (r.xFrom === undefined || x >= r.xFrom) && (r.xTo === undefined || x < r.xTo);
  const overlapsPages = (lo: number, hi: number): boolean => (r.pageFrom === undefined || hi > r.pageFrom) && (r.pageTo === undefined || lo < r.pageTo);

  let ra = allRa.filter((e) => inTime(e.t, xOf(e.t)) && overlapsPages(e.start, e.start + Math.max(e.size, 1)));
  if (ra.length === 0) throw new Error(`no readahead window of inode ${ino} in the range given (--from/--to)`);
  const max = opts.maxWindows ?? PLOT_MAX_WINDOWS;
  const tEnd = max > 0 && ra.length > max ? ra[max]!.t : Infinity; // reads up to the first window left out
  if (max > 0) ra = ra.slice(0, max);
  const readsIn = allReads
    .map((rd, i) => ({ ...rd, x: axis === 'time' ? rd.t - t0 : i + 1 }))
    .filter((rd) => rd.t < tEnd && inTime(rd.t, rd.x) && overlapsPages(rd.page, rd.page + 1));

  const windows = ra.map((e) => ({
    x: xOf(e.t),
    start: e.start,
    end: e.start + e.size,
    marker: e.start + e.size - e.asyncSize,
    size: e.size,
    asyncSize: e.asyncSize,
    trigger: e.trigger,
    reason: e.reason,
    file: `fh ${e.fh}`,
  }));
  const reads = readsIn.map((rd) => ({ x: rd.x, page: rd.page, file: `fh ${rd.fh}` }));
  const panels = pagePanels([...windows.map((w) => ({ lo: w.start, hi: Math.max(w.end, w.start + 1) })), ...reads.map((rd) => ({ lo: rd.page, hi: rd.page + 1 }))]);
  const panelOf = (page: number): number => Math.max(0, panels.findIndex((p) => page < p.to));
  return {
    ino,
    axis,
    readsFromRa,
    panels,
    windows: windows.map((w) => ({ ...w, panel: panelOf(w.start) })),
    reads: reads.map((rd) => ({ ...rd, panel: panelOf(rd.page) })),
  };
}

/**
 * Split the pages touched into bands far apart (see PANEL_MIN_GAP_PAGES): the widest gaps
 * first, at most MAX_PANELS bands. One band when nothing is far apart.
 */
export function pagePanels(spans: readonly { lo: number; hi: number }[]): Panel[] {
  if (spans.length === 0) return [{ from: 0, to: 1 }];
  const sorted = [...spans].sort((a, b) => a.lo - b.lo);
  // Merge overlapping or touching spans into runs of pages, noting the gap before each run.
  const runs: { lo: number; hi: number }[] = [];
  for (const s of sorted) {
    const last = runs.at(-1);
    if (last && s.lo <= last.hi) last.hi = Math.max(last.hi, s.hi);
    else runs.push({ lo: s.lo, hi: s.hi });
  }
  const span = runs.at(-1)!.hi - runs[0]!.lo;
  const minGap = Math.max(PANEL_MIN_GAP_PAGES, span / 4);
  const cuts = runs
    .slice(1)
    .map((run, i) => ({ at: i + 1, gap: run.lo - runs[i]!.hi }))
    .filter((c) => c.gap > minGap)
    .sort((a, b) => b.gap - a.gap)
    .slice(0, MAX_PANELS - 1)
    .map((c) => c.at)
    .sort((a, b) => a - b);
  const panels: Panel[] = [];
  let first = 0;
  for (const cut of [...cuts, runs.length]) {
    panels.push({ from: runs[first]!.lo, to: runs[cut - 1]!.hi });
    first = cut;
  }
  return panels;
}

/** Legend entries (the tests look for them in the SVG). */
export const LEGEND = {
  syncPart: 'window before the marker (sync part)',
  asyncPart: 'async part (from the marker on)',
  marker: 'PG_readahead marker page',
  read: 'read',
  readFromRa: 'read that decided a window',
} as const;

/** The vega-lite spec of the chart: one row per panel, x shared, each panel's pages its own. */
export function chartSpec(data: ChartData, opts: { subtitle?: string } = {}): TopLevelSpec {
  const xTitle = data.axis === 'time' ? 'time (µs from the file\'s first line)' : 'read number';
  const xs = [...data.windows.map((w) => w.x), ...data.reads.map((r) => r.x)];
  const xDomain = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle, scale: { domain: xDomain, zero: false, nice: false, padding: 10 } };
  const y = { type: 'quantitative' as const, title: 'page offset (4 KiB pages)', scale: { zero: false, nice: false, padding: 6 } };
  const readLabel = data.readsFromRa ? LEGEND.readFromRa : LEGEND.read;
  const label = (p: Panel): string => `pages ${p.from}-${p.to - 1}`;
  const files = [...new Set([...data.windows.map((w) => w.file), ...data.reads.map((r) => r.file)])].sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  // One data set, each row tagged with its layer; vega tags the objects it is given, so copies.
  const rows = [
    ...data.windows.map((w) => ({ ...w, layer: 'windows', lo: w.start, hi: w.marker, part: LEGEND.syncPart })),
    ...data.windows.filter((w) => w.asyncSize > 0).map((w) => ({ ...w, layer: 'async', lo: w.marker, hi: w.end, part: LEGEND.asyncPart })),
    ...data.windows.filter((w) => w.asyncSize > 0).map((w) => ({ ...w, layer: 'marker', lo: w.marker + 0.5, hi: w.marker + 0.5, mark: LEGEND.marker })),
    ...data.reads.map((r) => ({ ...r, layer: 'reads', lo: r.page + 0.5, hi: r.page + 0.5, mark: readLabel })),
  ].map((row) => ({ ...row, panelLabel: label(data.panels[row.panel]!) }));
  const only = (layer: string): { filter: string } => ({ filter: `datum.layer === '${layer}'` });
  const color = { field: 'file', type: 'nominal' as const, title: 'open file (windows)', scale: { domain: files, scheme: 'tableau10' } };
  const part = { field: 'part', type: 'ordinal' as const, title: 'readahead window', scale: { domain: [LEGEND.syncPart, LEGEND.asyncPart], range: [1, 0.45] }, legend: { labelLimit: 0, symbolType: 'square', symbolFillColor: FIRST_FILE_COLOUR, symbolStrokeColor: FIRST_FILE_COLOUR } };
  const markDomain = [LEGEND.marker, readLabel];
  const markShape = { field: 'mark', type: 'nominal' as const, title: 'marks', scale: { domain: markDomain, range: ['triangle-right', 'circle'] }, legend: { labelLimit: 0 } };
  // `fill`, not `color`: a scale of its own, so that the files' colours stay the windows' legend.
  const markColor = { field: 'mark', type: 'nominal' as const, title: 'marks', scale: { domain: markDomain, range: ['#d62728', '#333333'] }, legend: { labelLimit: 0 } };
  const tooltip = [
    { field: 'file', type: 'nominal' as const },
    { field: 'x', type: 'quantitative' as const },
    { field: 'lo', type: 'quantitative' as const },
    { field: 'hi', type: 'quantitative' as const },
  ];
  const panelHeight = Math.max(120, Math.floor(HEIGHT / data.panels.length) - 24);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `readahead of inode ${data.ino}: ${data.windows.length} windows, ${data.reads.length} reads`,
      subtitle: opts.subtitle ? [opts.subtitle] : [],
    },
    background: 'white',
    data: { values: rows },
    facet: { row: { field: 'panelLabel', type: 'ordinal', title: null, sort: data.panels.map(label).reverse(), header: { labels: data.panels.length > 1, labelFontWeight: 'bold', labelFontSize: 12 } } },
    spacing: 16,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: WIDTH,
      height: panelHeight,
      layer: [
        {
          name: 'windows',
          description: 'readahead windows: the pages before the marker',
          transform: [only('windows')],
          mark: { type: 'bar', width: BAR_PX },
          encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color, opacity: part, tooltip },
        },
        {
          name: 'async',
          description: 'async part of each window',
          transform: [only('async')],
          mark: { type: 'bar', width: BAR_PX },
          encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color, opacity: part, tooltip },
        },
        {
          name: 'marker',
          description: 'PG_readahead marker page',
          transform: [only('marker')],
          mark: { type: 'point', filled: true, size: 70, opacity: 1, xOffset: -(BAR_PX + 2) },
          encoding: { x, y: { ...y, field: 'lo' }, shape: markShape, fill: markColor, tooltip },
        },
        {
          name: 'reads',
          description: 'application reads',
          transform: [only('reads')],
          mark: { type: 'point', filled: true, size: 14, opacity: 0.8 },
          encoding: { x, y: { ...y, field: 'lo' }, shape: markShape, fill: markColor, tooltip },
        },
      ],
    },
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

/** How many marks the SVG's groups of layer `name` hold (e.g. 'windows'), over every panel. */
export function countLayerMarks(svg: string, name: string): number {
  const open = new RegExp(`<g class="mark-[a-z]+ role-mark [a-z0-9_]*${name}_marks"[^>]*>`, 'g');
  let n = 0;
  for (const m of svg.matchAll(open)) {
    if (m[0].endsWith('/>')) continue; // an empty group (`<g .../>`)
    const rest = svg.slice(m.index + m[0].length);
    const body = rest.slice(0, rest.indexOf('</g>'));
    n += (body.match(/<path\b/g) ?? []).length;
  }
  return n;
}
