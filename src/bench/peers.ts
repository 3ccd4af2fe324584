/**
 * The bench's two peers, what a user would otherwise run (issue 14):
 *
 *   bindfs  the Debian package (scripts/setup.sh installs it): a C FUSE passthrough over a
 *           plain directory on the same disk as the stores. It is not direct_io, so the
 *           kernel answers from its own page cache and runs FUSE readahead itself, with
 *           the window of the FUSE connection's bdi (/sys/class/bdi/<major:minor>/
 *           read_ahead_kb), which the bench sets to aheadfs' read_ahead_kb.
 *   kernel  fio reading that same directory directly: the kernel's buffered read path
 *           over the disk's filesystem, with the disk's own read_ahead_kb.
 *
 * Both are cold after `echo 3 > /proc/sys/vm/drop_caches` (the whole machine's page cache:
 * bindfs' FUSE pages and the directory's pages alike).
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findMount } from '../fuse/mounts.js';

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim().slice(0, 300)}`));
      else res(stdout);
    });
  });
}

/**
 * The `major:minor` of the filesystem mounted at `mnt` (field 3 of /proc/self/mountinfo;
 * the last entry wins when mounts are stacked), i.e. the name of its bdi in
 * /sys/class/bdi. Undefined when nothing is mounted there.
 */
export function bdiOfMount(mountinfo: string, mnt: string): string | undefined {
  let found: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const point = f[4]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === mnt && /^\d+:\d+$/.test(f[2]!)) found = f[2];
  }
  return found;
}

export const bdiReadAheadPath = (bdi: string): string => `/sys/class/bdi/${bdi}/read_ahead_kb`;

export async function readReadAheadKb(bdi: string): Promise<number> {
  return Number((await readFile(bdiReadAheadPath(bdi), 'utf8')).trim());
}

export async function setReadAheadKb(bdi: string, kb: number): Promise<void> {
  await writeFile(bdiReadAheadPath(bdi), `${kb}\n`);
  const now = await readReadAheadKb(bdi);
  if (now !== kb) throw new Error(`${bdiReadAheadPath(bdi)} is ${now} after writing ${kb}`);
}

/**
 * The read_ahead_kb the kernel uses for files under `dir`: the bdi of its block device
 * (a partition's window is its disk's queue/read_ahead_kb, which the bdi mirrors).
 */
export async function diskReadAheadKb(dir: string): Promise<{ bdi: string; kb: number }> {
  const dev = (await stat(dir)).dev;
  // glibc's dev_t encoding.
  const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
  let bdi = `${major}:${minor}`;
  try {
    await readReadAheadKb(bdi);
  } catch {
    // A partition has no bdi of its own: its disk's (the sysfs parent of the partition).
    // No /sys/dev/block entry at all (tmpfs, overlay): readlink fails, and so does the read.
    const real = await run('readlink', ['-f', `/sys/dev/block/${bdi}/..`]).catch(() => undefined);
    const disk = real === undefined ? undefined : await readFile(join(real.trim(), 'dev'), 'utf8').catch(() => undefined);
    if (disk === undefined) throw new Error(`${dir} is not on a block device (no bdi ${bdi}); set AHEADFS_BENCH_TMP to a directory on a disk`);
    bdi = disk.trim();
  }
  return { bdi, kb: await readReadAheadKb(bdi) };
}

/** Cold caches for bindfs and kernel: the whole machine's clean page cache, dentries and inodes. */
export const dropKernelCaches = (): Promise<void> => writeFile('/proc/sys/vm/drop_caches', '3\n');

export interface BindfsMount {
  mnt: string;
  /** The FUSE connection's bdi (major:minor). */
  bdi: string;
  /** bindfs itself (run in the foreground, our child): its CPU time, and stopped last. */
  child: ChildProcess;
}

/**
 * Mount `src` on `mnt` with bindfs (in the foreground, as our child, so that its pid is
 * known) and set its FUSE readahead window. On failure nothing is left mounted.
 */
export async function mountBindfs(src: string, mnt: string, readAheadKb: number): Promise<BindfsMount> {
  const child = spawn('bindfs', ['-f', src, mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    let bdi: string | undefined;
    for (let i = 0; i < 200 && bdi === undefined; i++) {
      if (child.exitCode !== null) throw new Error(`bindfs ${src} ${mnt} exited (${child.exitCode}): ${stderr.trim().slice(0, 300)}`);
      bdi = bdiOfMount(await readFile('/proc/self/mountinfo', 'utf8'), mnt);
      if (bdi === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    if (bdi === undefined) throw new Error(`bindfs: nothing mounted on ${mnt} after 10 s`);
    await setReadAheadKb(bdi, readAheadKb);
    return { mnt, bdi, child };
  } catch (err) {
    await unmountBindfs(mnt, child).catch(() => undefined);
    throw err;
  }
}

/**
 * Unmount a bindfs mount (lazily when busy; quiet when it is already gone), then wait for
 * its process to exit (SIGKILL after 10 s).
 */
export async function unmountBindfs(mnt: string, child?: ChildProcess): Promise<void> {
  if (await findMount(mnt)) await run('fusermount', ['-u', mnt]).catch(() => run('fusermount', ['-uz', mnt]));
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
