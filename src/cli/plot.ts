/**
 * `aheadfs plot <mountpoint|trace-file> -o FILE.svg|FILE.png [--ino N] [--x time|read]
 * [--windows N] [--from B] [--to B]`: a chart of one file's readahead windows and reads
 * (src/plot/chart.ts), from a mount's `.aheadfs/trace` or from a saved copy of it
 * (`cp mnt/.aheadfs/trace t.txt`). --from/--to bound time, read number or pages (range.ts).
 */

import { readControlFile } from './control.js';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Argv } from 'yargs';
import { parseWholeNumber } from './args.js';
import { UsageError } from '../errors.js';
import { PLOT_MAX_WINDOWS } from '../plot/defaults.js';
import { parseTrace } from '../plot/parse.js';
import { chartRange, parseRangeBound, type ChartRange } from '../plot/range.js';

/** The trace text of a mountpoint (its `.aheadfs/trace`) or of a trace file. */
export async function readTraceSource(source: string): Promise<string> {
  const st = await stat(source).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new UsageError(`${source}: no such file or directory`);
    throw new Error(`cannot read ${source}: ${err.message}`);
  });
  if (st.isDirectory()) return readControlFile(source, 'trace');
  return readFile(source, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${source}: ${err.message}`);
  });
}

export interface PlotRequest {
  source: string;
  output: string;
  ino?: number;
  x?: 'time' | 'read';
  maxWindows?: number;
  range?: ChartRange;
}

/** Render the chart to `output` (.svg or .png). Returns what was charted. */
export async function plotTrace(req: PlotRequest): Promise<{ ino: number; windows: number; reads: number }> {
  const ext = extname(req.output).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') throw new UsageError(`-o must name a .svg or .png file, got ${JSON.stringify(req.output)}`);
  // vega is loaded only here: importing it at start-up would slow every aheadfs command.
  const { chartData, chartSpec, renderSvg, svgToPng } = await import('../plot/chart.js');
  const data = chartData(parseTrace(await readTraceSource(req.source)), { ino: req.ino, x: req.x, maxWindows: req.maxWindows, range: req.range });
  const svg = await renderSvg(chartSpec(data, { subtitle: `from ${req.source}` }));
  await writeFile(req.output, ext === '.svg' ? svg : svgToPng(svg));
  return { ino: data.ino, windows: data.windows.length, reads: data.reads.length };
}

export function plotCommand(y: Argv): Argv {
  return y.command(
    'plot <source>',
    'chart one file\'s readahead windows and reads from a trace (a mountpoint or a saved trace file)',
    (c) =>
      c
        .positional('source', { type: 'string', demandOption: true, describe: 'mountpoint, or a file holding a copy of .aheadfs/trace' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, requiresArg: true, describe: 'FILE.svg or FILE.png' })
        .option('ino', { type: 'string', requiresArg: true, describe: 'inode to chart (default: the one with the most ra lines)' })
        .option('x', { choices: ['time', 'read'] as const, default: 'time' as const, describe: 'across: µs from the first line, or read number' })
        .option('windows', { type: 'string', default: String(PLOT_MAX_WINDOWS), requiresArg: true, describe: 'chart the first N windows (0: all)' })
        .option('from', { type: 'string', requiresArg: true, describe: 'start here: N on the x axis, a time (500us, 2ms, 1.5s) or a page (page:N)' })
        .option('to', { type: 'string', requiresArg: true, describe: 'end before here (same forms as --from)' }),
    async (argv) => {
      const ino = argv.ino === undefined ? undefined : parseWholeNumber('--ino', argv.ino, { min: 1, max: Number.MAX_SAFE_INTEGER });
      const maxWindows = parseWholeNumber('--windows', argv.windows, { min: 0, max: Number.MAX_SAFE_INTEGER });
      const from = argv.from === undefined ? undefined : parseRangeBound('--from', argv.from);
      const to = argv.to === undefined ? undefined : parseRangeBound('--to', argv.to);
      const range = chartRange(from, to);
      const r = await plotTrace({ source: argv.source, output: argv.output, ino, x: argv.x, maxWindows, range });
      process.stdout.write(`${argv.output}: inode ${r.ino}, ${r.windows} readahead windows, ${r.reads} reads\n`);
    },
  );
}
