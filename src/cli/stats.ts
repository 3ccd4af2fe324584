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
import { formatStatsTable, parseStats, statsRates } from './stats-format.js';
import { statsRun } from './stats-run.js';

export { formatStatsTable, parseStats, statsRates } from './stats-format.js';

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
