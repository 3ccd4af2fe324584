/**
 * The readahead chart, rendered from a recorded trace (no FUSE): `dd bs=4k` over a cold
 * 1 MiB file on a fresh mount (test/fixtures/trace-dd-4k-1m.txt).
 */

import test from 'ava';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartData, chartSpec, countLayerMarks, LEGEND, pagePanels, PANEL_MIN_GAP_PAGES, renderSvg } from '../../src/plot/chart.js';
import { chartRange, parseRangeBound } from '../../src/plot/range.js';
import { busiestInode, parseTrace } from '../../src/plot/parse.js';
import { plotTrace } from '../../src/cli/plot.js';
import { UsageError } from '../../src/errors.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/trace-dd-4k-1m.txt', import.meta.url));
/** Two `dd bs=4k count=512` at once on one 64 MiB file, one from page 0, one from page 12288 (trace level 2). */
const TWO_STREAMS = fileURLToPath(new URL('../fixtures/trace-two-streams.txt', import.meta.url));
const SEED = ['{0,4,3}', '{4,8,8}', '{12,16,16}', '{28,32,32}', '{60,32,32}', '{92,32,32}', '{124,32,32}', '{156,32,32}', '{188,32,32}', '{220,32,32}', '{252,32,32}'];

test('the recorded trace parses into the seed windows and one read line per FUSE read', async (t) => {
  const trace = parseTrace(await readFile(FIXTURE, 'utf8'));
  t.deepEqual(trace.ra.map((e) => `{${e.start},${e.size},${e.asyncSize}}`), SEED);
  t.is(trace.reads.length, 257, '256 pages and the read at EOF');
  t.is(busiestInode(trace.ra), trace.ra[0]!.ino);
});

test('the SVG has exactly one window mark per ra line, and the async, marker and read layers', async (t) => {
  const data = chartData(parseTrace(await readFile(FIXTURE, 'utf8')));
  t.is(data.windows.length, 11);
  t.false(data.readsFromRa, 'the reads come from read lines');
  t.deepEqual(data.windows.slice(0, 2).map((w) => [w.start, w.end, w.marker]), [[0, 4, 1], [4, 12, 4]]);
  const svg = await renderSvg(chartSpec(data));
  t.true(svg.startsWith('<svg'));
  t.is(countLayerMarks(svg, 'windows'), 11);
  t.is(countLayerMarks(svg, 'async'), 11, 'every window of a sequential read has an async part');
  t.is(countLayerMarks(svg, 'marker'), 11);
  t.is(countLayerMarks(svg, 'reads'), 257);
});

test('--windows limits the chart to the first windows and the reads before the next one; x by read number', async (t) => {
  const data = chartData(parseTrace(await readFile(FIXTURE, 'utf8')), { maxWindows: 3, x: 'read' });
  t.is(data.windows.length, 3);
  t.is(countLayerMarks(await renderSvg(chartSpec(data)), 'windows'), 3);
  t.deepEqual(data.windows.map((w) => w.x), [1, 2, 5], 'drawn at the read that triggered each');
  t.true(data.reads.length < 257);
  t.deepEqual(data.reads.slice(0, 3).map(({ x, page }) => ({ x, page })), [{ x: 1, page: 0 }, { x: 2, page: 1 }, { x: 3, page: 2 }]);
});

test('without read lines the reads are the ra lines\' positions; --ino picks a file; random windows have no async part', async (t) => {
  const text = [
    'ra sync ino=7 fh=1 index=0 req=1 start=0 size=4 async=3 reason=initial t=10',
    'bio submit op=read sector=0 bytes=16384 t=11',
    'ra sync ino=9 fh=2 index=50 req=1 start=50 size=1 async=0 reason=random t=20',
    'ra async ino=7 fh=1 index=1 req=1 start=4 size=8 async=8 reason=sequential t=30',
  ].join('\n');
  const trace = parseTrace(text);
  t.is(busiestInode(trace.ra), 7);
  const seven = chartData(trace);
  t.true(seven.readsFromRa);
  t.deepEqual(seven.reads, [{ x: 0, page: 0, file: 'fh 1', panel: 0 }, { x: 20, page: 1, file: 'fh 1', panel: 0 }]);
  const nine = chartData(trace, { ino: 9 });
  const svg = await renderSvg(chartSpec(nine));
  t.is(countLayerMarks(svg, 'windows'), 1);
  t.is(countLayerMarks(svg, 'async'), 0);
  t.throws(() => chartData(trace, { ino: 3 }), { message: /no `ra` lines for inode 3/ });
  t.throws(() => chartData(parseTrace('bio submit op=read sector=0 bytes=4096 t=1\n')), { message: /no `ra` lines/ });
  t.throws(() => parseTrace('ra sync ino=7 broken t=1'), { message: /line 1: not an ra line/ });
});

test('plotTrace writes an SVG or a PNG and refuses other extensions', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-plot-'));
  try {
    const svg = join(dir, 'ra.svg');
    t.deepEqual(await plotTrace({ source: FIXTURE, output: svg }), { ino: 2, windows: 11, reads: 257 });
    t.is(countLayerMarks(await readFile(svg, 'utf8'), 'windows'), 11);
    const png = join(dir, 'ra.png');
    await plotTrace({ source: FIXTURE, output: png });
    const bytes = await readFile(png);
    t.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    t.true(bytes.readUInt32BE(16) > 1000, 'width from the PNG header');
    await t.throwsAsync(plotTrace({ source: FIXTURE, output: join(dir, 'ra.jpg') }), { instanceOf: UsageError });
    await t.throwsAsync(plotTrace({ source: join(dir, 'missing'), output: svg }), { instanceOf: UsageError });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the SVG carries a legend: the window parts, the marker, the reads and the open files', async (t) => {
  const svg = await renderSvg(chartSpec(chartData(parseTrace(await readFile(FIXTURE, 'utf8')))));
  t.regex(svg, /role-legend/);
  for (const entry of [LEGEND.syncPart, LEGEND.asyncPart, LEGEND.marker, LEGEND.read, 'fh 2']) t.true(svg.includes(`>${entry}</text>`), `legend entry ${entry}`);
});

test('axes start at the data: pages from 12288 up, time from --from on', async (t) => {
  const data = chartData(parseTrace(await readFile(TWO_STREAMS, 'utf8')), { range: chartRange(parseRangeBound('--from', 'page:12000'), undefined) });
  t.deepEqual(data.panels.length, 1);
  t.true(data.windows.every((w) => w.end > 12000));
  const svg = await renderSvg(chartSpec(data));
  // vega labels each axis with its scale's domain: "... linear scale with values from A to B".
  const domain = (axis: 'X' | 'Y'): number[] => {
    const m = new RegExp(`aria-label="${axis}-axis[^"]* values from ([−\\d,.]+) to ([−\\d,.]+)"`).exec(svg);
    return m ? [m[1]!, m[2]!].map((v) => Number(v.replace(/,/g, '').replace('−', '-'))) : [];
  };
  const [y0, y1] = domain('Y');
  t.true(y0! > 12200 && y1! < 12900, `page axis from ${y0} to ${y1}`);
  const late = chartData(parseTrace(await readFile(FIXTURE, 'utf8')), { range: chartRange(parseRangeBound('--from', '20ms'), undefined) });
  const [x0] = domain('X');
  t.true(x0! > -2000, `time axis from ${x0}`);
  const svgLate = await renderSvg(chartSpec(late));
  const xl = new RegExp('aria-label="X-axis[^"]* values from ([\\d,.]+) to').exec(svgLate);
  t.true(Number(xl![1]!.replace(/,/g, '')) > 15000, `a chart from 20 ms has its time axis from ${xl![1]}`);
});

test('two streams far apart in page space are two panels, each with its own file colour', async (t) => {
  const data = chartData(parseTrace(await readFile(TWO_STREAMS, 'utf8')), { maxWindows: 0 });
  t.is(data.panels.length, 2);
  const [low, high] = data.panels;
  t.true(low!.to <= 1024 && high!.from >= 12288, JSON.stringify(data.panels));
  t.deepEqual(new Set(data.reads.filter((r) => r.panel === 1).map((r) => r.file)).size, 1, 'one reader per band');
  t.not(data.reads.find((r) => r.panel === 0)!.file, data.reads.find((r) => r.panel === 1)!.file);
  const svg = await renderSvg(chartSpec(data));
  t.true(svg.includes('>pages 12288-') && svg.includes('>pages 0-'), 'a header per panel');
  t.is(countLayerMarks(svg, 'reads'), data.reads.length, 'every read drawn, over both panels');
  // A single stream stays one panel.
  t.is(chartData(parseTrace(await readFile(FIXTURE, 'utf8'))).panels.length, 1);
});

test('pagePanels splits only at gaps wider than a quarter of the span and PANEL_MIN_GAP_PAGES', (t) => {
  t.is(pagePanels([{ lo: 0, hi: 10 }, { lo: 100, hi: 110 }]).length, 1, 'small gap: one panel');
  t.deepEqual(pagePanels([{ lo: 0, hi: 10 }, { lo: 5, hi: 20 }, { lo: 20 + PANEL_MIN_GAP_PAGES + 1, hi: 30 + PANEL_MIN_GAP_PAGES }]), [
    { from: 0, to: 20 },
    { from: 21 + PANEL_MIN_GAP_PAGES, to: 30 + PANEL_MIN_GAP_PAGES },
  ]);
  // Random reads spread evenly: no gap is a quarter of the span.
  const spread = Array.from({ length: 50 }, (_, i) => ({ lo: i * 5000, hi: i * 5000 + 1 }));
  t.is(pagePanels(spread).length, 1);
});

test('--from/--to keep the windows and reads in a time range and in a page range', async (t) => {
  const trace = parseTrace(await readFile(FIXTURE, 'utf8'));
  const all = chartData(trace, { maxWindows: 0 });
  const mid = all.windows[5]!.x;
  const late = chartData(trace, { maxWindows: 0, range: chartRange(parseRangeBound('--from', `${mid}`), undefined) });
  t.is(late.windows.length, all.windows.length - 5);
  t.true(late.reads.every((r) => r.x >= mid));
  const ms = chartData(trace, { maxWindows: 0, range: chartRange(parseRangeBound('--from', '0ms'), parseRangeBound('--to', `${mid / 1000}ms`)) });
  t.is(ms.windows.length, 5, 'time in ms: the windows before the sixth');
  const pages = chartData(trace, { maxWindows: 0, range: chartRange(parseRangeBound('--from', 'page:60'), parseRangeBound('--to', 'p124')) });
  t.deepEqual(pages.windows.map((w) => `{${w.start},${w.size}}`), ['{60,32}', '{92,32}'], '{28,32} ends at page 60');
  t.true(pages.reads.length > 0 && pages.reads.every((r) => r.page >= 60 && r.page < 124));
  t.throws(() => chartData(trace, { range: chartRange(parseRangeBound('--from', 'page:100000'), undefined) }), { message: /no readahead window .* range/ });
  t.throws(() => parseRangeBound('--to', '12 pages'), { instanceOf: UsageError, message: /bad --to '12 pages': expected/ });
});
