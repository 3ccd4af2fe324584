/**
 * The pure parts of the bench: fio JSON -> figures, medians and pair-by-pair ratios, the
 * text table and the SVG chart. No I/O here (unit-tested in test/unit/bench.test.ts).
 */

const MiB = 1 << 20;

/** What one fio run (one job, or a group-reported set of jobs) measured. */
export interface FioFigures {
  /** Bytes per second, reads + writes. */
  bwBytes: number;
  iops: number;
  /** Completion latency percentiles in microseconds (of the direction that did the I/O). */
  p50Us: number;
  p99Us: number;
  ioBytes: number;
}

/** One run of one target in one scenario: fio's figures plus what the daemon's counters say. */
export interface RunFigures extends FioFigures {
  /** Daemon CPU time during the run (utime + stime), seconds; undefined if not known. */
  cpuSec?: number;
  /** Device bytes read / bytes delivered (aheadfs only). */
  amplification?: number;
  raPages?: number;
  raHit?: number;
  raWasted?: number;
  /**
   * Percent of the machine's CPU time stolen by the hypervisor during the run (/proc/stat
   * `steal`): on a shared host, other guests slow every target down, unevenly.
   */
  stealPct?: number;
}

interface FioDir {
  bw_bytes?: number;
  iops?: number;
  io_bytes?: number;
  clat_ns?: { percentile?: Record<string, number> };
}
interface FioJob {
  read?: FioDir;
  write?: FioDir;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** fio's --output-format=json text (it may print warnings before the JSON) -> figures. */
export function parseFioJson(text: string): FioFigures {
  const start = text.indexOf('{');
  if (start < 0) throw new Error(`fio printed no JSON: ${text.slice(0, 200)}`);
  const doc: unknown = JSON.parse(text.slice(start));
  if (!isRecord(doc) || !Array.isArray(doc.jobs) || doc.jobs.length === 0) throw new Error('fio JSON has no jobs');
  let bw = 0;
  let iops = 0;
  let io = 0;
  // Latency: the percentiles of the job and direction with the most I/O (with
  // --group_reporting there is one job).
  let best: { io: number; pct: Record<string, number> } | undefined;
  for (const j of doc.jobs as FioJob[]) {
    for (const d of [j.read, j.write]) {
      if (!d) continue;
      bw += d.bw_bytes ?? 0;
      iops += d.iops ?? 0;
      io += d.io_bytes ?? 0;
      const pct = d.clat_ns?.percentile;
      if (pct && (d.io_bytes ?? 0) > 0 && (best === undefined || (d.io_bytes ?? 0) > best.io)) best = { io: d.io_bytes ?? 0, pct };
    }
  }
  const p = (k: string): number => (best ? (best.pct[k] ?? 0) / 1000 : 0);
  return { bwBytes: bw, iops, ioBytes: io, p50Us: p('50.000000'), p99Us: p('99.000000') };
}

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * The order of a scenario's targets in repetition `rep` (0-based): as listed in even
 * repetitions, reversed in odd ones (A B C, C B A, A B C, ...). No target always runs
 * first or right after the same neighbour, so a slow start (a fresh arena, a disk that
 * slows down during the scenario) does not land on one target of a pair every time.
 */
export function repetitionOrder<T>(targets: readonly T[], rep: number): T[] {
  return rep % 2 === 0 ? [...targets] : [...targets].reverse();
}

/** Ratios a[i]/b[i] of the same repetition, then their median (NaN when none is defined). */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const r: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (b[i]! > 0 && Number.isFinite(a[i]!)) r.push(a[i]! / b[i]!);
  return median(r);
}

/** The median of every figure over repetitions (undefined figures stay undefined). */
export function medianFigures(runs: readonly RunFigures[]): RunFigures {
  const m = (get: (r: RunFigures) => number | undefined): number | undefined => {
    const xs = runs.map(get).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const out: RunFigures = {
    bwBytes: m((r) => r.bwBytes) ?? Number.NaN,
    iops: m((r) => r.iops) ?? Number.NaN,
    p50Us: m((r) => r.p50Us) ?? Number.NaN,
    p99Us: m((r) => r.p99Us) ?? Number.NaN,
    ioBytes: m((r) => r.ioBytes) ?? Number.NaN,
  };
  const opt: [keyof RunFigures, (r: RunFigures) => number | undefined][] = [
    ['cpuSec', (r) => r.cpuSec],
    ['amplification', (r) => r.amplification],
    ['raPages', (r) => r.raPages],
    ['raHit', (r) => r.raHit],
    ['raWasted', (r) => r.raWasted],
    ['stealPct', (r) => r.stealPct],
  ];
  for (const [k, get] of opt) {
    const v = m(get);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Device bytes read per byte delivered; undefined when nothing was delivered. */
export function amplification(deviceBytes: number, deliveredBytes: number): number | undefined {
  return deliveredBytes > 0 ? deviceBytes / deliveredBytes : undefined;
}

/** The aggregate `cpu` line of /proc/stat: all ticks, and the stolen ones (field 8). */
export function cpuTimesFromProcStat(text: string): { total: number; steal: number } {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no cpu line in /proc/stat');
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) throw new Error(`bad /proc/stat cpu line: ${line.slice(0, 80)}`);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7]! };
}

/** Stolen share of CPU time between two /proc/stat samples, in percent. */
export function stealPercent(a: { total: number; steal: number }, b: { total: number; steal: number }): number | undefined {
  const dt = b.total - a.total;
  return dt > 0 ? (100 * (b.steal - a.steal)) / dt : undefined;
}

/** utime + stime (clock ticks) from the text of /proc/<pid>/stat. */
export function cpuTicksFromStat(stat: string): number {
  // "pid (comm) S ppid ..." : comm may hold spaces and parentheses; fields after ')' start at 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`bad /proc stat line: ${stat.slice(0, 80)}`);
  return utime + stime;
}

// --- the results document -------------------------------------------------------------

/**
 * aheadfs and its baselines: ra-off (readahead off), null-fuse (FUSE answering from a
 * pattern that stays in the CPU caches: FUSE's own ceiling), null-mem (FUSE answering from
 * each file's bytes held in RAM: the ceiling for any cache re-reading a file that large),
 * o_direct (the block files read with O_DIRECT: the device); and two peers a user would
 * otherwise use: bindfs (a C FUSE passthrough over a directory on the same disk, served
 * from the kernel's page cache with the kernel's FUSE readahead at the same read_ahead_kb)
 * and kernel (buffered reads of the same files straight from the disk's filesystem, with
 * the disk's own read_ahead_kb). `aheadfs` mounts `--kernel 6.18` (the default);
 * `aheadfs-4.18` is a second store mounted `--kernel 4.18`, otherwise the same, so the two
 * read paths run alternating in one run.
 */
export type TargetName = 'aheadfs' | 'aheadfs-4.18' | 'write-through' | 'ra-off' | 'null-fuse' | 'null-mem' | 'o_direct' | 'bindfs' | 'kernel';

/** Table rows, chart bars and legend in this order. */
export const TARGET_ORDER: readonly TargetName[] = ['aheadfs', 'aheadfs-4.18', 'write-through', 'ra-off', 'null-fuse', 'null-mem', 'o_direct', 'bindfs', 'kernel'];

export interface ScenarioResult {
  id: string;
  title: string;
  /** Per target: every repetition, and the median. */
  targets: Partial<Record<TargetName, { runs: RunFigures[]; median: RunFigures }>>;
  /** Throughput ratios, pair by pair per repetition, median. */
  ratios: { vsNull?: number; vsNullMem?: number; vsRaOff?: number; vsDirect?: number; vsBindfs?: number; kernelVsBindfs?: number; vs418?: number; vsWriteThrough?: number };
}

/** One in-process loop of micro.ts: a kernel's read loop over its own folios, one read size. */
export interface MicroLoop {
  kernel: '4.18' | '6.18';
  /** Bytes per read. */
  bs: number;
  trace: boolean;
  pagesPerSec: number;
  copyPagesPerSec: number;
  /**
   * The same per CPU second of the process (process.cpuUsage): on a shared machine the wall
   * figures also count other processes' turns. Absent in results from before they existed.
   */
  pagesPerCpuSec?: number;
  copyPagesPerCpuSec?: number;
  /** Folios cached per order when timed, e.g. { 0: 16384 } or { 2: 4, 5: 510 }. */
  folioOrders: Record<number, number>;
}

export interface MicroFigures {
  fileBytes: number;
  reads: number;
  /** The default mount (6.18), 4 KiB reads, with the trace ring on and off. */
  traceOnPagesPerSec: number;
  traceOffPagesPerSec: number;
  copyPagesPerSec: number;
  /** Both kernels' loops at 4 KiB and 128 KiB, trace on (since the 4.18-vs-6.18 bench). */
  loops?: MicroLoop[];
}

export interface BenchDoc {
  date: string;
  mode: 'quick' | 'full';
  machine: { cpus: number; cpuModel: string; memBytes: number; kernel: string; node: string; fio: string };
  repetitions: number;
  config: Record<string, string | number>;
  scenarios: ScenarioResult[];
  micro?: MicroFigures;
}

export function scenarioRatios(targets: ScenarioResult['targets']): ScenarioResult['ratios'] {
  const bw = (t: TargetName): number[] | undefined => targets[t]?.runs.map((r) => r.bwBytes);
  const a = bw('aheadfs');
  const out: ScenarioResult['ratios'] = {};
  if (!a) return out;
  const n = bw('null-fuse');
  const nm = bw('null-mem');
  const o = bw('ra-off');
  const d = bw('o_direct');
  const b = bw('bindfs');
  const k = bw('kernel');
  const v4 = bw('aheadfs-4.18');
  if (v4) out.vs418 = pairedRatio(a, v4);
  const wt = bw('write-through');
  if (wt) out.vsWriteThrough = pairedRatio(a, wt);
  if (b) out.vsBindfs = pairedRatio(a, b);
  if (b && k) out.kernelVsBindfs = pairedRatio(k, b);
  if (n) out.vsNull = pairedRatio(a, n);
  if (nm) out.vsNullMem = pairedRatio(a, nm);
  if (o) out.vsRaOff = pairedRatio(a, o);
  if (d) out.vsDirect = pairedRatio(a, d);
  return out;
}

// --- the table -------------------------------------------------------------------------

const fmt = (v: number | undefined, digits: number): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const fmtInt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : Math.round(v).toString());
const fmtRatio = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`);

export const TABLE_HEADER = ['scenario', 'target', 'MiB/s', 'IOPS', 'p50 us', 'p99 us', 'cpu s', 'amp', 'ra pages', 'ra hit', 'ra waste', 'steal %', 'vs null', 'vs null-mem', 'vs ra-off', 'vs o_direct', 'vs bindfs', 'vs 4.18', 'vs write-through'] as const;

/**
 * One row per scenario and target (medians); the ratio columns on the aheadfs row, except
 * `vs bindfs` on the kernel row: the kernel's own reads vs bindfs (what FUSE costs bindfs).
 * `vs 4.18` is aheadfs (6.18) vs aheadfs-4.18, pair by pair; `vs write-through` is aheadfs
 * (writeback, the default) vs a store mounted --writeback off, pair by pair.
 */
export function tableRows(doc: Pick<BenchDoc, 'scenarios'>): string[][] {
  const rows: string[][] = [];
  for (const s of doc.scenarios) {
    for (const t of TARGET_ORDER) {
      const r = s.targets[t]?.median;
      if (!r) continue;
      const isA = t === 'aheadfs';
      rows.push([
        s.id,
        t,
        fmt(r.bwBytes / MiB, 1),
        fmtInt(r.iops),
        fmtInt(r.p50Us),
        fmtInt(r.p99Us),
        fmt(r.cpuSec, 2),
        fmt(r.amplification, 2),
        fmtInt(r.raPages),
        fmtInt(r.raHit),
        fmtInt(r.raWasted),
        fmt(r.stealPct, 1),
        isA ? fmtRatio(s.ratios.vsNull) : '',
        isA ? fmtRatio(s.ratios.vsNullMem) : '',
        isA ? fmtRatio(s.ratios.vsRaOff) : '',
        isA ? fmtRatio(s.ratios.vsDirect) : '',
        isA ? fmtRatio(s.ratios.vsBindfs) : t === 'kernel' ? fmtRatio(s.ratios.kernelVsBindfs) : '',
        isA ? fmtRatio(s.ratios.vs418) : '',
        isA ? fmtRatio(s.ratios.vsWriteThrough) : '',
      ]);
    }
  }
  return rows;
}

/** A plain text table, columns padded; numbers right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (s: string): boolean => /^[-\d.]+x?$/.test(s);
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i >= 2 && (numeric(c) || c === '') ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table as Markdown (for the README). */
export function formatMarkdown(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (r: readonly string[]): string => `| ${r.join(' | ')} |`;
  return [line(header), line(header.map((_h, i) => (i >= 2 ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

// --- the chart -------------------------------------------------------------------------

const COLORS: Record<TargetName, string> = { aheadfs: '#1f77b4', 'aheadfs-4.18': '#aec7e8', 'write-through': '#17becf', 'ra-off': '#ff7f0e', 'null-fuse': '#2ca02c', 'null-mem': '#98df8a', o_direct: '#7f7f7f', bindfs: '#9467bd', kernel: '#8c564b' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Grouped horizontal bars of median throughput per scenario, one bar per target, each
 * scenario scaled to its own largest bar (scenarios differ by orders of magnitude); the
 * MiB/s figure is written on each bar.
 */
export function renderSvg(doc: Pick<BenchDoc, 'scenarios' | 'date' | 'mode'>): string {
  const order = TARGET_ORDER;
  const barH = 14;
  const gap = 10;
  const labelW = 150;
  const plotW = 460;
  const top = 40;
  let y = top;
  const parts: string[] = [];
  for (const s of doc.scenarios) {
    const present = order.filter((t) => s.targets[t]);
    const max = Math.max(...present.map((t) => s.targets[t]!.median.bwBytes), 1);
    parts.push(`<text x="4" y="${y + 11}" font-size="11">${esc(s.id)}</text>`);
    for (const t of present) {
      const v = s.targets[t]!.median.bwBytes;
      const w = Number.isFinite(v) ? Math.max(1, (v / max) * plotW) : 0;
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[t]}"/>`);
      parts.push(`<text x="${labelW + w + 4}" y="${y + 10}" font-size="10">${esc(t)} ${fmt(v / MiB, 1)} MiB/s</text>`);
      y += barH;
    }
    y += gap;
  }
  const width = labelW + plotW + 160;
  const height = y + 10;
  const legend = order.map((t, i) => `<rect x="${labelW + i * 80}" y="18" width="10" height="10" fill="${COLORS[t]}"/><text x="${labelW + i * 80 + 14}" y="27" font-size="11">${t}</text>`).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="4" y="13" font-size="12" font-weight="bold">aheadfs bench ${esc(doc.date)} (${doc.mode}): median throughput, bars scaled per scenario</text>`,
    legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

// --- the in-process loops ----------------------------------------------------------------

/** `{0: 3, 5: 510}` -> `order 0 x3, order 5 x510` (orders ascending). */
export function formatFolioOrders(orders: Record<number, number>): string {
  return Object.entries(orders)
    .map(([o, n]) => [Number(o), n] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([o, n]) => `order ${o} x${n}`)
    .join(', ');
}

/**
 * The micro-benchmark's lines for the run's summary: the default mount's 4 KiB figure with
 * the trace on and off, then one line per kernel and read size.
 */
export function formatMicro(mic: MicroFigures): string[] {
  const M = (v: number): string => (v / 1e6).toFixed(2);
  const lines = [
    `in-process cached 4 KiB reads, 6.18 (${mic.fileBytes / MiB} MiB file, ${mic.reads} reads): ` +
      `${M(mic.traceOnPagesPerSec)} M pages/s with trace on (default), ${M(mic.traceOffPagesPerSec)} M with trace off; plain copy floor ${M(mic.copyPagesPerSec)} M/s`,
  ];
  for (const l of mic.loops ?? []) {
    const cpu = l.pagesPerCpuSec !== undefined && l.copyPagesPerCpuSec !== undefined ? `; per CPU second ${M(l.pagesPerCpuSec)} M, floor ${M(l.copyPagesPerCpuSec)} M` : '';
    lines.push(`  ${l.kernel} loop, ${l.bs >> 10} KiB reads, trace ${l.trace ? 'on' : 'off'}: ${M(l.pagesPerSec)} M pages/s (copy floor ${M(l.copyPagesPerSec)} M/s${cpu}; ${formatFolioOrders(l.folioOrders)})`);
  }
  return lines;
}
