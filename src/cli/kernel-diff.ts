/**
 * `aheadfs kernel-diff [--pattern P | --iolog FILE] [--read-ahead-kb N] [--max-sectors-kb N]
 *                      [--model] [--kernel-out FILE] [--context N]`
 *
 * Runs an access pattern on the running kernel (the oracle: src/kerneldiff/kernel.ts) and
 * on our side — a fresh aheadfs mount, or with `--model` the 6.18 readahead module over an
 * in-memory page cache — and prints both readahead event lists side by side and the first
 * difference. Exit 0 when identical, 1 when they differ (or an operation failed), 2 on bad
 * input or when the machine cannot be an oracle (not root, no tracefs, no loop devices).
 *
 * `--kernel-out FILE` also saves the kernel's list (normalised, with the settings in a
 * comment), the format of test/fixtures/kernel-6.18/.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { parseWholeNumber } from './args.js';
import { runPatternOnAheadfs } from '../kerneldiff/aheadfs-side.js';
import { diffEvents, formatFixture, normalise } from '../kerneldiff/events.js';
import { checkKernelOracle, runPatternOnKernel } from '../kerneldiff/kernel.js';
import { runPatternOnModel } from '../kerneldiff/model.js';
import { parseIolog, presetPattern, PRESET_NAMES, type Pattern } from '../kerneldiff/patterns.js';

interface KernelDiffArgs {
  pattern?: string;
  iolog?: string;
  'file-size'?: string;
  'read-ahead-kb': string;
  'max-sectors-kb': string;
  model: boolean;
  'kernel-out'?: string;
  context?: string;
}

/** The pattern the arguments name; UsageError when they name none, both, or a bad one. */
/** The largest read FUSE (libfuse 2, protocol 7.19) passes to the daemon in one request. */
const FUSE_MAX_READ = 128 * 1024;

export function patternFromArgs(a: Pick<KernelDiffArgs, 'pattern' | 'iolog' | 'file-size'>): Pattern {
  if (a.pattern !== undefined && a.iolog !== undefined) throw new UsageError('give --pattern or --iolog, not both');
  if (a.iolog !== undefined) {
    let text: string;
    try {
      text = readFileSync(a.iolog, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --iolog ${a.iolog}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const fileSize = a['file-size'] === undefined ? undefined : parseWholeNumber('--file-size', a['file-size'], { min: 1, max: 64 * 1024 * 1024 });
    return parseIolog(text, { name: a.iolog, ...(fileSize === undefined ? {} : { fileSize }) });
  }
  return presetPattern(a.pattern ?? 'seq4k');
}

export function kernelDiffCommand(cli: Argv): Argv {
  return cli.command(
    'kernel-diff',
    'run a read pattern on the running kernel (tracefs) and on aheadfs, and diff their readahead decisions',
    (y) =>
      y
        .option('pattern', { type: 'string', describe: `a preset: ${PRESET_NAMES.join(', ')}, or mixed:SEED (a seeded random mix; default seq4k)` })
        .option('iolog', { type: 'string', describe: 'a fio iolog v2 file (its read lines)' })
        .option('file-size', { type: 'string', requiresArg: true, describe: 'with --iolog: size in bytes of every file (default: its furthest read)' })
        .option('read-ahead-kb', { type: 'string', requiresArg: true, default: '128', describe: 'queue/read_ahead_kb on both sides' })
        .option('max-sectors-kb', { type: 'string', requiresArg: true, default: '128', describe: 'queue/max_sectors_kb on both sides' })
        .option('model', { type: 'boolean', default: false, describe: 'our side is the 6.18 readahead module over an in-memory page cache, not a mount' })
        .option('kernel-out', { type: 'string', describe: "also save the kernel's event list to this file" })
        .option('context', { type: 'string', requiresArg: true, describe: 'print only this many events around the first difference' }),
    async (argv) => {
      const a = argv as unknown as KernelDiffArgs;
      const pattern = patternFromArgs(a);
      const queue = {
        readAheadKb: parseWholeNumber('--read-ahead-kb', a['read-ahead-kb'], { min: 0, max: 65536 }),
        maxSectorsKb: parseWholeNumber('--max-sectors-kb', a['max-sectors-kb'], { min: 4, max: 65536 }),
      };
      const context = a.context === undefined ? undefined : parseWholeNumber('--context', a.context, { min: 0, max: 1_000_000 });
      if (queue.readAheadKb % 4 !== 0) throw new UsageError(`bad --read-ahead-kb '${queue.readAheadKb}': must be a multiple of 4`);
      checkKernelOracle();
      const kernel = runPatternOnKernel(pattern, queue);
      const left = normalise(kernel.events);
      if (a['kernel-out']) {
        writeFileSync(a['kernel-out'], formatFixture({ pattern: pattern.name, readAheadKb: queue.readAheadKb, maxSectorsKb: queue.maxSectorsKb, kernel: kernel.kernel }, left));
      }
      const ours = a.model ? runPatternOnModel(pattern, queue) : runPatternOnAheadfs(pattern, queue);
      const right = normalise(ours.events);
      const label = a.model ? 'model 6.18' : 'aheadfs';
      process.stdout.write(
        `pattern ${pattern.name}: ${pattern.ops.length} reads; read_ahead_kb=${queue.readAheadKb} max_sectors_kb=${queue.maxSectorsKb}; kernel ${kernel.kernel}\n`,
      );
      const d = diffEvents(left, right, { left: `kernel ${kernel.kernel}`, right: label }, context === undefined ? {} : { context });
      process.stdout.write(d.text + '\n');
      if (!a.model && d.firstDiff !== undefined && pattern.ops.some((op) => op.length > FUSE_MAX_READ)) {
        // libfuse 2 (FUSE 7.19) caps a read at 128 KiB: the kernel's FUSE client splits a
        // larger pread before aheadfs sees it, so req_count differs from the first such read.
        process.stdout.write(`note: the pattern has reads over ${FUSE_MAX_READ >> 10} KiB; FUSE hands them to aheadfs in ${FUSE_MAX_READ >> 10} KiB pieces (req_count differs); --model checks them\n`);
      }
      if (d.firstDiff !== undefined) process.exitCode = 1;
    },
  );
}
