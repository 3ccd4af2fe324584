/**
 * Reading a mount's `.aheadfs/` control files from the command line: one place that
 * turns "this directory is not an aheadfs mount" into a usage error (exit 2).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

/** The text of `<mountpoint>/.aheadfs/<name>`; UsageError when it is not a mounted aheadfs. */
export async function readControlFile(mountpoint: string, name: string): Promise<string> {
  const path = join(mountpoint, '.aheadfs', name);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`${mountpoint} is not a mounted aheadfs (no .aheadfs/${name})`);
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}
