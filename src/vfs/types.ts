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

export interface Caller {
  uid: number;
  gid: number;
}

export type ReadCallback = (err: FsError | undefined, bytes: number) => void;

export interface Vfs {
  getattr(path: string): Promise<Attr>;
  fgetattr(fh: number): Promise<Attr>;
  readdir(path: string): Promise<string[]>;
  access(path: string, mode: number): Promise<void>;
  statfs(): Promise<StatFs>;

  /** Create (or open, if it exists and `flags` lacks O_EXCL) a regular file; returns a handle. */
  create(path: string, mode: number, flags: number, caller: Caller): Promise<number>;
  mknod(path: string, mode: number, caller: Caller): Promise<void>;
  open(path: string, flags: number): Promise<number>;
  /**
   * Read into `buf[0..len)` from byte `pos`. Callback style so that the cached path runs
   * without a single await: `done` may be called before `read` returns.
   */
  read(fh: number, buf: Uint8Array, len: number, pos: number, done: ReadCallback): void;
  write(fh: number, buf: Uint8Array, len: number, pos: number): Promise<number>;
  flush(fh: number): Promise<void>;
  fsync(fh: number, datasync: boolean): Promise<void>;
  release(fh: number): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  ftruncate(fh: number, size: number): Promise<void>;

  unlink(path: string): Promise<void>;
  mkdir(path: string, mode: number, caller: Caller): Promise<void>;
  rmdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  symlink(target: string, path: string, caller: Caller): Promise<void>;
  readlink(path: string): Promise<string>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  utimens(path: string, atimeMs: number, mtimeMs: number): Promise<void>;

  /** Write back everything, flush the device, commit metadata, close the store. */
  shutdown(): Promise<void>;
}
