/**
 * What the kernel says is mounted (/proc/self/mountinfo), and the store lock.
 */

import { readFileSync } from 'node:fs';
import { readFile, open, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
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
    out.push({ mountpoint: unescapeMount(l[4]!), fstype: r[0]!, source: unescapeMount(r[1]!) });
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

export type LockState = { state: 'free' } | { state: 'held'; pid: number } | { state: 'stale'; pid: number | undefined };

export async function readLock(lockPath: string): Promise<LockState> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'free' };
    throw err;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return { state: 'stale', pid: undefined };
  if (pid !== process.pid && pidAlive(pid)) return { state: 'held', pid };
  return { state: 'stale', pid };
}

/**
 * Take `<store>/lock` for this process: create it exclusively with our pid. A lock whose
 * pid is dead (kill -9, crash) is stale: it is removed and taken, and `onStale` is told.
 * Throws an Error naming the holder if a live process has it.
 */
export async function acquireLock(lockPath: string, onStale: (pid: number | undefined) => void): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(lockPath, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await readLock(lockPath);
    if (st.state === 'held') throw new Error(`store ${dirname(lockPath)} is already mounted (daemon pid ${st.pid})`);
    if (st.state === 'stale') {
      onStale(st.pid);
      await unlink(lockPath).catch(() => undefined);
    }
  }
  throw new Error(`could not take the lock ${lockPath}`);
}

/** Remove the lock if it is still ours. */
export async function releaseLock(lockPath: string): Promise<void> {
  const st = await readFile(lockPath, 'utf8').catch(() => '');
  if (Number.parseInt(st.trim(), 10) === process.pid) await unlink(lockPath).catch(() => undefined);
}
