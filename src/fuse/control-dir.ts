/**
 * The `.aheadfs/` control directory as seen through FUSE: path resolution, attributes,
 * and handles, on top of the `ControlFiles` the vfs provides (which knows the content).
 *
 *   /.aheadfs              directory, not listed by readdir('/')
 *   /.aheadfs/<name>       regular file; size = length of its content right now
 *   /.aheadfs/tunables/    directory
 *   /.aheadfs/tunables/iosched/  directory while the scheduler has tunables (not with none)
 *   /.aheadfs/fail_make_request/, /.aheadfs/delay/  directories of fault-injection knobs
 *   /.aheadfs/pid          the daemon's pid (served here: `aheadfs umount` reads it)
 *
 * Reads serve a snapshot taken at open, so `cat` sees one consistent text even when the
 * counters move under it. A per-reader file (ControlFiles.openSession: stats_interval)
 * takes a new snapshot at each read at offset 0 of the same handle (pread(fd, 0) again:
 * the next interval), the rest of the text from that snapshot. Writes are applied at once, one write(2) = one
 * `control.write(name, text)`, so that `echo 300 > tunables/read_ahead_kb` gets EINVAL
 * back from write(2) (a shell does not report errors from close).
 *
 * Control handles live at CONTROL_FH_BASE and above, apart from vfs handles, which are
 * smaller (they must stay below it; fuse-native carries handles as int32, 0 = none).
 */

import { fsError } from '../errors.js';
import type Fuse from 'fuse-native';
import type { ControlFiles, ControlSession } from './contract.js';

export const CONTROL_DIR = '/.aheadfs';
export const CONTROL_FH_BASE = 0x40000000;
const CONTROL_FH_LIMIT = 0x7fffffff;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** The files ControlFiles does not serve. */
const LOCAL_FILES = ['pid'];

/**
 * Which control files take writes. ControlFiles has no such query; these are the names
 * the README documents as writable (the mode bits only matter to non-root users).
 */
function isWritable(name: string): boolean {
  return (
    name.startsWith('tunables/') || name.startsWith('fail_make_request/') || name.startsWith('delay/') || name === 'drop_caches' || name === 'sync' || name === 'trace'
  );
}

interface ControlHandle {
  name: string;
  snapshot: Buffer;
  /** Set for a per-reader file: closed at release. */
  session: ControlSession | undefined;
}

export function isControlPath(path: string): boolean {
  return path === CONTROL_DIR || path.startsWith(CONTROL_DIR + '/');
}

export function isControlFh(fh: number): boolean {
  return fh >= CONTROL_FH_BASE;
}

/**
 * Inode numbers of control files (the mount reports ours, use_ino): from the top of the
 * 32-bit range fuse-native passes, far above the store's own (one per 4 KiB block: a store
 * would need 16 TiB to reach them). Distinct, so no tool takes two control files for one.
 */
const CONTROL_INO_BASE = 0xfff00000;

export class ControlDir {
  private readonly handles = new Map<number, ControlHandle>();
  /** The inode number of each control path, given at its first getattr. */
  private readonly inos = new Map<string, number>();
  private nextFh = CONTROL_FH_BASE;
  private readonly mountedMs = Date.now();

  constructor(
    private readonly files: ControlFiles,
    private readonly pid: number,
  ) {}

  /** '/.aheadfs/tunables/x' -> 'tunables/x'; '/.aheadfs' -> ''. */
  nameOf(path: string): string {
    return path === CONTROL_DIR ? '' : path.slice(CONTROL_DIR.length + 1);
  }

  private isDir(name: string): boolean {
    return name === '' || this.files.isDir(name);
  }

  private content(name: string): string {
    if (name === 'pid') return `${this.pid}\n`;
    return this.files.read(name);
  }

  getattr(path: string): Fuse.Stat {
    const name = this.nameOf(path);
    const now = Date.now();
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    let ino = this.inos.get(name);
    if (this.isDir(name)) {
      if (ino === undefined) this.inos.set(name, (ino = CONTROL_INO_BASE + this.inos.size));
      return { ino, mode: S_IFDIR | 0o555, uid, gid, size: 0, nlink: 2, atime: now, mtime: this.mountedMs, ctime: this.mountedMs };
    }
    const size = Buffer.byteLength(this.content(name));
    if (ino === undefined) this.inos.set(name, (ino = CONTROL_INO_BASE + this.inos.size));
    const mode = S_IFREG | (isWritable(name) ? 0o644 : 0o444);
    return { ino, mode, uid, gid, size, nlink: 1, blksize: 4096, blocks: Math.ceil(size / 512), atime: now, mtime: now, ctime: this.mountedMs };
  }

  readdir(path: string): string[] {
    const name = this.nameOf(path);
    if (!this.isDir(name)) throw fsError('ENOTDIR', path);
    const names = this.files.list(name);
    return name === '' ? [...names, ...LOCAL_FILES] : names;
  }

  open(path: string): number {
    const name = this.nameOf(path);
    if (this.isDir(name)) throw fsError('EISDIR', path);
    const session = this.files.openSession?.(name);
    const snapshot = Buffer.from(session ? session.read() : this.content(name));
    if (this.nextFh >= CONTROL_FH_LIMIT) this.nextFh = CONTROL_FH_BASE;
    while (this.handles.has(this.nextFh)) this.nextFh++;
    const fh = this.nextFh++;
    this.handles.set(fh, { name, snapshot, session });
    return fh;
  }

  read(fh: number, buf: Buffer, len: number, pos: number): number {
    const h = this.handle(fh);
    if (pos === 0 && h.session) h.snapshot = Buffer.from(h.session.read());
    if (pos >= h.snapshot.length) return 0;
    return h.snapshot.copy(buf, 0, pos, Math.min(h.snapshot.length, pos + len));
  }

  /** Bytes taken; a Promise for a write that finishes later (`sync`). */
  write(fh: number, buf: Buffer, len: number): number | Promise<number> {
    const h = this.handle(fh);
    if (LOCAL_FILES.includes(h.name)) throw fsError('EACCES', h.name);
    const done = this.files.write(h.name, buf.toString('utf8', 0, len));
    return done === undefined ? len : done.then(() => len);
  }

  release(fh: number): void {
    this.handles.get(fh)?.session?.close();
    this.handles.delete(fh);
  }

  /** Truncation (the O_TRUNC of `echo x > file`) means nothing for a control file. */
  truncate(path: string): void {
    const name = this.nameOf(path);
    if (this.isDir(name)) throw fsError('EISDIR', path);
    this.content(name); // ENOENT for an unknown name
  }

  private handle(fh: number): ControlHandle {
    const h = this.handles.get(fh);
    if (!h) throw fsError('EBADF', `control handle ${fh}`);
    return h;
  }
}
