/**
 * A small in-memory `Vfs` and `ControlFiles` for testing the FUSE adapter and the daemon
 * lifecycle without the real filesystem below (test/e2e/adapter.test.ts). Plain POSIX
 * semantics for what the tests touch; no persistence.
 */

import { constants } from 'node:fs';
import { fsError } from '../../src/errors.js';
import { Stats } from '../../src/stats/registry.js';
import { Kmsg } from '../../src/stats/kmsg.js';
import { Trace } from '../../src/stats/trace.js';
import type { Attr, Caller, DirEntry, ReadCallback, StatFs, TimeSpec, Vfs } from '../../src/vfs/types.js';
import type { ControlFiles, MountedFs } from '../../src/fuse/contract.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

interface Node {
  attr: Attr;
  data: Buffer;
  children?: Map<string, Node>;
  target?: string;
}

let nextIno = 1;

function node(mode: number, c: Caller): Node {
  const now = Date.now();
  const isDir = (mode & S_IFMT) === S_IFDIR;
  return {
    attr: { ino: nextIno++, mode, nlink: isDir ? 2 : 1, uid: c.uid, gid: c.gid, size: 0, blocks: 0, blksize: 4096, rdev: 0, atimeMs: now, mtimeMs: now, ctimeMs: now },
    data: Buffer.alloc(0),
    ...(isDir ? { children: new Map<string, Node>() } : {}),
  };
}

export class MemVfs implements Vfs {
  readonly root = node(S_IFDIR | 0o755, { uid: 0, gid: 0 });
  private readonly files = new Map<number, Node>();
  private nextFh = 1;
  constructor(private readonly stats: Stats) {}

  private split(path: string): string[] {
    return path.split('/').filter(Boolean);
  }
  private lookup(path: string): Node {
    let n = this.root;
    for (const part of this.split(path)) {
      if (!n.children) throw fsError('ENOTDIR', path);
      const c = n.children.get(part);
      if (!c) throw fsError('ENOENT', path);
      n = c;
    }
    return n;
  }
  private parent(path: string): { dir: Node; name: string } {
    const parts = this.split(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EINVAL', path);
    if (name.length > 255) throw fsError('ENAMETOOLONG', path);
    const dir = this.lookup('/' + parts.join('/'));
    if (!dir.children) throw fsError('ENOTDIR', path);
    return { dir, name };
  }
  private fh(fh: number): Node {
    const n = this.files.get(fh);
    if (!n) throw fsError('EBADF', String(fh));
    return n;
  }
  private add(path: string, n: Node): void {
    const { dir, name } = this.parent(path);
    if (dir.children!.has(name)) throw fsError('EEXIST', path);
    dir.children!.set(name, n);
    if (n.children) dir.attr.nlink++;
  }

  async getattr(path: string): Promise<Attr> {
    return { ...this.lookup(path).attr };
  }
  async fgetattr(fh: number): Promise<Attr> {
    return { ...this.fh(fh).attr };
  }
  async readdir(path: string): Promise<DirEntry[]> {
    const n = this.lookup(path);
    if (!n.children) throw fsError('ENOTDIR', path);
    const e = (name: string, c: Node): DirEntry => ({ name, ino: c.attr.ino, mode: c.attr.mode });
    return [e('.', n), e('..', n), ...[...n.children].map(([name, c]) => e(name, c))];
  }
  async access(path: string): Promise<void> {
    this.lookup(path);
  }
  async statfs(): Promise<StatFs> {
    return { bsize: 4096, frsize: 4096, blocks: 65536, bfree: 65536, bavail: 65536, files: 1000, ffree: 1000, favail: 1000, namemax: 255 };
  }
  async create(path: string, mode: number, flags: number, caller: Caller): Promise<number> {
    let n: Node;
    try {
      n = this.lookup(path);
      if (flags & constants.O_EXCL) throw fsError('EEXIST', path);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
      n = node(S_IFREG | (mode & 0o7777), caller);
      this.add(path, n);
    }
    const fh = this.nextFh++;
    this.files.set(fh, n);
    return fh;
  }
  async mknod(path: string, mode: number, _rdev: number, caller: Caller): Promise<void> {
    if ((mode & S_IFMT) !== S_IFREG && (mode & S_IFMT) !== 0) throw fsError('EPERM', path);
    this.add(path, node(S_IFREG | (mode & 0o7777), caller));
  }
  async open(path: string): Promise<number> {
    const n = this.lookup(path);
    if (n.children) throw fsError('EISDIR', path);
    const fh = this.nextFh++;
    this.files.set(fh, n);
    return fh;
  }
  read(fh: number, buf: Uint8Array, len: number, pos: number, done: ReadCallback): void {
    const n = this.files.get(fh);
    if (!n) return done(fsError('EBADF'), 0);
    const end = Math.min(n.data.length, pos + len);
    const got = pos < end ? n.data.copy(buf, 0, pos, end) : 0;
    this.stats.c.read_calls++;
    this.stats.c.read_bytes += got;
    done(undefined, got);
  }
  async write(fh: number, buf: Uint8Array, len: number, pos: number): Promise<number> {
    const n = this.fh(fh);
    if (pos + len > n.data.length) {
      const grown = Buffer.alloc(pos + len);
      n.data.copy(grown);
      n.data = grown;
    }
    Buffer.from(buf.buffer, buf.byteOffset, len).copy(n.data, pos);
    n.attr.size = n.data.length;
    n.attr.blocks = Math.ceil(n.data.length / 512);
    n.attr.mtimeMs = Date.now();
    this.stats.c.write_calls++;
    this.stats.c.write_bytes += len;
    return len;
  }
  async flush(): Promise<void> {}
  async fsync(): Promise<void> {}
  async release(fh: number): Promise<void> {
    this.files.delete(fh);
  }
  private resize(n: Node, size: number): void {
    const d = Buffer.alloc(size);
    n.data.copy(d, 0, 0, Math.min(size, n.data.length));
    n.data = d;
    n.attr.size = size;
  }
  async truncate(path: string, size: number): Promise<void> {
    const n = this.lookup(path);
    if (n.children) throw fsError('EISDIR', path);
    this.resize(n, size);
  }
  async ftruncate(fh: number, size: number): Promise<void> {
    this.resize(this.fh(fh), size);
  }
  async hide(): Promise<boolean> {
    return false; // no open counts here: the adapter renames as usual
  }
  async unlink(path: string): Promise<void> {
    const { dir, name } = this.parent(path);
    const n = dir.children!.get(name);
    if (!n) throw fsError('ENOENT', path);
    if (n.children) throw fsError('EISDIR', path);
    dir.children!.delete(name);
    n.attr.nlink--;
  }
  async mkdir(path: string, mode: number, caller: Caller): Promise<void> {
    this.add(path, node(S_IFDIR | (mode & 0o7777), caller));
  }
  async rmdir(path: string): Promise<void> {
    const { dir, name } = this.parent(path);
    const n = dir.children!.get(name);
    if (!n) throw fsError('ENOENT', path);
    if (!n.children) throw fsError('ENOTDIR', path);
    if (n.children.size) throw fsError('ENOTEMPTY', path);
    dir.children!.delete(name);
    dir.attr.nlink--;
  }
  async rename(from: string, to: string): Promise<void> {
    const a = this.parent(from);
    const n = a.dir.children!.get(a.name);
    if (!n) throw fsError('ENOENT', from);
    const b = this.parent(to);
    const old = b.dir.children!.get(b.name);
    if (old?.children && !n.children) throw fsError('EISDIR', to);
    if (old && !old.children && n.children) throw fsError('ENOTDIR', to);
    if (old?.children?.size) throw fsError('ENOTEMPTY', to);
    a.dir.children!.delete(a.name);
    b.dir.children!.set(b.name, n);
  }
  async link(existing: string, newPath: string): Promise<void> {
    const n = this.lookup(existing);
    if (n.children) throw fsError('EPERM', existing);
    this.add(newPath, n);
    n.attr.nlink++;
  }
  async symlink(target: string, path: string, caller: Caller): Promise<void> {
    const n = node(S_IFLNK | 0o777, caller);
    n.target = target;
    n.attr.size = Buffer.byteLength(target);
    this.add(path, n);
  }
  async readlink(path: string): Promise<string> {
    const n = this.lookup(path);
    if (n.target === undefined) throw fsError('EINVAL', path);
    return n.target;
  }
  async chmod(path: string, mode: number): Promise<void> {
    const n = this.lookup(path);
    n.attr.mode = (n.attr.mode & S_IFMT) | (mode & 0o7777);
  }
  async chown(path: string, uid: number, gid: number): Promise<void> {
    const n = this.lookup(path);
    n.attr.uid = uid;
    n.attr.gid = gid;
  }
  async utimens(path: string, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    const n = this.lookup(path);
    const ms = (t: number | 'now'): number => (t === 'now' ? Date.now() : t);
    if (atime !== 'omit') n.attr.atimeMs = ms(atime);
    if (mtime !== 'omit') n.attr.mtimeMs = ms(mtime);
  }
  async shutdown(): Promise<void> {}
}

/** Control files over a Stats, with one tunable, to exercise the control directory. */
export class MemControl implements ControlFiles {
  readAheadKb = 128;
  drops = 0;
  constructor(private readonly stats: Stats) {}
  list(dir: string): string[] {
    if (dir === '') return ['stats', 'drop_caches', 'tunables'];
    if (dir === 'tunables') return ['read_ahead_kb'];
    throw fsError('ENOENT', dir);
  }
  isDir(name: string): boolean {
    return name === 'tunables';
  }
  read(name: string): string {
    switch (name) {
      case 'stats':
        return this.stats.format();
      case 'drop_caches':
        return '0\n';
      case 'tunables/read_ahead_kb':
        return `${this.readAheadKb}\n`;
      default:
        throw fsError('ENOENT', name);
    }
  }
  write(name: string, data: string): void {
    const v = data.trim();
    if (name === 'drop_caches') {
      if (v !== '1') throw fsError('EINVAL', v);
      this.drops++;
      return;
    }
    if (name === 'tunables/read_ahead_kb') {
      if (!/^\d+$/.test(v)) throw fsError('EINVAL', v);
      this.readAheadKb = Number(v);
      return;
    }
    if (name === 'stats') throw fsError('EACCES', name);
    throw fsError('ENOENT', name);
  }
}

export function memFilesystem(): MountedFs {
  const stats = new Stats();
  return { vfs: new MemVfs(stats), stats, trace: new Trace(16), kmsg: new Kmsg(), control: new MemControl(stats), superblock: { uuid: 'memory', sizeBytes: 256 << 20 } };
}
