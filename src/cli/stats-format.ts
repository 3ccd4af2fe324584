/**
 * The counters as text: `name value` lines parsed (the /proc/vmstat-like format of
 * `.aheadfs/stats`), per-second rates between two samples, and the grouped tables that
 * `aheadfs stats` prints (stats.ts) and `stats -- <command>` reports (stats-run.ts).
 */

import { COUNTERS, type CounterGroup, type CounterName } from '../stats/registry.js';
import { formatSize } from './size.js';

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
