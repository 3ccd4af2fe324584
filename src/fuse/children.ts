/**
 * What this process's child processes are doing, read from /proc: for the daemon's log
 * when an unmount helper (fuse-native runs `sh -c 'fusermount -uz MNT'` and waits for it
 * to exit) does not come back. One line per process, the children's children included:
 *
 *   pid 812 (sh) S wchan do_wait; pid 813 (fusermount) D wchan fuse_wait_aborted [stack: ...]
 *
 * The kernel stack (/proc/<pid>/stack) is readable by root only; without it the state and
 * wchan still say where the process sleeps. Never throws: a process gone meanwhile is skipped.
 */

import { readdir, readFile } from 'node:fs/promises';

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
}

/** /proc/<pid>/stat: "pid (comm) S ppid ..."; comm may hold spaces and parentheses. */
function parseStat(pid: number, stat: string): ProcInfo | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const rest = stat.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  if (rest[0] === undefined || !Number.isInteger(ppid)) return undefined;
  return { pid, ppid, comm, state: rest[0] };
}

async function readProc(pid: number, file: string): Promise<string | undefined> {
  return readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => undefined);
}

async function describe(p: ProcInfo): Promise<string> {
  const wchan = (await readProc(p.pid, 'wchan'))?.trim();
  const stack = (await readProc(p.pid, 'stack'))
    ?.split('\n')
    .map((l) => l.replace(/^\[<[0-9a-f]+>\]\s*/, '').trim())
    .filter((l) => l !== '')
    .slice(0, 12);
  let line = `pid ${p.pid} (${p.comm}) ${p.state}`;
  if (wchan !== undefined && wchan !== '' && wchan !== '0') line += ` wchan ${wchan}`;
  if (stack !== undefined && stack.length > 0) line += ` [stack: ${stack.join(' < ')}]`;
  return line;
}

/** Every descendant of `pid` (children first, then theirs), described; '' when there is none. */
export async function describeDescendants(pid: number): Promise<string> {
  const all: ProcInfo[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readProc(Number(entry), 'stat');
    const info = stat === undefined ? undefined : parseStat(Number(entry), stat);
    if (info) all.push(info);
  }
  const out: ProcInfo[] = [];
  let parents = new Set([pid]);
  while (parents.size > 0) {
    const next = all.filter((p) => parents.has(p.ppid) && !out.includes(p));
    out.push(...next);
    parents = new Set(next.map((p) => p.pid));
  }
  return (await Promise.all(out.map(describe))).join('; ');
}
