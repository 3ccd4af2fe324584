/**
 * What the kernel says is mounted (/proc/self/mountinfo), and whether a process runs.
 * (The store lock is src/fs/store-lock.ts.)
 */

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
  /** The mount id (mountinfo's first field; /proc/<pid>/fdinfo/<fd> says `mnt_id:`). */
  id: number;
  /** st_dev of the filesystem, as major:minor in decimal. */
  dev: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function listMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const [left, right] = line.split(' - ');
    const l = left?.split(' ');
    const r = right?.split(' ');
    if (!l || !r || l.length < 5 || r.length < 2) continue;
    out.push({ mountpoint: unescapeMount(l[4]!), fstype: r[0]!, source: unescapeMount(r[1]!), id: Number(l[0]), dev: l[2]! });
  }
  return out;
}

export async function findMount(path: string): Promise<MountEntry | undefined> {
  const abs = resolve(path);
  const mounts = await listMounts();
  // The last entry wins when mounts are stacked.
  return mounts.filter((m) => m.mountpoint === abs).at(-1);
}

export function isAheadfsMount(m: MountEntry): boolean {
  return m.fstype === 'fuse.aheadfs';
}

/**
 * True if a process with this pid runs (EPERM: it exists, owned by someone else). A zombie
 * (killed, not yet reaped by its parent) counts as dead: it holds nothing any more.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
