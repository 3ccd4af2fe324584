/**
 * Inodes and names: the constants of the namespace, the inode record, and the checks on
 * a name that every namespace operation makes first (so that a refused operation has
 * changed nothing).
 *
 *   mode = S_IFMT type bits | 0o7777 permission bits
 *   ino 1 is the root directory; inode numbers are never reused (nextIno only grows).
 */

import { fsError } from '../errors.js';
import { BLOCK_SIZE } from './superblock.js';

export const ROOT_INO = 1;
/** Longest name in a directory, in bytes (Linux NAME_MAX). */
export const NAME_MAX = 255;
/** Longest symlink target, in bytes (Linux PATH_MAX). */
export const PATH_MAX = 4096;
/** Largest file: 2^50 bytes (1 PiB) keeps block numbers exact in a double. */
export const MAX_FILE_SIZE = 2 ** 50;
/** st_size of a directory, as ext4 shows it. */
export const DIR_SIZE = BLOCK_SIZE;

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFSOCK = 0o140000;
export const PERM_MASK = 0o7777;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_IXGRP = 0o0010;

/** An inode as the rest of aheadfs sees it: the live object, do not change it. */
export interface Inode {
  readonly ino: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** i_size in bytes. */
  readonly size: number;
  readonly nlink: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /** Symlinks only. */
  readonly target?: string;
  /** Character and block devices only: the device number (st_rdev, Linux encoding). */
  readonly rdev?: number;
}

/** The writable inode the store keeps in memory. */
export type InodeState = { -readonly [K in keyof Inode]: Inode[K] };

export const isDir = (i: Inode): boolean => (i.mode & S_IFMT) === S_IFDIR;
export const isReg = (i: Inode): boolean => (i.mode & S_IFMT) === S_IFREG;
export const isLnk = (i: Inode): boolean => (i.mode & S_IFMT) === S_IFLNK;
/** The types mknod(2) makes: a regular file, FIFO, socket, character or block device. */
export const isMknodType = (type: number): boolean => [S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK].includes(type);
/** Types that carry a device number. */
export const isDevice = (type: number): boolean => type === S_IFCHR || type === S_IFBLK;

/** Bytes of `name` in UTF-8, computed only when it could exceed NAME_MAX. */
function tooLong(name: string): boolean {
  return name.length * 3 > NAME_MAX && Buffer.byteLength(name, 'utf8') > NAME_MAX;
}

/**
 * Check a name about to be created. '.' and '..' always exist (EEXIST); '/' or NUL in a
 * name is EINVAL; more than NAME_MAX bytes is ENAMETOOLONG; '' is ENOENT (as for open("")).
 */
export function checkNewName(name: string): void {
  if (name.length === 0) throw fsError('ENOENT', 'empty name');
  if (tooLong(name)) throw fsError('ENAMETOOLONG', `${name.slice(0, 32)}... is longer than ${NAME_MAX} bytes`);
  if (name === '.' || name === '..') throw fsError('EEXIST', name);
  if (name.includes('/') || name.includes('\0')) throw fsError('EINVAL', `bad name ${JSON.stringify(name)}`);
}

/** Check a name looked up in a directory (ENAMETOOLONG only; a bad name just is not there). */
export function checkLookupName(name: string): void {
  if (tooLong(name)) throw fsError('ENAMETOOLONG', `${name.slice(0, 32)}... is longer than ${NAME_MAX} bytes`);
}

/**
 * A new file size: EFBIG past the largest file (also 2^53 and beyond, which a JS number
 * cannot hold exactly: inode_newsize_ok's -EFBIG), EINVAL for a negative or fractional one.
 */
export function checkSize(size: number, what: string): void {
  if (size > MAX_FILE_SIZE) throw fsError('EFBIG', `${what}: ${size} is larger than the largest file (${MAX_FILE_SIZE} bytes)`);
  if (!Number.isSafeInteger(size) || size < 0) throw fsError('EINVAL', `${what}: bad size ${size}`);
}
