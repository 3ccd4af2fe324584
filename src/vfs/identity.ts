/**
 * POSIX identity: who owns a new inode, and which set-id bits a change drops. The rules
 * are Linux's (6.x, fs/inode.c and fs/attr.c); the kernel (with default_permissions) has
 * already decided that the caller may do the operation, and applied the umask. What is
 * left to the filesystem, and so to us:
 *
 *   inode_init_owner   a new inode belongs to the caller's fsuid; its group is the
 *                      caller's fsgid, or the parent's group when the parent directory is
 *                      setgid, and a new directory there is setgid too
 *   setattr_should_drop_suidgid
 *                      a write or truncate by a caller without CAP_FSETID drops S_ISUID,
 *                      and S_ISGID when group-exec is set or the caller is not in the
 *                      file's group
 *   setattr_copy       a chmod by a caller without CAP_FSETID who is not in the file's
 *                      group cannot set S_ISGID
 *
 * CAP_FSETID is taken to be uid 0 (FUSE tells us the uid, not the capabilities).
 * Dropping the bits on chown is the kernel's own (fuse_setattr sends the new mode with the
 * chown when libfuse does not handle killpriv), and so are the umask and
 * mode_strip_sgid for a new file (vfs_prepare_mode).
 */

import { S_IFDIR, S_IFMT, S_IFREG, S_ISGID, S_ISUID, S_IXGRP, type Inode } from '../fs/inode.js';
import type { Caller } from './types.js';

/** The daemon itself (root): tests and internal calls that act for no one in particular. */
export const ROOT_CALLER: Caller = { uid: 0, gid: 0 };

/** capable(CAP_FSETID), approximated by uid 0. */
const hasFsetid = (c: Caller): boolean => c.uid === 0;

/** in_group_or_capable (fs/inode.c): the caller is in group `gid` or has CAP_FSETID. */
export function inGroupOrCapable(c: Caller, gid: number): boolean {
  if (c.gid === gid || hasFsetid(c)) return true;
  return c.groups?.().includes(gid) ?? false;
}

/** inode_init_owner (fs/inode.c, Linux 6.x): uid, gid and mode of a new inode in `dir`. */
export function inodeInitOwner(c: Caller, dir: Inode, mode: number): { uid: number; gid: number; mode: number } {
  if ((dir.mode & S_ISGID) === 0) return { uid: c.uid, gid: c.gid, mode };
  return { uid: c.uid, gid: dir.gid, mode: (mode & S_IFMT) === S_IFDIR ? mode | S_ISGID : mode };
}

/**
 * setattr_should_drop_suidgid (fs/attr.c, Linux 6.x): the mode of a regular file after a
 * write or truncate by `c`, or undefined when nothing is dropped.
 */
export function modeAfterWrite(c: Caller, inode: Inode): number | undefined {
  const mode = inode.mode;
  if ((mode & S_IFMT) !== S_IFREG || (mode & (S_ISUID | S_ISGID)) === 0 || hasFsetid(c)) return undefined;
  let kill = mode & S_ISUID;
  if (mode & S_ISGID && (mode & S_IXGRP || !inGroupOrCapable(c, inode.gid))) kill |= S_ISGID;
  return kill === 0 ? undefined : mode & ~kill;
}

/** setattr_copy's ATTR_MODE rule (fs/attr.c): S_ISGID stays only for a member of the file's group. */
export function modeForChmod(c: Caller, inode: Inode, mode: number): number {
  return mode & S_ISGID && !inGroupOrCapable(c, inode.gid) ? mode & ~S_ISGID : mode;
}
