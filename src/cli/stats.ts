/**
 * `aheadfs stats <mountpoint> [--json] [--watch SECONDS] [-- <command...>]`: the counters
 * of `.aheadfs/stats`, grouped as in the registry, one small table per group:
 *
 *   vfs
 *     read_calls            1024  calls
 *     read_bytes       134217728  bytes   (128 MiB)
 *
 * With `--watch N` the tables are redrawn every N seconds until Ctrl-C, with the rate of
 * each counter over the last interval (delta / dt) beside its value:
 *
 *     read_bytes       134217728  bytes   (128 MiB)    33554432.0/s
 *
 * High-water marks are those of each interval there (read through one open handle of
 * `.aheadfs/stats_interval`). With `-- <command...>` the command is measured, perf-stat
 * style (stats-run.ts).
 */

import { checkInterval, openControlFile, readControlFile } from './control.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { COUNTERS, type CounterGroup, type CounterName } from '../stats/registry.js';
import { formatSize } from './size.js';
import { statsRun } from './stats-run.js';

function isCounter(name: string): name is CounterName {
  return Object.hasOwn(COUNTERS, name);
}

/** Parse `name value` lines (the /proc/vmstat-like format of `.aheadfs/stats`). */
export function parseStats(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(-?\d+(?:\.\d+)?)\s*$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Rates per second between two samples taken `dtMs` apart: counters only (a gauge's
 * delta is no rate), and not for high-water marks.
 */
export function statsRates(prev: Map<string, number>, cur: Map<string, number>, dtMs: number): Map<string, number> {
  const out = new Map<string, number>();
  if (dtMs <= 0) return out;
  for (const [name, value] of cur) {
    if (isCounter(name) && COUNTERS[name].kind !== 'counter') continue; // gauges and high-water marks: no rate
    const before = prev.get(name);
    if (before !== undefined) out.set(name, ((value - before) * 1000) / dtMs);
  }
  return out;
}

function formatRate(r: number): string {
  return `${r.toFixed(1)}/s`;
}

export function formatStatsTable(values: Map<string, number>, rates?: Map<string, number>): string {
  const groups = new Map<CounterGroup | 'other', { name: string; value: number; unit: string }[]>();
  for (const [name, value] of values) {
    const group = isCounter(name) ? COUNTERS[name].group : 'other';
    const unit = isCounter(name) ? COUNTERS[name].unit : '';
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push({ name, value, unit });
  }
  const rows = [...groups.values()].flat();
  const nameW = Math.max(...rows.map((r) => r.name.length), 4);
  const valW = Math.max(...rows.map((r) => String(r.value).length), 1);
  const human = (r: { value: number; unit: string }): string => (r.unit === 'bytes' && r.value >= 1024 ? `  (${formatSize(r.value)})` : '');
  const left = (r: { name: string; value: number; unit: string }): string => `  ${r.name.padEnd(nameW)}  ${String(r.value).padStart(valW)}  ${r.unit}${human(r)}`;
  const leftW = Math.max(...rows.map((r) => left(r).length));
  const rateW = rates ? Math.max(0, ...[...rates.values()].map((v) => formatRate(v).length)) : 0;
  const lines: string[] = [];
  for (const [group, rs] of groups) {
    if (lines.length) lines.push('');
    lines.push(group);
    for (const r of rs) {
      const rate = rates?.get(r.name);
      const tail = rate === undefined ? '' : `  ${formatRate(rate).padStart(rateW)}`;
      lines.push(`${rate === undefined ? left(r) : left(r).padEnd(leftW)}${tail}`.trimEnd());
    }
  }
  return lines.join('\n') + '\n';
}

export function statsCommand(y: Argv): Argv {
  return y.command(
    'stats <mountpoint>',
    'show the counters of a mounted store; with -- <command...>: measure that command (like perf stat)',
    (c) =>
      c
        .parserConfiguration({ 'populate--': true })
        .usage('$0 stats <mountpoint> [--json] [--watch SECONDS] [-- <command...>]')
        .positional('mountpoint', { type: 'string', demandOption: true })
        .option('json', { type: 'boolean', default: false, describe: 'print .aheadfs/stats.json as is; with a command: the report as JSON' })
        .option('watch', { type: 'string', requiresArg: true, describe: 'redraw every SECONDS with per-second rates, until Ctrl-C' })
        .option('output', { alias: 'o', type: 'string', requiresArg: true, describe: "with a command: write the report to FILE (default: stderr, the command's stdout stays its own)" }),
    async (argv) => {
      const watch = argv.watch === undefined ? undefined : checkInterval('--watch', argv.watch);
      if (watch !== undefined && argv.json) throw new UsageError('--watch and --json do not go together');
      const dashdash = argv['--'];
      const command = Array.isArray(dashdash) ? dashdash.map(String) : [];
      // yargs drops a bare `--`; the raw arguments still have it.
      if (command.length === 0 && process.argv.slice(2).includes('--')) throw new UsageError('give the command to measure after --');
      if (command.length > 0) {
        if (watch !== undefined) throw new UsageError('--watch and a command do not go together');
        process.exitCode = await statsRun(argv.mountpoint, command, { json: argv.json, output: argv.output });
        return;
      }
      if (argv.output !== undefined) throw new UsageError('--output goes with a command (aheadfs stats <mountpoint> -o FILE -- <command...>)');
      const read = (name: string): Promise<string> => readControlFile(argv.mountpoint, name);
      if (argv.json) {
        const text = await read('stats.json');
        process.stdout.write(text.endsWith('\n') ? text : text + '\n');
        return;
      }
      if (watch === undefined) {
        process.stdout.write(formatStatsTable(parseStats(await read('stats'))));
        return;
      }
      // Redraw until Ctrl-C (SIGINT ends the process, as with watch(1) and iostat). One
      // handle of stats_interval: each read's high-water marks are those of its interval.
      const tty = process.stdout.isTTY === true;
      const interval = await openControlFile(argv.mountpoint, 'stats_interval');
      let prev = parseStats(await interval.read());
      let t0 = performance.now();
      process.stdout.write(formatStatsTable(prev));
      for (;;) {
        await sleep(watch * 1000);
        const cur = parseStats(await interval.read());
        const t1 = performance.now();
        const header = `every ${watch}s, rates over the last ${((t1 - t0) / 1000).toFixed(2)}s  (Ctrl-C to stop)\n\n`;
        process.stdout.write((tty ? '\x1b[H\x1b[2J' : '\n') + header + formatStatsTable(cur, statsRates(prev, cur, t1 - t0)));
        prev = cur;
        t0 = t1;
      }
    },
  );
}
