/**
 * The vfs interface the FUSE adapter (src/fuse) calls. Paths are absolute within the
 * mount ("/", "/a/b"). Every method rejects (or calls back) with an FsError; src/fuse maps
 * its code to an errno. Nothing here knows about FUSE.
 */

import type { FsError } from '../errors.js';

export interface Attr {
  ino: number;
  mode: number; // S_IFREG | 0644 etc.
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** 512-byte blocks allocated. */
  blocks: number;
  blksize: number;
  /** Device number of a character or block device (0 otherwise). */
  rdev: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

export interface DirEntry {
  name: string;
  ino: number;
  /** The type bits are what matters (d_type). */
  mode: number;
}

/** The process a request comes from (FUSE's context): it owns what it creates. */
export interface Caller {
  uid: number;
  gid: number;
  /** Its supplementary groups, read only when a rule needs them. */
  groups?: () => readonly number[];
}

/** A time for utimens: ms since the epoch (a fraction to the microsecond), now, or left alone. */
export type TimeSpec = number | 'now' | 'omit';

export type ReadCallback = (err: FsError | undefined, bytes: number) => void;

export interface Vfs {
  getattr(path: string): Promise<Attr>;
  fgetattr(fh: number): Promise<Attr>;
  /** The entries of a directory, '.' and '..' first, with what readdir's d_ino and d_type need. */
  readdir(path: string): Promise<DirEntry[]>;
  access(path: string, mode: number): Promise<void>;
  statfs(): Promise<StatFs>;

  /** Create (or open, if it exists and `flags` lacks O_EXCL) a regular file; returns a handle. */
  create(path: string, mode: number, flags: number, caller: Caller): Promise<number>;
  /** A regular file, FIFO, socket or device (`rdev`) node; the type is in `mode`. */
  mknod(path: string, mode: number, rdev: number, caller: Caller): Promise<void>;
  /** O_TRUNC truncates as `caller` (set-id bits, as for truncate). */
  open(path: string, flags: number, caller?: Caller): Promise<number>;
  /**
   * Read into `buf[0..len)` from byte `pos`. Callback style so that the cached path runs
   * without a single await: `done` may be called before `read` returns. `pid`: the
   * reader's, for the trace (0: unknown).
   */
  read(fh: number, buf: Uint8Array, len: number, pos: number, done: ReadCallback, pid?: number): void;
  /** A write by a caller without CAP_FSETID drops the file's set-id bits (identity.ts). */
  write(fh: number, buf: Uint8Array, len: number, pos: number, caller?: Caller): Promise<number>;
  flush(fh: number): Promise<void>;
  fsync(fh: number, datasync: boolean): Promise<void>;
  release(fh: number): Promise<void>;
  truncate(path: string, size: number, caller?: Caller): Promise<void>;
  ftruncate(fh: number, size: number, caller?: Caller): Promise<void>;

  unlink(path: string): Promise<void>;
  /**
   * Unlink `path` if it is an open file, keeping `alias` (a path no directory lists) as a
   * way to reach it until its last release; false (nothing changed) if it is not open.
   */
  hide(path: string, alias: string): Promise<boolean>;
  mkdir(path: string, mode: number, caller: Caller): Promise<void>;
  rmdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  symlink(target: string, path: string, caller: Caller): Promise<void>;
  readlink(path: string): Promise<string>;
  chmod(path: string, mode: number, caller?: Caller): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** 'omit' leaves that time, 'now' sets it to the current time (utimensat's UTIME_*). */
  utimens(path: string, atime: TimeSpec, mtime: TimeSpec): Promise<void>;

  /** Write back everything, flush the device, commit metadata, close the store. */
  shutdown(): Promise<void>;
}
