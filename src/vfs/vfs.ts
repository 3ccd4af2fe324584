/**
 * The vfs: open files (struct file), path walk, and the namespace operations, on top of
 * the metadata store (src/fs) and the page cache (src/mm).
 *
 *   FUSE handle (fh) ──> OpenFile { ino, flags, ra: file_ra_state, mapping }
 *                                               │
 *   inode ──> AddressSpace (one per inode, shared by every open of it) ──> pages
 *
 * Each open gets its own file_ra_state (ra_pages copied from the bdi at open, prev_pos -1),
 * exactly like the kernel's struct file; the page cache is shared.
 *
 * An unlinked file that is still open keeps its inode and blocks until the last release
 * (POSIX): `orphans` holds such inodes. `hide` is such an unlink that leaves the inode
 * reachable by a path outside the namespace (an alias) until then: libfuse 2 renames an
 * open file it is told to unlink to a hidden name and uses that path for fstat, fchmod
 * and the like, so the alias keeps them working while no name shows in any directory.
 *
 * Identity (identity.ts): new inodes belong to the calling process (setgid directories
 * give their group), writes and truncates by an unprivileged caller drop set-id bits.
 */

import { dbg } from '../stats/debug.js';
import { TraceEvent } from '../stats/trace.js';
import { fsError, isFsError, type FsError } from '../errors.js';
import { AheadfsAops } from '../fs/aops.js';
import { checkSize, MAX_FILE_SIZE } from '../fs/inode.js';
import { BLOCK_SIZE, ROOT_INO, S_IFLNK, type Inode, type MetaStore } from '../fs/meta.js';
import { fileRead, traceRead } from '../mm/file-read.js';
import type { StrideState } from '../mm/ra-stride.js';
import { EXT4_MAX_PAGECACHE_ORDER } from '../mm/folio.js';
import { filemapWrite } from '../mm/filemap-write.js';
import { filemapFdatawait, filemapWriteAndWait, syncInodes } from '../mm/fs-writeback.js';
import { mappingSetFolioOrderRange, type AddressSpace, type PageCache } from '../mm/pagecache.js';
import { fileRaState618Init, type FileRaState618 } from '../mm/readahead-v6.js';
import { blockTruncatePage, truncateInodePages } from '../mm/truncate.js';
import type { MmFile } from '../mm/types.js';
import type { Stats } from '../stats/registry.js';
import { inodeInitOwner, modeAfterWrite, modeForChmod, ROOT_CALLER } from './identity.js';
import { InodeLocks } from './inode-lock.js';
import type { Attr, Caller, DirEntry, ReadCallback, StatFs, TimeSpec, Vfs } from './types.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const O_EXCL = 0o200;
/** O_DSYNC; O_SYNC is __O_SYNC | O_DSYNC (asm-generic/fcntl.h), so this bit is set by both. */
const O_DSYNC = 0o10000;
export const NAME_MAX = 255;

/** struct file: one per FUSE handle. */
export interface OpenFile extends MmFile {
  readonly fh: number;
  readonly ino: number;
  readonly flags: number;
  path: string;
  readonly mapping: AddressSpace;
  /** file_ra_state: the 6.18 one (4.18's five numbers plus order, mmap_miss); a 4.18 mount uses the five. */
  readonly ra: FileRaState618;
  /** Pages this handle's readahead submitted, and of its read-ahead pages those read later / dropped unread. */
  raSubmitted: number;
  raHit: number;
  raWasted: number;
  /** f_wb_err: `mapping.wbErr` when this file last saw it (at open, then at each fsync that reported it). */
  wbErrSeen: number;
  /** `--ra-policy stride`: the stride detector's state (src/mm/ra-stride.ts), made at the first read. */
  stride?: StrideState;
}

export interface FlushDevice {
  flush(): Promise<void>;
}

export class AheadVfs implements Vfs {
  readonly files = new Map<number, OpenFile>();
  private nextFh = 1;
  /** Open count per inode, for unlinked-but-open files. */
  private readonly openCount = new Map<number, number>();
  /** Inodes with no name left that are still open: freed at their last release. */
  private readonly orphans = new Set<number>();
  /**
   * Paths outside the namespace that reach an unlinked, still open inode (`hide`); gone
   * when unlinked or when the inode is freed.
   */
  private readonly aliases = new Map<string, number>();
  /** i_rwsem: writes and truncates of one inode go one at a time. */
  private readonly inodeLocks = new InodeLocks();

  constructor(
    private readonly meta: MetaStore,
    readonly cache: PageCache,
    private readonly aops: AheadfsAops,
    private readonly device: FlushDevice,
    private readonly stats: Stats,
  ) {
    stats.gauge('open_files', () => this.files.size);
  }

  // --- path walk -----------------------------------------------------------------------

  private split(path: string): string[] {
    if (!path.startsWith('/')) throw fsError('EINVAL', `not an absolute path: ${path}`);
    const parts = path.split('/').filter((p) => p.length > 0);
    for (const p of parts) if (Buffer.byteLength(p) > NAME_MAX) throw fsError('ENAMETOOLONG', p.slice(0, 32) + '...');
    return parts;
  }

  private walk(parts: string[], path: string): number {
    let ino = ROOT_INO;
    for (const name of parts) {
      const dir = this.meta.getInode(ino);
      if ((dir.mode & S_IFMT) !== S_IFDIR) throw fsError('ENOTDIR', path);
      const next = this.meta.lookup(ino, name);
      if (next === undefined) throw fsError('ENOENT', path);
      ino = next;
    }
    return ino;
  }

  private resolve(path: string): number {
    if (this.aliases.size > 0) {
      const ino = this.aliases.get(path);
      if (ino !== undefined) return ino;
    }
    return this.walk(this.split(path), path);
  }

  /** The parent directory's inode and the last name of `path`. */
  private parentOf(path: string): { parent: number; name: string } {
    const parts = this.split(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EEXIST', '/');
    const parent = this.walk(parts, path);
    if ((this.meta.getInode(parent).mode & S_IFMT) !== S_IFDIR) throw fsError('ENOTDIR', path);
    return { parent, name };
  }

  private mappingOf(ino: number, inode: Inode = this.meta.getInode(ino)): AddressSpace {
    const mapping = this.cache.mapping({ ino, size: inode.size }, this.aops);
    // 6.18: ext4's large folios for regular files (ext4_set_inode_mapping_order), set
    // before the first folio is added; a 4.18 mount keeps order-0 folios.
    if (this.cache.kernel === '6.18' && mapping.maxOrder === 0 && mapping.nrFolios === 0) {
      mappingSetFolioOrderRange(mapping, 0, Math.min(EXT4_MAX_PAGECACHE_ORDER, this.cache.frames.maxOrder));
    }
    return mapping;
  }

  /** i_size: the page cache's host is the authority while a mapping exists. */
  private sizeOf(ino: number, inode: Inode): number {
    return this.cache.findMapping(ino)?.host.size ?? inode.size;
  }

  private attr(ino: number): Attr {
    const inode = this.meta.getInode(ino);
    const size = this.sizeOf(ino, inode);
    return {
      ino,
      mode: inode.mode,
      nlink: inode.nlink,
      uid: inode.uid,
      gid: inode.gid,
      size,
      // ext4_getattr: blocks promised to dirty pages over holes count already (delalloc).
      blocks: (this.meta.blockCount(ino) + (this.cache.findMapping(ino)?.nrDelalloc ?? 0)) * (BLOCK_SIZE / 512),
      blksize: BLOCK_SIZE,
      rdev: inode.rdev ?? 0,
      atimeMs: inode.atimeMs,
      mtimeMs: inode.mtimeMs,
      ctimeMs: inode.ctimeMs,
    };
  }

  // --- attributes and directories ------------------------------------------------------

  async getattr(path: string): Promise<Attr> {
    return this.attr(this.resolve(path));
  }

  async fgetattr(fh: number): Promise<Attr> {
    return this.attr(this.file(fh).ino);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const dir = this.resolve(path);
    const entry = (name: string, ino: number): DirEntry => ({ name, ino, mode: this.meta.getInode(ino).mode });
    const out = [entry('.', dir), entry('..', this.meta.lookup(dir, '..') ?? dir)];
    for (const [name, ino] of this.meta.readdirEntries(dir)) out.push(entry(name, ino));
    return out;
  }

  async access(path: string, _mode: number): Promise<void> {
    this.resolve(path); // permissions are checked by the kernel (default_permissions)
  }

  async statfs(): Promise<StatFs> {
    const s = this.meta.statfs();
    return {
      bsize: BLOCK_SIZE,
      frsize: BLOCK_SIZE,
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bfree,
      files: s.files,
      ffree: s.ffree,
      favail: s.ffree,
      namemax: NAME_MAX,
    };
  }

  // --- open files ----------------------------------------------------------------------

  private file(fh: number): OpenFile {
    const f = this.files.get(fh);
    if (!f) throw fsError('EBADF', `no open file with handle ${fh}`);
    return f;
  }

  private openIno(ino: number, flags: number, path: string): number {
    const inode = this.meta.getInode(ino);
    if ((inode.mode & S_IFMT) === S_IFDIR && (flags & O_ACCMODE) !== 0) throw fsError('EISDIR', path);
    const fh = this.nextFh++;
    const mapping = this.mappingOf(ino, inode);
    const file: OpenFile = { fh, ino, flags, path, mapping, ra: fileRaState618Init(this.cache.bdi.raPages), raSubmitted: 0, raHit: 0, raWasted: 0, wbErrSeen: mapping.wbErr, stride: undefined };
    this.files.set(fh, file);
    if (dbg.vfs.enabled) dbg.vfs('open %s ino=%d fh=%d flags=0%s ra_pages=%d', path, ino, fh, flags.toString(8), file.ra.raPages);
    this.openCount.set(ino, (this.openCount.get(ino) ?? 0) + 1);
    return fh;
  }

  async create(path: string, mode: number, flags: number, caller: Caller): Promise<number> {
    const { parent, name } = this.parentOf(path);
    const existing = this.meta.lookup(parent, name);
    if (existing !== undefined) {
      if (flags & O_EXCL) throw fsError('EEXIST', path);
      return flags & O_TRUNC ? this.openTruncate(existing, flags, path, caller) : this.openIno(existing, flags, path);
    }
    const owner = inodeInitOwner(caller, this.meta.getInode(parent), (mode & ~S_IFMT) | S_IFREG);
    const ino = await this.meta.create(parent, name, owner.mode, owner.uid, owner.gid);
    return this.openIno(ino, flags, path);
  }

  async mknod(path: string, mode: number, rdev: number, caller: Caller): Promise<void> {
    const { parent, name } = this.parentOf(path);
    // mknod(2) with type 0 makes a regular file.
    const typed = (mode & S_IFMT) === 0 ? mode | S_IFREG : mode;
    const owner = inodeInitOwner(caller, this.meta.getInode(parent), typed);
    await this.meta.mknod(parent, name, owner.mode, rdev, owner.uid, owner.gid);
  }

  async open(path: string, flags: number, caller: Caller = ROOT_CALLER): Promise<number> {
    const ino = this.resolve(path);
    if (flags & O_TRUNC && (flags & O_ACCMODE) !== 0) return this.openTruncate(ino, flags, path, caller);
    return this.openIno(ino, flags, path);
  }

  /**
   * do_open's order: vfs_open, then handle_truncate. The open is made first, in the same
   * turn as the lookup, so that it holds the inode: an unlink while the truncate waits
   * or runs leaves an orphan freed at the last release, not a handle to a freed inode.
   * A failed truncate releases the handle (fput).
   */
  private async openTruncate(ino: number, flags: number, path: string, caller: Caller): Promise<number> {
    const fh = this.openIno(ino, flags, path);
    try {
      await this.truncateIno(ino, 0, caller);
    } catch (err) {
      // The truncate's error is the one to report, even if the release fails too.
      await this.release(fh).catch((releaseErr: unknown) => dbg.vfs('release of fh %d after a failed O_TRUNC: %s', fh, String(releaseErr)));
      throw err;
    }
    return fh;
  }

  /**
   * The hot path: no await, the page loop calls back (synchronously when all is cached).
   * `pid`: the reader (FUSE caller), stamped on the trace events of the synchronous part.
   */
  read(fh: number, buf: Uint8Array, len: number, pos: number, done: ReadCallback, pid = 0): void {
    const trace = this.cache.trace;
    trace.pid = pid;
    try {
      this.readAs(fh, buf, len, pos, done);
    } finally {
      trace.pid = 0;
    }
  }

  private readAs(fh: number, buf: Uint8Array, len: number, pos: number, done: ReadCallback): void {
    const file = this.files.get(fh);
    if (!file) return done(fsError('EBADF', `handle ${fh}`), 0);
    this.stats.c.read_calls++;
    traceRead(file.mapping, file, pos, len);
    // generic_file_buffered_read (Linux 5.4 mm/filemap.c): at or past s_maxbytes is EOF,
    // 0 bytes (this also covers 2^53 and beyond, where a JS number is no exact offset).
    if (pos >= MAX_FILE_SIZE) return done(undefined, 0);
    // read_bytes is counted by the read loop where the read ends: no closure per call here.
    fileRead(file.mapping, file, buf, pos, len, done);
  }

  async write(fh: number, buf: Uint8Array, len: number, pos: number, caller: Caller = ROOT_CALLER): Promise<number> {
    const file = this.file(fh);
    if ((file.flags & O_ACCMODE) !== O_WRONLY && (file.flags & O_ACCMODE) !== O_RDWR) throw fsError('EBADF', 'not open for writing');
    this.stats.c.write_calls++;
    // generic_write_check_limits (Linux 5.4 mm/filemap.c): a write at or past s_maxbytes is EFBIG.
    if (pos >= MAX_FILE_SIZE && len > 0) throw fsError('EFBIG', `write at ${pos}: past the largest file (${MAX_FILE_SIZE} bytes)`);
    const n = await this.inodeLocks.withInodeLock(file.ino, async () => {
      await this.removePrivs(file.ino, caller);
      const written = await filemapWrite(file.mapping, file, buf, pos, len);
      // file_update_time: a writeback mount commits the times with the data's writeback.
      if (written > 0 && this.cache.wb !== undefined) this.meta.touchTimes(file.ino);
      return written;
    });
    this.stats.c.write_bytes += n;
    // generic_write_sync: O_SYNC / O_DSYNC opens make each write durable before it returns.
    if (this.cache.wb !== undefined && (file.flags & O_DSYNC) !== 0 && n > 0) await this.fsync(fh, true);
    return n;
  }

  async flush(fh: number): Promise<void> {
    this.file(fh);
  }

  /**
   * fsync / fdatasync (vfs_fsync_range -> filemap_write_and_wait_range, then the
   * filesystem's commit and a device flush): this file's dirty folios written back and
   * their metadata committed (one batch at a time), the device flushed, LMDB flushed;
   * then the errseq check. fdatasync does the same here: the inode's size and extents
   * always go with its data, and nothing else of it is left uncommitted.
   */
  async fsync(fh: number, _datasync: boolean): Promise<void> {
    const file = this.file(fh);
    await filemapWriteAndWait(file.mapping); // a write-through mount has nothing dirty
    await this.device.flush(); // data is on the device (completed); make it durable
    await this.meta.sync();
    // file_check_and_advance_wb_err (v4.13+): a write of this inode failed since this file
    // last looked (even one write(2) already reported): EIO, once for this file.
    if (file.wbErrSeen !== file.mapping.wbErr) {
      file.wbErrSeen = file.mapping.wbErr;
      throw fsError(file.mapping.wbErrCode, `fsync of inode ${file.ino}: a write to it failed since it was opened or last synced`);
    }
  }

  /** syncfs (sync_filesystem): every dirty folio written back, the device and LMDB flushed. */
  async syncfs(): Promise<void> {
    await syncInodes(this.cache);
    await this.device.flush();
    await this.meta.sync();
  }

  async release(fh: number): Promise<void> {
    const file = this.file(fh);
    this.files.delete(fh);
    const left = (this.openCount.get(file.ino) ?? 1) - 1;
    if (left > 0) {
      this.openCount.set(file.ino, left);
      return;
    }
    this.openCount.delete(file.ino);
    if (this.orphans.delete(file.ino)) await this.evictInode(file.ino);
  }

  // --- size ----------------------------------------------------------------------------

  async truncate(path: string, size: number, caller: Caller = ROOT_CALLER): Promise<void> {
    await this.truncateIno(this.resolve(path), size, caller);
  }

  async ftruncate(fh: number, size: number, caller: Caller = ROOT_CALLER): Promise<void> {
    await this.truncateIno(this.file(fh).ino, size, caller);
  }

  private async truncateIno(ino: number, size: number, caller: Caller): Promise<void> {
    // The filesystem's own size check (EINVAL, EFBIG) before anything changes: the page
    // cache's size below is set before meta.truncate, which would refuse it too late.
    checkSize(size, `inode ${ino}`);
    await this.inodeLocks.withInodeLock(ino, async () => {
      await this.removePrivs(ino, caller);
      await this.truncateLocked(ino, size);
    });
  }

  /**
   * file_remove_privs: before a write or truncate by `caller`, drop the set-id bits it
   * may not keep (identity.ts). Context: under the inode lock. Costs nothing (no commit)
   * unless a bit is dropped.
   */
  private async removePrivs(ino: number, caller: Caller): Promise<void> {
    const mode = modeAfterWrite(caller, this.meta.getInode(ino));
    if (mode !== undefined) await this.meta.setattr(ino, { mode });
  }

  /** do_truncate under inode_lock: no write of the inode runs meanwhile. */
  private async truncateLocked(ino: number, size: number): Promise<void> {
    const inode = this.meta.getInode(ino);
    if ((inode.mode & S_IFMT) === S_IFDIR) throw fsError('EISDIR', `inode ${ino}`);
    const mapping = this.mappingOf(ino, inode);
    const old = mapping.host.size;
    // truncate_setsize: readers see the new size from here on, never the old size with a
    // zeroed tail.
    mapping.host.size = size;
    // Writeback in flight settles first (truncate_pagecache waits for it too): a batch may
    // be writing the new last block, its extent not attached yet. Checked before it ends,
    // the block would look like a hole, its tail would not be zeroed on disk, and the
    // batch's commit would then attach the old bytes past the new end.
    if (size < old && size % BLOCK_SIZE !== 0) await filemapFdatawait(mapping);
    let zeroError: unknown;
    if (size < old && size % BLOCK_SIZE !== 0 && this.blockMapped(ino, Math.floor(size / BLOCK_SIZE))) {
      // Zero the rest of the new last block on disk too, before the metadata changes, so
      // that a later extension reads zeros there and never the old bytes. A hole needs
      // nothing (and writing one would allocate a block).
      try {
        await blockTruncatePage(mapping, size);
      } catch (err) {
        // The zeros may be on the device already (a failed commit after the write), so the
        // old size cannot come back: finish the truncate, then report the error (ext4 keeps
        // the i_size it set, too). The old bytes past the new size may survive on disk.
        zeroError = err;
      }
    }
    await truncateInodePages(mapping, size);
    await this.meta.truncate(ino, size);
    if (zeroError !== undefined) throw zeroError;
  }

  /** Whether file block `block` of `ino` has a device block (not a hole). */
  private blockMapped(ino: number, block: number): boolean {
    return this.meta.mapBlocks(ino, block, 1)[0]?.devBlock !== undefined;
  }

  // --- namespace -----------------------------------------------------------------------

  /** An inode lost a name: free it now, or at its last release if it is open. */
  private async dropLink(ino: number, nlink: number): Promise<void> {
    if (nlink > 0) return;
    if (this.openCount.has(ino)) {
      dbg.vfs('inode %d unlinked while open: freed at its last release', ino);
      this.orphans.add(ino);
    } else await this.evictInode(ino);
  }

  private async evictInode(ino: number): Promise<void> {
    // Under the inode's lock: a truncate by path may still be running on it.
    await this.inodeLocks.withInodeLock(ino, async () => {
      const mapping = this.cache.findMapping(ino);
      if (mapping) {
        await truncateInodePages(mapping, 0);
        this.cache.forgetMapping(ino);
      }
      await this.meta.freeInode(ino);
      for (const [alias, aliased] of this.aliases) if (aliased === ino) this.aliases.delete(alias);
    });
  }

  async unlink(path: string): Promise<void> {
    if (this.aliases.delete(path)) return; // the inode goes at its last release
    const { parent, name } = this.parentOf(path);
    const { ino, nlink } = await this.meta.unlink(parent, name);
    await this.dropLink(ino, nlink);
  }

  /**
   * Unlink `path` if it names an open file, and let `alias` reach that inode until its last
   * release (or an unlink of `alias`). Resolves false, changing nothing, when the file is
   * not open: the caller then renames as usual.
   */
  async hide(path: string, alias: string): Promise<boolean> {
    const { parent, name } = this.parentOf(path);
    const ino = this.meta.lookup(parent, name);
    if (ino === undefined || !this.openCount.has(ino) || this.aliases.has(alias)) return false;
    const { nlink } = await this.meta.unlink(parent, name);
    this.aliases.set(alias, ino);
    await this.dropLink(ino, nlink);
    return true;
  }

  async mkdir(path: string, mode: number, caller: Caller): Promise<void> {
    const { parent, name } = this.parentOf(path);
    const owner = inodeInitOwner(caller, this.meta.getInode(parent), (mode & ~S_IFMT) | S_IFDIR);
    await this.meta.mkdir(parent, name, owner.mode, owner.uid, owner.gid);
  }

  async rmdir(path: string): Promise<void> {
    const { parent, name } = this.parentOf(path);
    await this.meta.rmdir(parent, name);
  }

  async rename(from: string, to: string): Promise<void> {
    const src = this.parentOf(from);
    const dst = this.parentOf(to);
    const replaced = await this.meta.rename(src.parent, src.name, dst.parent, dst.name);
    if (replaced) await this.dropLink(replaced.ino, replaced.nlink);
    for (const f of this.files.values()) if (f.path === from) f.path = to;
  }

  async link(existing: string, newPath: string): Promise<void> {
    const ino = this.resolve(existing);
    const { parent, name } = this.parentOf(newPath);
    await this.meta.link(ino, parent, name);
  }

  async symlink(target: string, path: string, caller: Caller): Promise<void> {
    const { parent, name } = this.parentOf(path);
    const owner = inodeInitOwner(caller, this.meta.getInode(parent), S_IFLNK | 0o777);
    await this.meta.symlink(parent, name, target, owner.uid, owner.gid);
  }

  async readlink(path: string): Promise<string> {
    return this.meta.readlink(this.resolve(path));
  }

  async chmod(path: string, mode: number, caller: Caller = ROOT_CALLER): Promise<void> {
    const ino = this.resolve(path);
    const inode = this.meta.getInode(ino);
    await this.meta.setattr(ino, { mode: (inode.mode & S_IFMT) | modeForChmod(caller, inode, mode & ~S_IFMT) });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    const ino = this.resolve(path);
    // -1 (as unsigned 32-bit too) means "leave unchanged", as in chown(2)
    const keep = (v: number): boolean => v === -1 || v === 0xffffffff;
    await this.meta.setattr(ino, { ...(keep(uid) ? {} : { uid }), ...(keep(gid) ? {} : { gid }) });
  }

  /** utimensat(2): each time a value, 'now', or 'omit' (left alone; both omitted: nothing changes). */
  async utimens(path: string, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    const ino = this.resolve(path);
    if (atime === 'omit' && mtime === 'omit') return;
    const now = Date.now();
    // Kept to the microsecond: what a double holds of a time in ms (see stat.ts).
    const ms = (t: number | 'now'): number => (t === 'now' ? now : Math.round(t * 1000) / 1000);
    await this.meta.setattr(ino, { ...(atime === 'omit' ? {} : { atimeMs: ms(atime) }), ...(mtime === 'omit' ? {} : { mtimeMs: ms(mtime) }) });
  }

  // --- lifecycle -----------------------------------------------------------------------

  async shutdown(): Promise<void> {
    // umount: everything dirty goes to the device first (sync_filesystem in generic_shutdown_super).
    await syncInodes(this.cache);
    for (const fh of [...this.files.keys()]) {
      try {
        await this.release(fh);
      } catch (err) {
        if (!isFsError(err)) throw err;
      }
    }
  }
}
