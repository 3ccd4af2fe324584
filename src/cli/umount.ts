/**
 * `aheadfs umount <mountpoint> [--timeout 60]`
 *
 * Finds the daemon (its pid is served at <mnt>/.aheadfs/pid; if the mount no longer
 * answers, by its command line in /proc), sends SIGTERM (the daemon unmounts, flushes and
 * exits), and waits for both the process and the mount to be gone. A dead mount whose
 * daemon is gone (ENOTCONN) is cleared with `fusermount -uz`.
 */

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { findMount, isAheadfsMount, pidAlive } from '../fuse/mounts.js';

const PID_READ_TIMEOUT_MS = 5000;
const POLL_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Read <mnt>/.aheadfs/pid, giving up after a while (a hung daemon would block the read forever). */
async function pidFromMount(mnt: string): Promise<number | undefined> {
  const read = readFile(join(mnt, '.aheadfs', 'pid'), 'utf8').then(
    (t) => Number.parseInt(t.trim(), 10),
    () => undefined,
  );
  const timeout = sleep(PID_READ_TIMEOUT_MS).then(() => undefined);
  const pid = await Promise.race([read, timeout]);
  return pid !== undefined && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** A daemon whose command line is `... aheadfs.js mount <store> <mnt> --foreground ...`. */
async function pidFromProc(mnt: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmd.split('\0');
    const i = args.findIndex((a) => a.endsWith('aheadfs.js'));
    if (i >= 0 && args[i + 1] === 'mount' && args.includes('--foreground') && args[i + 3] !== undefined && resolve(args[i + 3]!) === mnt) {
      return Number(entry);
    }
  }
  return undefined;
}

export async function unmount(mountpoint: string, timeoutMs: number): Promise<string> {
  const mnt = resolve(mountpoint);
  const m = await findMount(mnt);
  if (!m) throw new UsageError(`${mnt} is not mounted`);
  if (!isAheadfsMount(m)) throw new UsageError(`${mnt} is not an aheadfs mount (it is ${m.fstype})`);

  const pid = (await pidFromMount(mnt)) ?? (await pidFromProc(mnt));
  if (pid !== undefined && pidAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (pidAlive(pid) || (await findMount(mnt))) {
      if (Date.now() > deadline) {
        throw new Error(
          pidAlive(pid)
            ? `the daemon (pid ${pid}) has not exited after ${timeoutMs / 1000} s; see its store's aheadfs.log (kill -9 ${pid} and fusermount -uz ${mnt} to force)`
            : `the daemon exited but ${mnt} is still mounted`,
        );
      }
      await sleep(POLL_MS);
    }
    return `unmounted ${mnt} (daemon pid ${pid} exited)`;
  }
  // No daemon: a dead mount (ENOTCONN). Detach it.
  await promisify(execFile)('fusermount', ['-uz', mnt]);
  return `unmounted ${mnt} (its daemon was gone; cleared the dead mount)`;
}

export function umountCommand(y: Argv): Argv {
  return y.command(
    'umount <mountpoint>',
    'flush, unmount and stop the daemon; waits for it to exit',
    (c) =>
      c
        .positional('mountpoint', { type: 'string', demandOption: true })
        .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait for the daemon' }),
    async (argv) => {
      if (!Number.isFinite(argv.timeout) || argv.timeout <= 0) throw new UsageError(`bad --timeout '${argv.timeout}': expected seconds > 0`);
      process.stdout.write((await unmount(argv.mountpoint, argv.timeout * 1000)) + '\n');
    },
  );
}
