/**
 * `aheadfs stats <mountpoint> [--json] [-o FILE] -- <command...>`: measure one workload,
 * as `perf stat` does. Runs the command (no shell; its stdin, stdout and stderr are
 * ours), and when it ends reports on stderr (or in FILE):
 *
 *   counters   what changed during the run (deltas, and per second over the elapsed time)
 *   peaks      the high-water marks of this run only (rq_inflight_max): the run keeps one
 *              handle of `.aheadfs/stats_interval` open, whose reads at offset 0 each end an
 *              interval of its own (no other reader resets it, nothing since mount)
 *   derived    page cache hit ratio (hit / (hit + wait + miss), which add up to the pages
 *              read), read amplification (disk bytes read / bytes returned), average read
 *              and device request, readahead windows by reason
 *   then the command's exit status; aheadfs exits with it (128 + n for a signal n, 127
 *   when the command is not found, 126 when it cannot be run).
 *
 *   open stats_interval --> read (start) --> spawn cmd --> wait --> read (end, peaks) --> report
 */

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { COUNTER_NAMES, COUNTERS, PEAK_NAMES, type CounterName } from '../stats/registry.js';
import { openControlFile } from './control.js';
import { formatSize } from './size.js';
import { formatStatsTable, parseStats } from './stats-format.js';

/** The readahead reasons, in the order the report lists them, with their counters. */
const REASONS = [
  ['initial', 'ra_initial'],
  ['sequential', 'ra_sequential'],
  ['marker', 'ra_marker'],
  ['oversize', 'ra_oversize'],
  ['context', 'ra_context'],
  ['random', 'ra_random'],
  ['forced', 'ra_forced'],
] as const satisfies readonly (readonly [string, CounterName])[];

export interface Derived {
  /** pgcache_hit + pgcache_wait + pgcache_miss: the pages the reads covered. */
  pages_read: number;
  /** Fractions of pages_read (null when nothing was read). */
  hit_ratio: number | null;
  wait_ratio: number | null;
  miss_ratio: number | null;
  /** disk_read_bytes / read_bytes. */
  read_amplification: number | null;
  /** read_bytes / read_calls. */
  avg_read_bytes: number | null;
  /** disk_read_bytes / disk_read_ios. */
  avg_disk_read_bytes: number | null;
  /** ra_sync + ra_async: windows that submitted I/O. */
  ra_windows: number;
  /** Of those, by the branch that chose them (they add up to ra_windows). */
  ra_windows_by_reason: Record<(typeof REASONS)[number][0], number>;
  /** ra_hit / ra_pages: share of the pages read ahead that were read during the run. */
  ra_used_ratio: number | null;
}

export interface StatsReport {
  command: string[];
  mountpoint: string;
  elapsed_seconds: number;
  /** The command's exit code, or null when a signal ended it. */
  exit_status: number | null;
  signal: string | null;
  /** Deltas of every counter over the run. */
  counters: Record<string, number>;
  /** Per second over elapsed_seconds. */
  rates: Record<string, number>;
  /** High-water marks of the run's interval. */
  peaks: Record<string, number>;
  /** Gauges at the end. */
  gauges: Record<string, number>;
  derived: Derived;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** The report's figures from the samples before and after (pure; unit-tested). */
export function statsReport(
  before: Map<string, number>,
  after: Map<string, number>,
  run: { command: string[]; mountpoint: string; elapsedMs: number; exitStatus: number | null; signal: string | null },
): StatsReport {
  const counters: Record<string, number> = {};
  const rates: Record<string, number> = {};
  const peaks: Record<string, number> = {};
  const gauges: Record<string, number> = {};
  const seconds = run.elapsedMs / 1000;
  for (const name of COUNTER_NAMES) {
    const v = after.get(name);
    if (v === undefined) continue;
    const kind = COUNTERS[name].kind;
    if (kind === 'gauge') gauges[name] = v;
    else if (kind === 'peak') peaks[name] = v;
    else {
      counters[name] = v - (before.get(name) ?? 0);
      if (seconds > 0) rates[name] = counters[name] / seconds;
    }
  }
  const c = (n: CounterName): number => counters[n] ?? 0;
  const pages = c('pgcache_hit') + c('pgcache_wait') + c('pgcache_miss');
  const windows = c('ra_sync') + c('ra_async');
  return {
    command: run.command,
    mountpoint: run.mountpoint,
    elapsed_seconds: seconds,
    exit_status: run.exitStatus,
    signal: run.signal,
    counters,
    rates,
    peaks,
    gauges,
    derived: {
      pages_read: pages,
      hit_ratio: ratio(c('pgcache_hit'), pages),
      wait_ratio: ratio(c('pgcache_wait'), pages),
      miss_ratio: ratio(c('pgcache_miss'), pages),
      read_amplification: ratio(c('disk_read_bytes'), c('read_bytes')),
      avg_read_bytes: ratio(c('read_bytes'), c('read_calls')),
      avg_disk_read_bytes: ratio(c('disk_read_bytes'), c('disk_read_ios')),
      ra_windows: windows,
      ra_windows_by_reason: Object.fromEntries(REASONS.map(([reason, name]) => [reason, c(name)])) as Derived['ra_windows_by_reason'],
      ra_used_ratio: ratio(c('ra_hit'), c('ra_pages')),
    },
  };
}

/** A shell-like rendering of the command for the title (quotes where needed). */
function shellWords(words: string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(2)} %`);
const bytes = (v: number | null): string => (v === null ? '-' : formatSize(Math.round(v)));

/** The text report, perf-stat style. */
export function formatStatsReport(r: StatsReport): string {
  const d = r.derived;
  const changed = new Map(Object.entries(r.counters).filter(([, v]) => v !== 0));
  const rates = new Map(Object.entries(r.rates).filter(([n]) => changed.has(n)));
  const out: string[] = [`\n Counter stats for '${shellWords(r.command)}' on ${r.mountpoint}:\n`];
  const table = formatStatsTable(changed, rates).trimEnd().split('\n');
  out.push(changed.size ? table.map((l) => (l === '' ? '' : ` ${l}`)).join('\n') : '  (no counter changed)');
  out.push('', ' peaks in this run');
  for (const [name, v] of Object.entries(r.peaks)) out.push(`  ${name.padEnd(22)} ${String(v).padStart(10)}  ${COUNTERS[name as CounterName]?.unit ?? ''}`);
  const reasons = Object.entries(d.ra_windows_by_reason)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const rows: [string, string, string][] = [
    ['page cache hit ratio', pct(d.hit_ratio), `of ${d.pages_read} pages read: ${r.counters.pgcache_hit ?? 0} hits, ${r.counters.pgcache_wait ?? 0} waits, ${r.counters.pgcache_miss ?? 0} misses`],
    ['read amplification', d.read_amplification === null ? '-' : d.read_amplification.toFixed(3), 'disk bytes read / bytes returned'],
    ['average read', bytes(d.avg_read_bytes), 'read_bytes / read_calls'],
    ['average device read', bytes(d.avg_disk_read_bytes), 'disk_read_bytes / disk_read_ios'],
    ['readahead windows', String(d.ra_windows), reasons || 'none'],
    ['readahead pages used', pct(d.ra_used_ratio), 'ra_hit / ra_pages'],
  ];
  out.push('', ' derived');
  for (const [label, value, note] of rows) out.push(`  ${label.padEnd(22)} ${value.padStart(10)}  ${note}`);
  out.push('', `  ${r.elapsed_seconds.toFixed(6).padStart(20)} seconds time elapsed`, '');
  out.push(r.signal !== null ? ` command killed by ${r.signal}` : ` command exited with status ${r.exit_status}`);
  return out.join('\n') + '\n';
}

/** The exit status a shell would give: the code, or 128 + the signal's number. */
export function shellStatus(code: number | null, signal: string | null): number {
  if (signal !== null) return 128 + ((constants.signals as Record<string, number>)[signal] ?? 0);
  return code ?? 1;
}

export interface RunOptions {
  json: boolean;
  output: string | undefined;
}

/**
 * Measure `command` on the mount. Resolves with the exit status aheadfs should end with;
 * rejects with a UsageError when the mountpoint is not an aheadfs mount (before the
 * command runs).
 */
export async function statsRun(mountpoint: string, command: string[], opts: RunOptions): Promise<number> {
  const reader = await openControlFile(mountpoint, 'stats_interval');
  try {
    const before = parseStats(await reader.read());
    const t0 = performance.now();
    const ended = await runCommand(command);
    const elapsedMs = performance.now() - t0;
    const after = parseStats(await reader.read());
    if (ended.kind === 'not-started') {
      process.stderr.write(`aheadfs: cannot run '${command[0]}': ${ended.reason}\n`);
      return ended.status;
    }
    const report = statsReport(before, after, { command, mountpoint, elapsedMs, exitStatus: ended.code, signal: ended.signal });
    const text = opts.json ? JSON.stringify(report, null, 1) + '\n' : formatStatsReport(report);
    if (opts.output !== undefined) await writeFile(opts.output, text);
    else process.stderr.write(text);
    return shellStatus(ended.code, ended.signal);
  } finally {
    await reader.close();
  }
}

type Ended = { kind: 'exited'; code: number | null; signal: string | null } | { kind: 'not-started'; reason: string; status: number };

/**
 * Run the command with our stdio; while it runs, SIGINT and SIGQUIT are the command's
 * business (the terminal sends them to both of us): we only report when it ends.
 */
function runCommand(command: string[]): Promise<Ended> {
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  return new Promise<Ended>((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') resolve({ kind: 'not-started', reason: 'command not found', status: 127 });
      else resolve({ kind: 'not-started', reason: err.message, status: 126 });
    });
    child.on('exit', (code, signal) => resolve({ kind: 'exited', code, signal }));
  }).finally(() => {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
  });
}
