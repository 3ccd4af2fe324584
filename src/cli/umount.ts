/**
 * `aheadfs umount <mountpoint> [--timeout 60] [--lazy]`
 *
 * A busy mount (a process with a file open on it, its cwd or root inside, a file of it
 * mapped, or a mount below it: busy.ts) is refused, exit 1, as umount(8) refuses it with
 * "target is busy", naming who holds it; nothing is stopped. `--lazy` unmounts anyway, as
 * `umount -l` detaches: the daemon flushes and exits, and those processes then get
 * ENOTCONN from what they still hold.
 *
 * Finds the daemon (by its command line in /proc: `... aheadfs.js mount <store> <mnt>
 * --foreground ...`), sends SIGTERM (the daemon unmounts, flushes and exits), and waits
 * for both the process and the mount to be gone. A dead mount whose daemon is gone
 * (ENOTCONN) is cleared with `fusermount -uz`.
 *
 * This process never reads or stats anything under the mountpoint itself: a stopped or
 * hung daemon would block that syscall in a libuv thread, and node cannot exit while one
 * is stuck (the old `.aheadfs/pid` read hung `umount --timeout` forever). A daemon not
 * found in /proc (started some other way) is asked for its pid by a child process that
 * is killed if the mount does not answer. After the timeout the mount is left alone and
 * the message says how to clear it.
 */

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { findMount, isAheadfsMount, pidAlive } from '../fuse/mounts.js';
import { parseSeconds } from './args.js';
import { describeUsers, mountUsers } from './busy.js';

const PID_READ_TIMEOUT_MS = 5000;
const POLL_MS = 100;
/** Longest --timeout accepted (a day). */
const MAX_TIMEOUT_SECONDS = 86400;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `<mnt>/.aheadfs/pid`, read by a child `cat` that gets SIGKILL after a while (a FUSE
 * request wait is killable), so that a hung daemon never blocks this process.
 */
function pidFromMount(mnt: string): Promise<number | undefined> {
  return new Promise((res) => {
    execFile('cat', [join(mnt, '.aheadfs', 'pid')], { timeout: PID_READ_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout) => {
      const pid = err ? undefined : Number.parseInt(stdout.trim(), 10);
      res(pid !== undefined && Number.isInteger(pid) && pid > 0 ? pid : undefined);
    });
  });
}

/** The process state letter from /proc/<pid>/stat (R, S, D, T for stopped, ...). */
async function procState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
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

export interface UnmountOptions {
  timeoutMs: number;
  /** Unmount even when busy (umount -l). */
  lazy: boolean;
}

export async function unmount(mountpoint: string, { timeoutMs, lazy }: UnmountOptions): Promise<string> {
  const mnt = resolve(mountpoint);
  const m = await findMount(mnt);
  if (!m) throw new UsageError(`${mnt} is not mounted`);
  if (!isAheadfsMount(m)) throw new UsageError(`${mnt} is not an aheadfs mount (it is ${m.fstype})`);

  const pid = (await pidFromProc(mnt)) ?? (await pidFromMount(mnt));
  if (pid !== undefined && pidAlive(pid)) {
    if (!lazy) {
      const busy = await mountUsers(m);
      if (busy.users.length > 0 || busy.submounts.length > 0) {
        throw new Error(`${mnt}: target is busy (${describeUsers(busy)}); close those, or unmount anyway with --lazy`);
      }
    }
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (pidAlive(pid) || (await findMount(mnt))) {
      if (Date.now() > deadline) {
        if (!pidAlive(pid)) throw new Error(`the daemon exited but ${mnt} is still mounted; clear it with: umount -l ${mnt} (or fusermount -uz ${mnt})`);
        const stopped = (await procState(pid)) === 'T' ? ` (it is stopped: kill -CONT ${pid} lets it finish)` : '';
        throw new Error(
          `the daemon (pid ${pid}) has not exited after ${timeoutMs / 1000} s${stopped}; see its store's aheadfs.log. ` +
            `The mount was left alone; to force: umount -l ${mnt} (or fusermount -uz ${mnt}), then kill -9 ${pid}`,
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
        .option('timeout', { type: 'string', default: '60', requiresArg: true, describe: 'seconds to wait for the daemon' })
        .option('lazy', { alias: 'l', type: 'boolean', default: false, describe: 'unmount even when busy (open files, a cwd inside), like umount -l; what they hold then fails with ENOTCONN' }),
    async (argv) => {
      const timeout = parseSeconds('--timeout', argv.timeout, { max: MAX_TIMEOUT_SECONDS });
      process.stdout.write((await unmount(argv.mountpoint, { timeoutMs: timeout * 1000, lazy: argv.lazy })) + '\n');
    },
  );
}
