/**
 * Reading a mount's `.aheadfs/` control files from the command line: one place that
 * turns "this directory is not an aheadfs mount" into a usage error (exit 2).
 */

import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { parseSeconds } from './args.js';

/** Longest sampling interval accepted (a day, as iostat's), for iostat and stats --watch. */
export const MAX_INTERVAL_SECONDS = 86400;

/** Seconds between samples: a number > 0, at most a day; UsageError otherwise (one line). */
export function checkInterval(what: string, raw: unknown): number {
  return parseSeconds(what, raw, { max: MAX_INTERVAL_SECONDS });
}

/** Bytes asked for per read of a control file (the content is small; EOF ends the loop). */
const CONTROL_READ_CHUNK = 65536;

/**
 * All of `path`, read to EOF. Not readFile: it stops at the st_size it saw, and a control
 * file's size may be taken from an attribute cached before the snapshot of its open.
 */
async function readToEof(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const parts: Buffer[] = [];
    for (;;) {
      const buf = Buffer.alloc(CONTROL_READ_CHUNK);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      parts.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(parts).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** The text of `<mountpoint>/.aheadfs/<name>`; UsageError when it is not a mounted aheadfs. */
export async function readControlFile(mountpoint: string, name: string): Promise<string> {
  const path = join(mountpoint, '.aheadfs', name);
  try {
    return await readToEof(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`${mountpoint} is not a mounted aheadfs (no .aheadfs/${name})`);
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}
