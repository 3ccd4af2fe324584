/**
 * Reading a mount's `.aheadfs/` control files from the command line: one place that
 * turns "this directory is not an aheadfs mount" into a usage error (exit 2).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { parseSeconds } from './args.js';

/** Longest sampling interval accepted (a day, as iostat's), for iostat and stats --watch. */
export const MAX_INTERVAL_SECONDS = 86400;

/** Seconds between samples: a number > 0, at most a day; UsageError otherwise (one line). */
export function checkInterval(what: string, raw: unknown): number {
  return parseSeconds(what, raw, { max: MAX_INTERVAL_SECONDS });
}

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
