/**
 * `aheadfs mkfs <store> [--size 1G] [--block-file-size 64M] [--force]`
 */

import cliProgress from 'cli-progress';
import type { Argv } from 'yargs';
import { mkfs, type MkfsOptions } from '../fs/mkfs.js';
import { formatSize, parseSize } from './size.js';
import { DEFAULT_BLOCK_FILE_SIZE, DEFAULT_STORE_SIZE } from './store.js';

export async function runMkfs(store: string, options: MkfsOptions): Promise<{ uuid?: string }> {
  return mkfs(store, options);
}

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

/** The progress callback alone (for callers that run mkfs as one step, e.g. mount's default store). */
export function progressPrinter(): ((doneBytes: number, totalBytes: number) => void) | undefined {
  return mkfsProgress()?.onProgress;
}

export function mkfsCommand(y: Argv): Argv {
  return y.command(
    'mkfs <store>',
    'create a store of block files',
    (c) =>
      c
        .positional('store', { type: 'string', demandOption: true, describe: 'directory of the new store' })
        .option('size', { type: 'string', default: '1G', describe: 'device size (K/M/G/T suffixes)' })
        .option('block-file-size', { type: 'string', default: '64M', describe: 'size of each block file' })
        .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing store' }),
    async (argv) => {
      const sizeBytes = parseSize(argv.size, '--size');
      const blockFileSize = parseSize(argv['block-file-size'], '--block-file-size');
      const progress = mkfsProgress();
      let sb: { uuid?: string };
      try {
        sb = await runMkfs(argv.store, { sizeBytes, blockFileSize, force: argv.force, onProgress: progress?.onProgress });
      } finally {
        progress?.stop();
      }
      const files = Math.ceil(sizeBytes / blockFileSize);
      process.stdout.write(
        `created store ${argv.store}: ${formatSize(sizeBytes)} in ${files} block file${files === 1 ? '' : 's'} of ${formatSize(blockFileSize)}` +
          (sb.uuid ? `, uuid ${sb.uuid}` : '') +
          '\n',
      );
    },
  );
}

