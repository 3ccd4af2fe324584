/**
 * `aheadfs mkfs <store> [--size 1G] [--block-file-size 64M] [--force]`
 */

import type { Argv } from 'yargs';
import { mkfs, type MkfsOptions } from '../fs/mkfs.js';
import { formatSize, parseSize } from './size.js';
import { DEFAULT_BLOCK_FILE_SIZE, DEFAULT_STORE_SIZE } from './store.js';

export async function runMkfs(store: string, options: MkfsOptions): Promise<{ uuid?: string }> {
  return mkfs(store, options);
}

/** Progress on a terminal only: `mkfs: 12/16 block files`. */
export function progressPrinter(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    if (typeof done !== 'number' || typeof total !== 'number') return;
    process.stderr.write(`\rmkfs: ${done}/${total}`);
    if (done >= total) process.stderr.write('\r\x1b[K');
  };
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
      const sb = await runMkfs(argv.store, { sizeBytes, blockFileSize, force: argv.force, onProgress: progressPrinter() });
      const files = Math.ceil(sizeBytes / blockFileSize);
      process.stdout.write(
        `created store ${argv.store}: ${formatSize(sizeBytes)} in ${files} block file${files === 1 ? '' : 's'} of ${formatSize(blockFileSize)}` +
          (sb.uuid ? `, uuid ${sb.uuid}` : '') +
          '\n',
      );
    },
  );
}

