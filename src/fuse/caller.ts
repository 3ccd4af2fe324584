/**
 * The caller of a FUSE request as the vfs needs it (src/vfs/identity.ts): uid and gid from
 * fuse_get_context() (fuse-native as patched), and the supplementary groups, which FUSE
 * does not carry: read from /proc/<pid>/status only when a rule asks (as libfuse's
 * fuse_getgroups does).
 */

import { readFileSync } from 'node:fs';
import type Fuse from 'fuse-native';
import type { Caller } from '../vfs/types.js';

/** The `Groups:` line of /proc/<pid>/status; [] when the process is gone. */
export function supplementaryGroups(pid: number): number[] {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return [];
  }
  const line = /^Groups:(.*)$/m.exec(status)?.[1] ?? '';
  return line
    .trim()
    .split(/\s+/)
    .filter((g) => g !== '')
    .map(Number);
}

/** A Caller from the live context object (copied: fuse-native reuses it for the next request). */
export function callerOf(ctx: Fuse.Context): Caller {
  const { uid, gid, pid } = ctx;
  let groups: number[] | undefined;
  return { uid, gid, groups: () => (groups ??= supplementaryGroups(pid)) };
}
