/**
 * Who keeps a mount busy, as umount(8) would refuse it (EBUSY) and `fuser -m` lists:
 * processes with a file open on it, their working directory or root inside it, or a file
 * of it mapped; and mounts stacked below it.
 *
 * Read from /proc only, never from the mount itself (a hung daemon must not hang us):
 *   /proc/<pid>/fdinfo/<fd>   mnt_id: the mount the open file is on
 *   /proc/<pid>/cwd, root     readlink: a path at or under the mountpoint
 *   /proc/<pid>/maps          the device (major:minor, hex) of each mapped file
 *
 * `aheadfs umount` asks this before it stops the daemon: libfuse unmounts lazily
 * (MNT_DETACH), which the kernel never refuses, so the check umount(2) would make is made here.
 */

import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { listMounts, type MountEntry } from '../fuse/mounts.js';

export interface MountUser {
  pid: number;
  /** The process name (/proc/<pid>/comm). */
  comm: string;
  /** What it holds: `3 open files`, `cwd`, `root`, `mapped files`. */
  holds: string[];
}

export interface BusyReport {
  users: MountUser[];
  /** Mountpoints of mounts below this one. */
  submounts: string[];
}

const under = (path: string, mnt: string): boolean => path === mnt || path.startsWith(mnt.endsWith('/') ? mnt : mnt + '/');

/** "0:45" (mountinfo, decimal) and "00:2d" (maps, hex) name the same device. */
function mapsDev(hex: string): string {
  const [maj, min] = hex.split(':');
  return `${parseInt(maj ?? '', 16)}:${parseInt(min ?? '', 16)}`;
}

async function holdsOf(pid: string, m: MountEntry): Promise<string[]> {
  const holds: string[] = [];
  let open = 0;
  const fds = await readdir(`/proc/${pid}/fdinfo`).catch(() => [] as string[]);
  for (const fd of fds) {
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
    if (Number(/^mnt_id:\s*(\d+)/m.exec(info)?.[1]) === m.id) open++;
  }
  if (open > 0) holds.push(open === 1 ? '1 open file' : `${open} open files`);
  for (const link of ['cwd', 'root'] as const) {
    const target = await readlink(`/proc/${pid}/${link}`).catch(() => undefined);
    // The root of most processes is '/', which is under no mountpoint but '/'.
    if (target !== undefined && under(target, m.mountpoint) && !(link === 'root' && target === '/' && m.mountpoint !== '/')) holds.push(link);
  }
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
  // address perms offset dev inode path
  if (maps.split('\n').some((l) => l.split(/\s+/)[4] !== '0' && mapsDev(l.split(/\s+/)[3] ?? '0:0') === m.dev)) holds.push('mapped files');
  return holds;
}

/** What keeps `m` busy (empty lists: nothing; umount(2) would succeed). Our own process is left out. */
export async function mountUsers(m: MountEntry): Promise<BusyReport> {
  const users: MountUser[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const holds = await holdsOf(pid, m);
    if (holds.length === 0) continue;
    const comm = (await readFile(join('/proc', pid, 'comm'), 'utf8').catch(() => '?')).trim();
    users.push({ pid: Number(pid), comm, holds });
  }
  const submounts = (await listMounts()).filter((o) => o.mountpoint !== m.mountpoint && under(o.mountpoint, m.mountpoint)).map((o) => o.mountpoint);
  return { users, submounts };
}

/** One line for the refusal: `pid 812 (bash): cwd; pid 901 (dd): 1 open file`. */
export function describeUsers(r: BusyReport): string {
  const parts = r.users.map((u) => `pid ${u.pid} (${u.comm}): ${u.holds.join(', ')}`);
  if (r.submounts.length) parts.push(`mounted below it: ${r.submounts.join(', ')}`);
  return parts.join('; ');
}
