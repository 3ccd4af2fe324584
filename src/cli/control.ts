/**
 * Reading a mount's `.aheadfs/` control files from the command line: one place that
 * turns "this directory is not an aheadfs mount" into a usage error (exit 2).
 */

import { open, type FileHandle } from 'node:fs/promises';
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
 * All of an open control file, from offset 0 to EOF (pread: for a per-reader file such as
 * stats_interval, the read at offset 0 takes the handle's next snapshot). Not readFile:
 * it stops at the st_size it saw, and a control file's size may be taken from an
 * attribute cached before the snapshot of its open.
 */
async function readFromStart(fh: FileHandle): Promise<string> {
  const parts: Buffer[] = [];
  for (let pos = 0; ; ) {
    const buf = Buffer.alloc(CONTROL_READ_CHUNK);
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    parts.push(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return Buffer.concat(parts).toString('utf8');
}

async function readToEof(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    return await readFromStart(fh);
  } finally {
    await fh.close();
  }
}

function notMounted(mountpoint: string, name: string, path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new UsageError(`${mountpoint} is not a mounted aheadfs (no .aheadfs/${name})`);
  return new Error(`cannot read ${path}: ${(err as Error).message}`);
}

/** An open control file read again from its start by each `read()` (stats_interval: one interval per read). */
export interface ControlReader {
  read(): Promise<string>;
  close(): Promise<void>;
}

/** Open `<mountpoint>/.aheadfs/<name>` for repeated reads; UsageError when it is not a mounted aheadfs. */
export async function openControlFile(mountpoint: string, name: string): Promise<ControlReader> {
  const path = join(mountpoint, '.aheadfs', name);
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw notMounted(mountpoint, name, path, err);
  });
  return { read: () => readFromStart(fh), close: () => fh.close() };
}

/** The text of `<mountpoint>/.aheadfs/<name>`; UsageError when it is not a mounted aheadfs. */
export async function readControlFile(mountpoint: string, name: string): Promise<string> {
  const path = join(mountpoint, '.aheadfs', name);
  try {
    return await readToEof(path);
  } catch (err) {
    throw notMounted(mountpoint, name, path, err);
  }
}
