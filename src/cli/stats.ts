/**
 * `aheadfs stats <mountpoint> [--json]`: the counters of `.aheadfs/stats`, grouped as in
 * the registry, one small table per group:
 *
 *   vfs
 *     read_calls            1024  calls
 *     read_bytes       134217728  bytes   (128 MiB)
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Argv } from 'yargs';
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

export function formatStatsTable(values: Map<string, number>): string {
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
  const lines: string[] = [];
  for (const [group, rs] of groups) {
    if (lines.length) lines.push('');
    lines.push(group);
    for (const r of rs) {
      const human = r.unit === 'bytes' && r.value >= 1024 ? `  (${formatSize(r.value)})` : '';
      lines.push(`  ${r.name.padEnd(nameW)}  ${String(r.value).padStart(valW)}  ${r.unit}${human}`.trimEnd());
    }
  }
  return lines.join('\n') + '\n';
}

export function statsCommand(y: Argv): Argv {
  return y.command(
    'stats <mountpoint>',
    'show the counters of a mounted store',
    (c) =>
      c
        .positional('mountpoint', { type: 'string', demandOption: true })
        .option('json', { type: 'boolean', default: false, describe: 'print .aheadfs/stats.json as is' }),
    async (argv) => {
      const dir = join(argv.mountpoint, '.aheadfs');
      const read = (name: string): Promise<string> =>
        readFile(join(dir, name), 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new Error(`cannot read ${join(dir, name)}: ${err.code === 'ENOENT' ? `${argv.mountpoint} is not an aheadfs mount` : err.message}`);
        });
      if (argv.json) {
        const text = await read('stats.json');
        process.stdout.write(text.endsWith('\n') ? text : text + '\n');
        return;
      }
      process.stdout.write(formatStatsTable(parseStats(await read('stats'))));
    },
  );
}
