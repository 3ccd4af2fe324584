/**
 * `aheadfs mkfs <store> [--size 1G] [--block-file-size 64M] [--force]`
 * `aheadfs mkfs <store> --device nbd://HOST[:PORT][/EXPORT] [--size N] [--force]`
 *   (the data on an NBD export; the size defaults to the export's)
 */

import cliProgress from 'cli-progress';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { mkfs, mkfsNbd, type MkfsOptions } from '../fs/mkfs.js';
import type { FilesSuperblock } from '../fs/superblock.js';
import { optionText } from './args.js';
import { formatSize, parseSize } from './size.js';

export interface MkfsProgress {
  onProgress: (doneBytes: number, totalBytes: number) => void;
  /** Take the bar off the terminal (after success or failure). */
  stop(): void;
}

/**
 * A progress bar of the preallocation, one step per block file, on stderr when it is a
 * terminal; undefined (quiet) otherwise, so scripts and logs see only the result line:
 *
 *   mkfs [██████████░░░░░░░░░░] 50% | 512 MiB/1 GiB preallocated
 */
export function mkfsProgress(stream: NodeJS.WriteStream = process.stderr): MkfsProgress | undefined {
  if (!stream.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'mkfs [{bar}] {percentage}% | {done}/{all} preallocated',
      clearOnComplete: true,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let state: 'idle' | 'running' | 'stopped' = 'idle';
  const stop = (): void => {
    if (state === 'running') bar.stop();
    state = 'stopped';
  };
  return {
    onProgress(done, total) {
      if (state === 'stopped') return;
      const payload = { done: formatSize(done), all: formatSize(total) };
      if (state === 'idle') {
        bar.start(total, done, payload);
        state = 'running';
      } else bar.update(done, payload);
      if (done >= total) stop(); // the last block file: clear the bar before the result line
    },
    stop,
  };
}

/** mkfs with the progress bar on a terminal, taken off again also when mkfs fails. */
export async function mkfsWithProgress(store: string, options: Omit<MkfsOptions, 'onProgress'>): Promise<FilesSuperblock> {
  const progress = mkfsProgress();
  try {
    return await mkfs(store, { ...options, onProgress: progress?.onProgress });
  } finally {
    progress?.stop();
  }
}

export function mkfsCommand(y: Argv): Argv {
  return y.command(
    'mkfs <store>',
    'create a store of block files, or on an NBD export (--device)',
    (c) =>
      c
        .positional('store', { type: 'string', demandOption: true, describe: 'directory of the new store' })
        .option('size', { type: 'string', requiresArg: true, describe: 'device size (K/M/G/T suffixes); default 1G, or the NBD export\'s size' })
        .option('block-file-size', { type: 'string', requiresArg: true, describe: 'size of each block file (default 64M; not with --device)' })
        .option('device', { type: 'string', requiresArg: true, describe: 'nbd://HOST[:PORT][/EXPORT]: keep the data on this NBD export' })
        .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing store' }),
    async (argv) => {
      if (argv.device !== undefined) {
        if (argv['block-file-size'] !== undefined) throw new UsageError('--block-file-size is for block files, not with --device');
        const url = optionText('--device', argv.device);
        const size = argv.size === undefined ? undefined : parseSize(optionText('--size', argv.size), '--size');
        const sb = await mkfsNbd(argv.store, { url, sizeBytes: size, force: argv.force });
        process.stdout.write(`created store ${argv.store}: ${formatSize(sb.sizeBytes)} on ${url}, uuid ${sb.uuid}\n`);
        return;
      }
      const sizeBytes = parseSize(optionText('--size', argv.size ?? '1G'), '--size');
      const blockFileSize = parseSize(optionText('--block-file-size', argv['block-file-size'] ?? '64M'), '--block-file-size');
      const sb = await mkfsWithProgress(argv.store, { sizeBytes, blockFileSize, force: argv.force });
      const files = sb.blockFileCount;
      process.stdout.write(`created store ${argv.store}: ${formatSize(sizeBytes)} in ${files} block file${files === 1 ? '' : 's'} of ${formatSize(blockFileSize)}, uuid ${sb.uuid}\n`);
    },
  );
}

