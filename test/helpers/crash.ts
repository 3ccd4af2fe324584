/**
 * Crashing a mount on purpose, and checking a store with `aheadfs fsck`.
 *
 *   killDaemon(mnt): pid from <mnt>/.aheadfs/pid -> SIGKILL -> wait until it is gone ->
 *                    fusermount -uz <mnt> (the dead mount answers ENOTCONN) -> not mounted
 *
 * withMount's cleanup (test/helpers/mount.ts) still runs afterwards and finds nothing to do;
 * if a test fails between the kill and the remount it clears the dead mount itself.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { aheadfs, sh, type CliResult } from './cli.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The daemon's pid as the mount itself serves it. */
export async function mountPid(mnt: string): Promise<number> {
  const pid = Number.parseInt((await readFile(join(mnt, '.aheadfs', 'pid'), 'utf8')).trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${mnt}/.aheadfs/pid holds no pid`);
  return pid;
}

/** SIGKILL the daemon serving `mnt` (its pid read beforehand), then clear the dead mount. */
export async function killDaemon(pid: number, mnt: string): Promise<void> {
  process.kill(pid, 'SIGKILL');
  for (let i = 0; pidAlive(pid); i++) {
    if (i > 500) throw new Error(`daemon ${pid} still alive 5 s after SIGKILL`);
    await sleep(10);
  }
  if (await findMount(mnt)) await sh(`fusermount -uz ${JSON.stringify(mnt)}`);
  if (await findMount(mnt)) throw new Error(`${mnt} is still mounted after fusermount -uz`);
}

/** `aheadfs fsck <store>` (read-only; exit 0 = clean, 1 = problems, 2 = refused). */
export function fsck(store: string): Promise<CliResult> {
  return aheadfs(['fsck', store], { timeoutMs: 120_000 });
}

/** A one-line account of an fsck run for assertion messages. */
export function describeFsck(r: CliResult): string {
  return `aheadfs fsck exit ${r.code}: ${(r.stdout + r.stderr).trim()}`;
}
