import test from 'ava';
import {
  amplification,
  cpuTicksFromStat,
  cpuTimesFromProcStat,
  formatFolioOrders,
  formatMarkdown,
  formatMicro,
  formatTable,
  median,
  medianFigures,
  pairedRatio,
  parseFioJson,
  renderSvg,
  repetitionOrder,
  scenarioRatios,
  stealPercent,
  TABLE_HEADER,
  tableRows,
  type RunFigures,
  type ScenarioResult,
} from '../../src/bench/figures.js';

const fioDoc = (read: object, write: object = { bw_bytes: 0, iops: 0, io_bytes: 0 }): string =>
  JSON.stringify({ 'fio version': 'fio-3.33', jobs: [{ jobname: 'x', read, write }] });

test('parseFioJson: throughput, IOPS and clat percentiles of the direction that did the I/O', (t) => {
  const text = fioDoc({ bw_bytes: 50 << 20, iops: 12800, io_bytes: 100 << 20, clat_ns: { percentile: { '50.000000': 52224, '99.000000': 428032 } } });
  const f = parseFioJson(text);
  t.is(f.bwBytes, 50 << 20);
  t.is(f.iops, 12800);
  t.is(f.ioBytes, 100 << 20);
  t.is(f.p50Us, 52.224);
  t.is(f.p99Us, 428.032);
});

test('parseFioJson: skips warnings before the JSON; writes are figures too', (t) => {
  const text = 'fio: some warning\n' + fioDoc({ bw_bytes: 0, iops: 0, io_bytes: 0 }, { bw_bytes: 1000, iops: 10, io_bytes: 5000, clat_ns: { percentile: { '50.000000': 2000, '99.000000': 9000 } } });
  const f = parseFioJson(text);
  t.is(f.bwBytes, 1000);
  t.is(f.p50Us, 2);
  t.is(f.p99Us, 9);
});

test('parseFioJson: no JSON or no jobs is an error', (t) => {
  t.throws(() => parseFioJson('fio: failed'));
  t.throws(() => parseFioJson('{"jobs": []}'));
});

test('median of odd, even, empty and non-finite input', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.true(Number.isNaN(median([])));
  t.is(median([Number.NaN, 5]), 5);
});

test('repetitionOrder: the listed order, then reversed, so no target always runs first or after the same one', (t) => {
  const targets = ['aheadfs', 'aheadfs-4.18', 'null-fuse'] as const;
  const orders = [0, 1, 2, 3].map((r) => repetitionOrder(targets, r).join(' '));
  t.deepEqual(orders, ['aheadfs aheadfs-4.18 null-fuse', 'null-fuse aheadfs-4.18 aheadfs', 'aheadfs aheadfs-4.18 null-fuse', 'null-fuse aheadfs-4.18 aheadfs']);
  // Over two repetitions each target of the aheadfs / aheadfs-4.18 pair runs first once.
  const firstOfPair = [0, 1].map((r) => repetitionOrder(targets, r).find((n) => n !== 'null-fuse'));
  t.deepEqual(firstOfPair, ['aheadfs', 'aheadfs-4.18']);
  t.deepEqual(targets, ['aheadfs', 'aheadfs-4.18', 'null-fuse'], 'the scenario list itself is left alone');
});

test('pairedRatio: ratio per repetition, then the median (not the ratio of medians)', (t) => {
  const a = [10, 100, 40];
  const b = [5, 100, 10];
  t.is(pairedRatio(a, b), 2); // ratios 2, 1, 4
  t.not(pairedRatio(a, b), median(a) / median(b)); // 40 / 10 = 4
  t.true(Number.isNaN(pairedRatio([1], [0])));
});

test('medianFigures keeps optional figures only when present', (t) => {
  const r = (bw: number, extra: Partial<RunFigures> = {}): RunFigures => ({ bwBytes: bw, iops: bw / 10, p50Us: 1, p99Us: 2, ioBytes: bw, ...extra });
  const m = medianFigures([r(10, { cpuSec: 1 }), r(30, { cpuSec: 3 }), r(20, { cpuSec: 2 })]);
  t.is(m.bwBytes, 20);
  t.is(m.cpuSec, 2);
  t.is(m.amplification, undefined);
});

test('amplification and cpu ticks from /proc/<pid>/stat', (t) => {
  t.is(amplification(110, 100), 1.1);
  t.is(amplification(5, 0), undefined);
  // comm with a space and a parenthesis; utime=1234 (field 14), stime=56 (field 15)
  const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 11 0 100 0 0';
  t.is(cpuTicksFromStat(stat), 1290);
});

function scenario(): ScenarioResult {
  const r = (bw: number, extra: Partial<RunFigures> = {}): RunFigures => ({ bwBytes: bw * (1 << 20), iops: bw * 256, p50Us: 50, p99Us: 400, ioBytes: 1, ...extra });
  const targets: ScenarioResult['targets'] = {
    aheadfs: { runs: [r(45, { amplification: 1 }), r(50, { amplification: 1 })], median: r(47.5, { amplification: 1, cpuSec: 0.5, raPages: 8192, raHit: 8191, raWasted: 0 }) },
    'ra-off': { runs: [r(15), r(20)], median: r(17.5) },
    'null-fuse': { runs: [r(90), r(100)], median: r(95) },
    'null-mem': { runs: [r(60), r(40)], median: r(50) },
  };
  return { id: 'seq-read-4k', title: 't', targets, ratios: scenarioRatios(targets) };
}

test('scenarioRatios pairs repetitions of aheadfs with each baseline', (t) => {
  const s = scenario();
  t.is(s.ratios.vsNull, 0.5); // 45/90 and 50/100
  t.is(s.ratios.vsNullMem, (0.75 + 1.25) / 2); // 45/60 and 50/40
  t.is(s.ratios.vsRaOff, (3 + 2.5) / 2);
  t.is(s.ratios.vsDirect, undefined);
});

test('table: one row per target, ratios on the aheadfs row, aligned columns', (t) => {
  const rows = tableRows({ scenarios: [scenario()] });
  t.deepEqual(
    rows.map((r) => r[1]),
    ['aheadfs', 'ra-off', 'null-fuse', 'null-mem'],
  );
  t.is(rows[0]![2], '47.5');
  t.is(rows[0]![7], '1.00');
  t.is(rows[0]![11], '-'); // no steal figure in these runs
  t.is(rows[0]![12], '0.50x');
  t.is(rows[0]![13], '1.00x');
  t.is(rows[0]![14], '2.75x');
  t.is(rows[0]![15], '-'); // no o_direct target in this scenario
  t.is(rows[1]![12], '');
  t.is(rows[3]![13], ''); // ratios only on the aheadfs row
  t.is(rows[2]![7], '-');
  const text = formatTable(TABLE_HEADER, rows).split('\n');
  t.is(text.length, 2 + rows.length);
  t.true(text[0]!.startsWith('scenario'));
  t.regex(text[1]!, /^-+ +-+/);
  const md = formatMarkdown(TABLE_HEADER, rows).split('\n');
  t.is(md[0], `| ${TABLE_HEADER.join(' | ')} |`);
  t.true(md[1]!.includes('---:'));
});

test('peers: aheadfs vs bindfs on the aheadfs row, the kernel vs bindfs on the kernel row, pair by pair', (t) => {
  const r = (bw: number): RunFigures => ({ bwBytes: bw * (1 << 20), iops: bw * 8, p50Us: 50, p99Us: 400, ioBytes: 1 });
  const targets: ScenarioResult['targets'] = {
    aheadfs: { runs: [r(100), r(300)], median: r(200) },
    bindfs: { runs: [r(200), r(200)], median: r(200) },
    kernel: { runs: [r(800), r(200)], median: r(500) },
  };
  const ratios = scenarioRatios(targets);
  t.is(ratios.vsBindfs, (0.5 + 1.5) / 2);
  t.is(ratios.kernelVsBindfs, (4 + 1) / 2);
  t.is(scenarioRatios({ aheadfs: targets.aheadfs, kernel: targets.kernel }).kernelVsBindfs, undefined, 'no bindfs, no ratio');
  const rows = tableRows({ scenarios: [{ id: 'seq-read-128k', title: 't', targets, ratios }] });
  const col = TABLE_HEADER.indexOf('vs bindfs');
  t.true(col >= 0);
  t.deepEqual(rows.map((x) => [x[1], x[col]]), [['aheadfs', '1.00x'], ['bindfs', ''], ['kernel', '2.50x']]);
  t.true(rows.every((x) => x.length === TABLE_HEADER.length));
  // A scenario without the peers: '-' on the aheadfs row.
  t.is(tableRows({ scenarios: [scenario()] })[0]![col], '-');
  const svg = renderSvg({ scenarios: [{ id: 's', title: 't', targets, ratios }], date: 'd', mode: 'quick' });
  t.is((svg.match(/<rect x="150" y="\d+" width="[\d.]+" height="12"/g) ?? []).length, 3, 'a bar per target');
  t.true(svg.includes('bindfs 200.0 MiB/s') && svg.includes('kernel 500.0 MiB/s'));
});

test('svg: a well-formed document with one bar per target', (t) => {
  const svg = renderSvg({ scenarios: [scenario()], date: '2026-01-01', mode: 'quick' });
  t.true(svg.startsWith('<svg'));
  t.true(svg.trimEnd().endsWith('</svg>'));
  t.is((svg.match(/<rect x="150" y="\d+"/g) ?? []).length, 4 + 1); // 4 bars + the first legend swatch at x=150
});

test('steal: the cpu line of /proc/stat, and the stolen share between two samples', (t) => {
  const a = cpuTimesFromProcStat('cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\nintr 1\n');
  t.deepEqual(a, { total: 1000, steal: 40 });
  const b = cpuTimesFromProcStat('cpu  150 0 70 900 10 0 0 70 0 0\n');
  t.is(stealPercent(a, b), (100 * 30) / 200);
  t.is(stealPercent(a, a), undefined);
  t.throws(() => cpuTimesFromProcStat('intr 1\n'));
  const runs = [{ bwBytes: 1, iops: 1, p50Us: 1, p99Us: 1, ioBytes: 1, stealPct: 2 }, { bwBytes: 1, iops: 1, p50Us: 1, p99Us: 1, ioBytes: 1, stealPct: 12 }];
  t.is(medianFigures(runs).stealPct, 7);
});

test('4.18 vs 6.18: aheadfs (6.18) paired with aheadfs-4.18 per repetition, the vs 4.18 column on the aheadfs row only', (t) => {
  const r = (bw: number): RunFigures => ({ bwBytes: bw * (1 << 20), iops: bw * 8, p50Us: 50, p99Us: 400, ioBytes: 1 });
  const targets: ScenarioResult['targets'] = {
    'aheadfs-4.18': { runs: [r(100), r(400), r(50)], median: r(100) },
    aheadfs: { runs: [r(200), r(200), r(50)], median: r(200) },
    bindfs: { runs: [r(100), r(100), r(100)], median: r(100) },
  };
  const ratios = scenarioRatios(targets);
  // 2, 0.5 and 1: the median of the pairs, not 200/100 of the medians.
  t.is(ratios.vs418, 1);
  t.not(ratios.vs418, 200 / 100);
  t.is(scenarioRatios({ aheadfs: targets.aheadfs }).vs418, undefined, 'no 4.18 target, no ratio');
  const rows = tableRows({ scenarios: [{ id: 'seq-read-4k', title: 't', targets, ratios }] });
  const col = TABLE_HEADER.indexOf('vs 4.18');
  t.true(col > 0);
  // aheadfs first, its 4.18 twin right after it, whatever order the targets were given in.
  t.deepEqual(rows.map((x) => [x[1], x[col]]), [['aheadfs', '1.00x'], ['aheadfs-4.18', ''], ['bindfs', '']]);
  t.is(rows[1]![2], '100.0');
  t.true(rows.every((x) => x.length === TABLE_HEADER.length));
  t.is(tableRows({ scenarios: [scenario()] })[0]![col], '-', 'a scenario without 4.18: "-" on the aheadfs row');
  const svg = renderSvg({ scenarios: [{ id: 's', title: 't', targets, ratios }], date: 'd', mode: 'quick' });
  t.true(svg.includes('aheadfs-4.18 100.0 MiB/s'));
  t.true(svg.includes('>aheadfs-4.18</text>'), 'in the legend');
});

test('micro lines: the default 4 KiB figure, then one line per kernel and read size with its folios', (t) => {
  t.is(formatFolioOrders({ 5: 510, 0: 3, 2: 4 }), 'order 0 x3, order 2 x4, order 5 x510');
  t.is(formatFolioOrders({}), '');
  const lines = formatMicro({
    fileBytes: 64 << 20,
    reads: 1000,
    traceOnPagesPerSec: 2_500_000,
    traceOffPagesPerSec: 2_750_000,
    copyPagesPerSec: 5_000_000,
    loops: [
      { kernel: '6.18', bs: 4096, trace: true, pagesPerSec: 2_500_000, copyPagesPerSec: 5_000_000, folioOrders: { 2: 1, 5: 511 } },
      { kernel: '4.18', bs: 131072, trace: true, pagesPerSec: 1_250_000, copyPagesPerSec: 4_000_000, folioOrders: { 0: 16384 } },
      { kernel: '6.18', bs: 4096, trace: true, pagesPerSec: 1_000_000, copyPagesPerSec: 2_000_000, pagesPerCpuSec: 2_100_000, copyPagesPerCpuSec: 4_200_000, folioOrders: { 5: 512 } },
    ],
  });
  t.is(lines.length, 4);
  t.regex(lines[0]!, /6\.18 \(64 MiB file, 1000 reads\): 2\.50 M pages\/s with trace on \(default\), 2\.75 M with trace off; plain copy floor 5\.00 M\/s/);
  t.is(lines[1], '  6.18 loop, 4 KiB reads, trace on: 2.50 M pages/s (copy floor 5.00 M/s; order 2 x1, order 5 x511)');
  t.is(lines[2], '  4.18 loop, 128 KiB reads, trace on: 1.25 M pages/s (copy floor 4.00 M/s; order 0 x16384)');
  t.is(lines[3], '  6.18 loop, 4 KiB reads, trace on: 1.00 M pages/s (copy floor 2.00 M/s; per CPU second 2.10 M, floor 4.20 M; order 5 x512)', 'CPU figures when the result has them');
  // A result document from before the loops: only the first line.
  t.is(formatMicro({ fileBytes: 64 << 20, reads: 1, traceOnPagesPerSec: 1, traceOffPagesPerSec: 1, copyPagesPerSec: 1 }).length, 1);
});
