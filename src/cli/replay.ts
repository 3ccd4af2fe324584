/**
 * `aheadfs replay <trace> [--kernel 4.18,6.18] [--ra-policy ondemand,none,stride]
 * [--read-ahead-kb 128,1024] [--device ssd|nvme|hdd|nbd-2ms|PROFILE.json,...] [--iodepth N]
 * [--seed N] [--json] [--trace FILE] [--chart DIR]`
 *
 * Replays the reads of a trace (fio iolog v2/v3, aheadfs' own `read` lines, blkparse
 * text) through the engine in-process over a simulated device (src/replay): one run per
 * combination of the comma lists, then a table (or JSON), and with --chart the windows
 * and figures charts. Everything is checked before the first run: bad input changes
 * nothing on disk.
 */

import { closeSync, openSync, writeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { KERNEL_VERSIONS, RA_POLICIES, type KernelVersion, type RaPolicy } from '../mm/pagecache.js';
import { loadProfile, type DeviceProfile } from '../replay/device.js';
import { runReplay, type ReplayResult } from '../replay/engine.js';
import { parseTrace } from '../replay/parse.js';
import { configLabel, crossProduct, figuresSpec, formatTable, jsonResults, windowsSpec, writeChart, type ConfigLists } from '../replay/report.js';
import { READ_AHEAD_KB_MAX } from '../vfs/tunables.js';
import { optionText, parseWholeNumber } from './args.js';

interface ReplayArgs {
  input: string;
  trace?: string;
  kernel: string;
  'ra-policy': string;
  'read-ahead-kb': string;
  device: string;
  iodepth: string;
  seed: string;
  json: boolean;
  chart?: string;
}

/** A comma list: every item non-empty, no duplicates. */
function list(name: string, raw: unknown): string[] {
  const items = optionText(name, raw).split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`bad ${name} '${String(raw)}': an empty item in the list`);
  if (new Set(items).size !== items.length) throw new UsageError(`bad ${name} '${String(raw)}': an item is given twice`);
  return items;
}

function oneOf<T extends string>(name: string, items: string[], allowed: readonly T[]): T[] {
  return items.map((s) => {
    const v = allowed.find((a) => a === s);
    if (v === undefined) throw new UsageError(`bad ${name} '${s}': expected ${allowed.join(', ')}`);
    return v;
  });
}

/** What the command line asks for: the lists whose cross product is run. */
export type ParsedReplayArgs = ConfigLists;

export function parseReplayArgs(a: Omit<ReplayArgs, 'input' | 'trace' | 'json' | 'chart'>): ParsedReplayArgs {
  return {
    kernels: oneOf('--kernel', list('--kernel', a.kernel), KERNEL_VERSIONS),
    raPolicies: oneOf('--ra-policy', list('--ra-policy', a['ra-policy']), RA_POLICIES),
    readAheadKbs: list('--read-ahead-kb', a['read-ahead-kb']).map((s) => parseWholeNumber('--read-ahead-kb', s, { min: 0, max: READ_AHEAD_KB_MAX })),
    devices: list('--device', a.device).map(loadProfile),
    iodepth: parseWholeNumber('--iodepth', a.iodepth, { min: 1, max: 1024 }),
    seed: parseWholeNumber('--seed', a.seed, { min: 0, max: 2 ** 32 - 1 }),
  };
}

async function readTraceFile(path: string): Promise<string> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) throw new UsageError(`${path}: no such file`);
  if (!st.isFile()) throw new UsageError(`${path}: not a regular file`);
  return readFile(path, 'utf8');
}

export function replayCommand(y: Argv): Argv {
  return y.command(
    'replay <input>',
    'replay the reads of a trace in-process over a simulated device, per configuration (comma lists: every combination)',
    (c) =>
      c
        .positional('input', { type: 'string', demandOption: true, describe: 'fio iolog v2/v3, an aheadfs trace with read lines, or blkparse text' })
        .option('kernel', { type: 'string', default: '6.18', requiresArg: true, describe: 'read loop and readahead: 4.18, 6.18 (comma list)' })
        .option('ra-policy', { type: 'string', default: 'ondemand', requiresArg: true, describe: `readahead policy: ${RA_POLICIES.join(', ')} (comma list)` })
        .option('read-ahead-kb', { type: 'string', default: '128', requiresArg: true, describe: 'read_ahead_kb (comma list)' })
        .option('device', { type: 'string', default: 'ssd', requiresArg: true, describe: 'simulated device: ssd, nvme, hdd, nbd-2ms or a profile .json (comma list)' })
        .option('iodepth', { type: 'string', default: '1', requiresArg: true, describe: 'reads outstanding at once' })
        .option('seed', { type: 'string', default: '1', requiresArg: true, describe: 'seed of the device model (jitter, rotation)' })
        .option('json', { type: 'boolean', default: false, describe: 'print one JSON object per configuration instead of the table' })
        .option('trace', { type: 'string', requiresArg: true, describe: 'write the trace lines of every run (a mount\'s, with read lines; t= in simulated µs) to FILE' })
        .option('chart', { type: 'string', requiresArg: true, describe: 'write windows.svg/.png and figures.svg/.png to this directory' }),
    async (argv) => {
      const cfg = parseReplayArgs(argv);
      const traceOut = argv.trace === undefined ? undefined : optionText('--trace', argv.trace);
      const chartDir = argv.chart === undefined ? undefined : optionText('--chart', argv.chart);
      const trace = parseTrace(await readTraceFile(argv.input));
      const fd = traceOut === undefined ? undefined : openSync(traceOut, 'w');
      const results: ReplayResult[] = [];
      try {
        let pending: string[] = [];
        const flush = (): void => {
          if (fd !== undefined && pending.length > 0) writeSync(fd, pending.join('\n') + '\n');
          pending = [];
        };
        for (const config of crossProduct(cfg)) {
          if (fd !== undefined) pending.push(`# replay ${configLabel({ ...config, device: config.device.name })} seed=${config.seed}`);
          const sink =
            fd === undefined
              ? undefined
              : (line: string): void => {
                  pending.push(line);
                  if (pending.length >= 65536) flush();
                };
          results.push(await runReplay(trace, config, { traceSink: sink, collectWindows: chartDir !== undefined }));
          flush();
        }
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      if (argv.json) process.stdout.write(jsonResults(results));
      else {
        process.stdout.write(`${argv.input}: ${trace.format}, ${trace.count} reads of ${trace.files.length} file(s)${trace.skipped ? `, ${trace.skipped} other lines skipped` : ''}\n`);
        process.stdout.write(formatTable(results));
      }
      if (chartDir !== undefined) {
        const files = [
          ...(await writeChart(chartDir, 'windows', windowsSpec(results, argv.input))),
          ...(await writeChart(chartDir, 'figures', figuresSpec(results.map((result) => ({ result })), argv.input))),
        ];
        if (!argv.json) process.stdout.write(`charts: ${files.join(' ')}\n`);
      }
    },
  );
}
