/**
 * The metadata store: inodes, directories, extent maps and free space, durable in LMDB
 * (metadb.ts), mirrored in memory so that every lookup on the hot path is a Map access.
 *
 *   caller ──> MetaStore op ──> 1. validate against memory (throw FsError, nothing changed)
 *                               2. change memory, record the same change in a WriteSet
 *                                  (synchronously: no await between 1 and 2)
 *                               3. commit the set as one LMDB transaction ──> resolves
 *
 * Memory runs ahead of the disk by at most the transactions in flight; each operation's
 * promise resolves when its transaction has committed, so a caller that awaits (the vfs
 * always does) never replies to FUSE before its change is durable against kill -9.
 * Transactions commit in the order operations were made, so LMDB always holds a prefix
 * of the in-memory history. If a commit fails, memory and disk may differ: the store
 * turns read-only-and-failing (every later change is EIO), like ext4's errors=remount-ro.
 *
 * The ordered rule (docs/architecture.md, section 4) in this file:
 *   - allocateBlocks only reserves; attachExtents, called after the data is written,
 *     commits the extents and takes the blocks off the durable free list, in one txn;
 *   - truncate/freeInode put the freed blocks on the durable free list in their txn,
 *     but the allocator may hand them out only after that txn is flushed.
 *
 * Crash recovery at open: reserved-but-unattached blocks were never taken off the free
 * list, so they are free again; inodes left with nlink 0 (unlinked while open) are freed.
 * Everything is loaded at open (fine for up to a few million inodes and extents).
 */

import { dbg } from '../stats/debug.js';
import { fsError } from '../errors.js';
import { Allocator, type Run } from './alloc.js';
import { ExtentMap, type BlockMapping, type Extent } from './extents.js';
import {
  checkLookupName,
  checkNewName,
  checkSize,
  DIR_SIZE,
  isDevice,
  isDir,
  isLnk,
  isMknodType,
  isReg,
  MAX_FILE_SIZE,
  PATH_MAX,
  PERM_MASK,
  ROOT_INO,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type Inode,
  type InodeState,
} from './inode.js';
import { META_SCHEMA, MetaDb, WriteSet } from './metadb.js';
import { BLOCK_SIZE, deviceBlocks, type Superblock } from './superblock.js';

export { BLOCK_SIZE } from './superblock.js';
export { NAME_MAX, ROOT_INO, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, type Inode } from './inode.js';
export type { Run } from './alloc.js';
export type { BlockMapping, Extent } from './extents.js';

/** One file's part of attachExtentsBatch. */
export interface AttachItem {
  ino: number;
  maps: readonly Extent[];
  /** i_size grows to this if larger. */
  newSize?: number;
  /** true: leave mtime/ctime as they are in memory (a writeback: the write set them, touchTimes). */
  keepTimes?: boolean;
}

/** Attributes `setattr` can change; absent fields are left alone. */
export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  atimeMs?: number;
  mtimeMs?: number;
  size?: number;
}

export interface MetaStatFs {
  /** Device blocks (4 KiB). */
  blocks: number;
  /** Blocks the allocator can hand out now. */
  bfree: number;
  /** Inode limit: one per device block (like mkfs.ext4 -i 4096). */
  files: number;
  ffree: number;
}

/** What `unlink` and `rename` report about an inode that lost a name. */
export interface LinkDrop {
  ino: number;
  /** Links left; 0: free it with `freeInode` once no one has it open. */
  nlink: number;
}

export class MetaStore {
  private readonly inodes = new Map<number, InodeState>();
  /** Children of each directory. */
  private readonly dirs = new Map<number, Map<string, number>>();
  /** Parent of each directory (root: itself), for '..' and the rename loop check. */
  private readonly parents = new Map<number, number>();
  private readonly extents = new Map<number, ExtentMap>();
  /** Where each file's last reservation ended, so the next one continues it (goal). */
  private readonly lastReserved = new Map<number, { fileEnd: number; devEnd: number }>();
  private readonly pending = new Set<Promise<void>>();
  private failed: unknown;
  private closed = false;

  private constructor(
    private readonly db: MetaDb,
    private readonly alloc: Allocator,
    private nextIno: number,
    /** Inode limit (statfs files). */
    private readonly maxInodes: number,
  ) {}

  /**
   * Open the metadata of a store made by mkfs. Throws FsError EINVAL when meta/ is missing
   * or does not belong to `sb`, EIO when it is inconsistent. `readOnly` opens LMDB read-only
   * and leaves orphans where they are (nothing is written; they stay invisible, having no name).
   */
  static async open(store: string, sb: Superblock, opts: { readOnly?: boolean } = {}): Promise<MetaStore> {
    const db = MetaDb.open(store, { create: false, readOnly: opts.readOnly === true });
    try {
      const loaded = db.load();
      const total = deviceBlocks(sb);
      if (loaded.schema !== META_SCHEMA) throw fsError('EINVAL', `${store}/meta has schema ${String(loaded.schema)}; expected ${META_SCHEMA}`);
      if (loaded.deviceBlocks !== total) {
        throw fsError('EINVAL', `${store}/meta describes ${String(loaded.deviceBlocks)} blocks but aheadfs.json ${total}`);
      }
      const ms = new MetaStore(db, new Allocator(total, loaded.free), loaded.nextIno ?? ROOT_INO + 1, total);
      for (const [ino, s] of loaded.inodes) ms.inodes.set(ino, { ino, ...s });
      const root = ms.inodes.get(ROOT_INO);
      if (!root || !isDir(root)) throw fsError('EIO', `${store}/meta has no root directory`);
      for (const [ino, inode] of ms.inodes) if (isDir(inode)) ms.dirs.set(ino, new Map());
      ms.parents.set(ROOT_INO, ROOT_INO);
      for (const d of loaded.dirents) {
        const dir = ms.dirs.get(d.parent);
        const child = ms.inodes.get(d.ino);
        if (!dir || !child) throw fsError('EIO', `${store}/meta: dangling entry ${d.parent}/${d.name} -> ${d.ino}`);
        dir.set(d.name, d.ino);
        if (isDir(child)) ms.parents.set(d.ino, d.parent);
      }
      let mapped = 0;
      for (const [ino, list] of loaded.extents) {
        const m = ExtentMap.from(list);
        ms.extents.set(ino, m);
        mapped += m.blocks;
      }
      if (mapped + ms.alloc.freeBlocks !== total) {
        throw fsError('EIO', `${store}/meta is inconsistent: ${mapped} mapped + ${ms.alloc.freeBlocks} free != ${total} blocks`);
      }
      if (opts.readOnly !== true) await ms.recoverOrphans();
      return ms;
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
  }

  /** Inodes with no name left (unlinked while open, then a crash): free them now. */
  private async recoverOrphans(): Promise<void> {
    const orphans = [...this.inodes.values()].filter((i) => i.nlink === 0 && i.ino !== ROOT_INO);
    dbg.fs('metadata loaded: %d inodes, %d orphans to free', this.inodes.size, orphans.length);
    await Promise.all(orphans.map((i) => this.freeInode(i.ino)));
  }

  /** Wait for every commit, then close LMDB. Later calls throw. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    await this.db.close();
  }

  /** Resolves when every change made so far is committed and flushed to the disk (fsync). */
  async sync(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    if (this.failed !== undefined) throw fsError('EIO', 'metadata store failed', this.failed);
    await this.db.flushed();
  }

  // --- the write path --------------------------------------------------------------------

  /** Context: first statement of every mutating operation. */
  private writable(): void {
    if (this.closed) throw fsError('EIO', 'metadata store is closed');
    if (this.failed !== undefined) throw fsError('EIO', 'metadata store failed (a commit failed); remount', this.failed);
  }

  /**
   * Commit `ws`; once it is durable, hand `freed` back to the allocator. Resolves when
   * committed (and, when `freed` is not empty, flushed and released).
   */
  private commit(ws: WriteSet, freed: readonly Run[] = []): Promise<void> {
    if (ws.empty) return Promise.resolve();
    const p = this.db.commit(ws).then(
      async () => {
        if (freed.length > 0) {
          await this.db.flushed();
          this.alloc.release(freed);
        }
      },
      (err: unknown) => {
        this.failed ??= err;
        throw fsError('EIO', `metadata commit failed: ${(err as Error).message}`, err);
      },
    );
    this.pending.add(p);
    const forget = (): void => void this.pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  // --- lookups (synchronous) ---------------------------------------------------------------

  getInode(ino: number): Inode {
    const i = this.inodes.get(ino);
    if (!i) throw fsError('ENOENT', `no inode ${ino}`);
    return i;
  }

  private inode(ino: number): InodeState {
    const i = this.inodes.get(ino);
    if (!i) throw fsError('ENOENT', `no inode ${ino}`);
    return i;
  }

  /** The children of directory `ino` (ENOENT, ENOTDIR). */
  private dir(ino: number): Map<string, number> {
    const d = this.dirs.get(ino);
    if (d) return d;
    throw fsError(this.inodes.has(ino) ? 'ENOTDIR' : 'ENOENT', `inode ${ino}`);
  }

  /** The inode `name` names in directory `parent`, or undefined. '.' and '..' resolve. */
  lookup(parent: number, name: string): number | undefined {
    const d = this.dir(parent);
    checkLookupName(name);
    if (name === '.') return parent;
    if (name === '..') return this.parents.get(parent);
    return d.get(name);
  }

  /** Names in directory `ino`, without '.' and '..' (ENOENT, ENOTDIR). */
  readdir(ino: number): string[] {
    return [...this.dir(ino).keys()];
  }

  /** Names in directory `ino` with their inodes, without '.' and '..' (ENOENT, ENOTDIR). */
  readdirEntries(ino: number): IterableIterator<[string, number]> {
    return this.dir(ino).entries();
  }

  readlink(ino: number): string {
    const i = this.inode(ino);
    if (!isLnk(i) || i.target === undefined) throw fsError('EINVAL', `inode ${ino} is not a symlink`);
    return i.target;
  }

  /** 4 KiB blocks mapped to file `ino` (st_blocks / 8). */
  blockCount(ino: number): number {
    return this.extents.get(ino)?.blocks ?? 0;
  }

  statfs(): MetaStatFs {
    return {
      blocks: this.alloc.totalBlocks,
      bfree: this.alloc.freeBlocks,
      files: this.maxInodes,
      ffree: Math.max(0, this.maxInodes - this.inodes.size),
    };
  }

  // --- namespace -------------------------------------------------------------------------

  /**
   * Make a new inode and link it as `parent/name`. Context: validation done by the caller
   * except for the inode limit; nothing awaited.
   */
  private makeInode(ws: WriteSet, parent: InodeState, name: string, fields: Omit<InodeState, 'ino' | 'atimeMs' | 'mtimeMs' | 'ctimeMs'>): InodeState {
    if (this.inodes.size >= this.maxInodes) throw fsError('ENOSPC', `no free inodes (${this.maxInodes} in use)`);
    const now = Date.now();
    const ino = this.nextIno++;
    const inode: InodeState = { ino, ...fields, atimeMs: now, mtimeMs: now, ctimeMs: now };
    this.inodes.set(ino, inode);
    this.dir(parent.ino).set(name, ino);
    parent.mtimeMs = parent.ctimeMs = now;
    ws.putMisc('nextIno', this.nextIno);
    ws.touchInode(ino, inode);
    ws.touchInode(parent.ino, parent);
    ws.putDirent(parent.ino, name, ino);
    return inode;
  }

  /** Checks shared by create/mkdir/symlink/link: parent is a directory, name is free. */
  private checkCreate(parent: number, name: string): InodeState {
    this.writable();
    const d = this.dir(parent);
    checkNewName(name);
    if (d.has(name)) throw fsError('EEXIST', name);
    return this.inode(parent);
  }

  /** Create a regular file; resolves to its ino (EEXIST, ENOTDIR, ENAMETOOLONG, ENOSPC). */
  async create(parent: number, name: string, mode: number, uid: number, gid: number): Promise<number> {
    const p = this.checkCreate(parent, name);
    const ws = new WriteSet();
    const inode = this.makeInode(ws, p, name, { mode: S_IFREG | (mode & PERM_MASK), uid, gid, size: 0, nlink: 1 });
    await this.commit(ws);
    return inode.ino;
  }

  /**
   * mknod(2): a regular file, FIFO, socket, or character/block device `rdev` (the type
   * from `mode`; anything else EINVAL). Only the node is stored: the kernel opens FIFOs,
   * sockets and devices itself. Resolves to the new ino.
   */
  async mknod(parent: number, name: string, mode: number, rdev: number, uid: number, gid: number): Promise<number> {
    const type = mode & S_IFMT;
    if (!isMknodType(type)) throw fsError('EINVAL', `mknod of type 0${type.toString(8)}`);
    if (isDevice(type) && (!Number.isSafeInteger(rdev) || rdev < 0 || rdev > 0xffffffff)) throw fsError('EINVAL', `bad device number ${rdev}`);
    const p = this.checkCreate(parent, name);
    const ws = new WriteSet();
    const fields = { mode: type | (mode & PERM_MASK), uid, gid, size: 0, nlink: 1 };
    const inode = this.makeInode(ws, p, name, isDevice(type) ? { ...fields, rdev } : fields);
    await this.commit(ws);
    return inode.ino;
  }

  async mkdir(parent: number, name: string, mode: number, uid: number, gid: number): Promise<number> {
    const p = this.checkCreate(parent, name);
    const ws = new WriteSet();
    const inode = this.makeInode(ws, p, name, { mode: S_IFDIR | (mode & PERM_MASK), uid, gid, size: DIR_SIZE, nlink: 2 });
    this.dirs.set(inode.ino, new Map());
    this.parents.set(inode.ino, parent);
    p.nlink += 1; // the child's '..'
    await this.commit(ws);
    return inode.ino;
  }

  async symlink(parent: number, name: string, target: string, uid: number, gid: number): Promise<number> {
    if (target.length === 0) throw fsError('ENOENT', 'empty symlink target');
    const bytes = Buffer.byteLength(target, 'utf8');
    if (bytes > PATH_MAX) throw fsError('ENAMETOOLONG', `symlink target longer than ${PATH_MAX} bytes`);
    const p = this.checkCreate(parent, name);
    const ws = new WriteSet();
    const inode = this.makeInode(ws, p, name, { mode: S_IFLNK | 0o777, uid, gid, size: bytes, nlink: 1, target });
    await this.commit(ws);
    return inode.ino;
  }

  /** A new name for `ino` (EPERM for directories, EEXIST, ENOENT for an unlinked inode). */
  async link(ino: number, newParent: number, newName: string): Promise<void> {
    const i = this.inode(ino);
    if (isDir(i)) throw fsError('EPERM', `inode ${ino} is a directory`);
    const p = this.checkCreate(newParent, newName);
    if (i.nlink === 0) throw fsError('ENOENT', `inode ${ino} has been unlinked`);
    const ws = new WriteSet();
    const now = Date.now();
    this.dir(newParent).set(newName, ino);
    i.nlink += 1;
    i.ctimeMs = now;
    p.mtimeMs = p.ctimeMs = now;
    ws.putDirent(newParent, newName, ino);
    ws.touchInode(ino, i);
    ws.touchInode(newParent, p);
    await this.commit(ws);
  }

  /**
   * Remove a non-directory name (ENOENT, EISDIR, ENOTDIR). The inode keeps its data;
   * free it with `freeInode` when the returned nlink is 0 and no one has it open.
   */
  async unlink(parent: number, name: string): Promise<LinkDrop> {
    this.writable();
    const d = this.dir(parent);
    checkLookupName(name);
    if (name === '.' || name === '..') throw fsError('EISDIR', name);
    const ino = d.get(name);
    if (ino === undefined) throw fsError('ENOENT', name);
    const i = this.inode(ino);
    if (isDir(i)) throw fsError('EISDIR', name);
    const p = this.inode(parent);
    const ws = new WriteSet();
    const now = Date.now();
    d.delete(name);
    i.nlink -= 1;
    i.ctimeMs = now;
    p.mtimeMs = p.ctimeMs = now;
    ws.delDirent(parent, name);
    ws.touchInode(ino, i);
    ws.touchInode(parent, p);
    // The links this unlink left, read now: another unlink or rename of the same inode may
    // drop the next link while this commit is in flight, and only the one that dropped the
    // last link may report 0 (else both free the inode, and the second fails).
    const dropped: LinkDrop = { ino, nlink: i.nlink };
    await this.commit(ws);
    return dropped;
  }

  /** Remove an empty directory and its inode (ENOENT, ENOTDIR, ENOTEMPTY, EINVAL for '.'). */
  async rmdir(parent: number, name: string): Promise<void> {
    this.writable();
    const d = this.dir(parent);
    checkLookupName(name);
    if (name === '.') throw fsError('EINVAL', 'rmdir .');
    if (name === '..') throw fsError('ENOTEMPTY', 'rmdir ..');
    const ino = d.get(name);
    if (ino === undefined) throw fsError('ENOENT', name);
    const child = this.dirs.get(ino);
    if (!child) throw fsError('ENOTDIR', name);
    if (child.size > 0) throw fsError('ENOTEMPTY', name);
    const p = this.inode(parent);
    const ws = new WriteSet();
    const now = Date.now();
    d.delete(name);
    this.dropDir(ws, ino);
    p.nlink -= 1;
    p.mtimeMs = p.ctimeMs = now;
    ws.delDirent(parent, name);
    ws.touchInode(parent, p);
    await this.commit(ws);
  }

  /** Forget an empty directory's inode (its entry is removed by the caller). */
  private dropDir(ws: WriteSet, ino: number): void {
    this.inodes.delete(ino);
    this.dirs.delete(ino);
    this.parents.delete(ino);
    ws.delInode(ino);
  }

  /** True when directory `ino` is `ancestor` or lies below it. */
  private isWithin(ino: number, ancestor: number): boolean {
    for (let cur = ino; ; ) {
      if (cur === ancestor) return true;
      const up = this.parents.get(cur);
      if (up === undefined || up === cur) return false;
      cur = up;
    }
  }

  /**
   * rename(2). Replacing an existing non-directory returns its ino and links left (free
   * it when 0 and not open); a replaced empty directory is removed here and not returned.
   * Errors: ENOENT, ENOTDIR (dir over file), EISDIR (file over dir), ENOTEMPTY, EINVAL
   * (dir into its own subtree, '.' or '..'). Same inode at both names: no-op.
   */
  async rename(srcParent: number, srcName: string, dstParent: number, dstName: string): Promise<LinkDrop | undefined> {
    this.writable();
    const sd = this.dir(srcParent);
    const dd = this.dir(dstParent);
    checkLookupName(srcName);
    for (const n of [srcName, dstName]) if (n === '.' || n === '..') throw fsError('EINVAL', `rename of ${n}`);
    const sino = sd.get(srcName);
    if (sino === undefined) throw fsError('ENOENT', srcName);
    checkNewName(dstName);
    const dino = dd.get(dstName);
    if (dino === sino) return undefined;
    const s = this.inode(sino);
    const sIsDir = isDir(s);
    if (sIsDir && this.isWithin(dstParent, sino)) throw fsError('EINVAL', `cannot move a directory into itself: ${srcName}`);
    const d = dino === undefined ? undefined : this.inode(dino);
    if (d) {
      if (sIsDir && !isDir(d)) throw fsError('ENOTDIR', dstName);
      if (!sIsDir && isDir(d)) throw fsError('EISDIR', dstName);
      if (isDir(d) && (this.dirs.get(d.ino)?.size ?? 0) > 0) throw fsError('ENOTEMPTY', dstName);
    }

    const ws = new WriteSet();
    const now = Date.now();
    const sp = this.inode(srcParent);
    const dp = this.inode(dstParent);
    let replaced: LinkDrop | undefined;
    if (d) {
      if (isDir(d)) {
        this.dropDir(ws, d.ino);
        dp.nlink -= 1;
      } else {
        d.nlink -= 1;
        d.ctimeMs = now;
        ws.touchInode(d.ino, d);
        replaced = { ino: d.ino, nlink: d.nlink };
      }
    }
    sd.delete(srcName);
    dd.set(dstName, sino);
    ws.delDirent(srcParent, srcName);
    ws.putDirent(dstParent, dstName, sino);
    if (sIsDir && srcParent !== dstParent) {
      sp.nlink -= 1;
      dp.nlink += 1;
      this.parents.set(sino, dstParent);
    }
    s.ctimeMs = now;
    sp.mtimeMs = sp.ctimeMs = now;
    dp.mtimeMs = dp.ctimeMs = now;
    ws.touchInode(sino, s);
    ws.touchInode(srcParent, sp);
    ws.touchInode(dstParent, dp);
    await this.commit(ws);
    return replaced;
  }

  // --- attributes and size ---------------------------------------------------------------

  /**
   * chmod/chown/utimens/truncate in one transaction. `mode` keeps the file type; a size
   * change goes through the truncate logic (regular files only: EISDIR, EINVAL).
   */
  async setattr(ino: number, attrs: SetAttr): Promise<void> {
    this.writable();
    const i = this.inode(ino);
    if (attrs.size !== undefined) {
      if (isDir(i)) throw fsError('EISDIR', `inode ${ino}`);
      if (!isReg(i)) throw fsError('EINVAL', `inode ${ino} is not a regular file`);
      checkSize(attrs.size, `inode ${ino}`);
    }
    for (const k of ['mode', 'uid', 'gid'] as const) {
      const v = attrs[k];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw fsError('EINVAL', `bad ${k} ${v}`);
    }
    for (const k of ['atimeMs', 'mtimeMs'] as const) {
      const v = attrs[k];
      if (v !== undefined && !Number.isFinite(v)) throw fsError('EINVAL', `bad ${k} ${v}`);
    }
    const ws = new WriteSet();
    const now = Date.now();
    const freed = attrs.size !== undefined ? this.truncateIn(ws, i, attrs.size, now) : [];
    if (attrs.mode !== undefined) i.mode = (i.mode & S_IFMT) | (attrs.mode & PERM_MASK);
    if (attrs.uid !== undefined) i.uid = attrs.uid;
    if (attrs.gid !== undefined) i.gid = attrs.gid;
    if (attrs.atimeMs !== undefined) i.atimeMs = attrs.atimeMs;
    if (attrs.mtimeMs !== undefined) i.mtimeMs = attrs.mtimeMs;
    i.ctimeMs = now;
    ws.touchInode(ino, i);
    await this.commit(ws, freed);
  }

  /**
   * Set the size of regular file `ino`: blocks wholly past the new end are unmapped and
   * freed (reusable once the transaction is durable); a longer size leaves a hole.
   * Resolves when committed and the freed blocks are back in the allocator.
   */
  truncate(ino: number, newSize: number): Promise<void> {
    return this.setattr(ino, { size: newSize });
  }

  /** Context: validated; records into `ws`; returns the runs to release after commit. */
  private truncateIn(ws: WriteSet, i: InodeState, size: number, now: number): Run[] {
    i.size = size;
    i.mtimeMs = i.ctimeMs = now;
    const m = this.extents.get(i.ino);
    return m ? this.punchIn(ws, i.ino, m, Math.ceil(size / BLOCK_SIZE), Infinity) : [];
  }

  /** Unmap [from, to) of a file and put its blocks on the durable free list. */
  private punchIn(ws: WriteSet, ino: number, m: ExtentMap, from: number, to: number): Run[] {
    const { freed, changes } = m.punch(from, to);
    ws.extentChanges(ino, changes);
    const runs = freed.map((e) => ({ start: e.devBlock, len: e.len }));
    for (const r of runs) ws.freeChanges(this.alloc.freeDurable(r));
    if (m.count === 0) this.extents.delete(ino);
    return runs;
  }

  // --- extents ---------------------------------------------------------------------------

  /**
   * Where file blocks [fileBlock, fileBlock+count) live: pieces in order covering the
   * range exactly, `devBlock` undefined for holes, device-contiguous pieces merged.
   * Context: the read path; synchronous, no allocation beyond the result.
   */
  mapBlocks(ino: number, fileBlock: number, count: number): BlockMapping[] {
    if (!this.inodes.has(ino)) throw fsError('ENOENT', `no inode ${ino}`);
    if (!Number.isSafeInteger(fileBlock) || fileBlock < 0 || !Number.isSafeInteger(count) || count <= 0) {
      throw fsError('EINVAL', `mapBlocks(${fileBlock}, ${count})`);
    }
    const m = this.extents.get(ino);
    return m ? m.map(fileBlock, count) : [{ fileBlock, devBlock: undefined, len: count }];
  }

  /**
   * Reserve `count` device blocks for file blocks [fileBlock, fileBlock+count) (holes
   * found with mapBlocks). Runs come in file order: the first run backs the first blocks.
   * The goal is the block continuing the file's previous extent (or its in-flight
   * reservation), so sequential writes stay contiguous. ENOSPC reserves nothing.
   * Context: call attachExtents after the data is written, or unreserve if it failed.
   */
  allocateBlocks(ino: number, fileBlock: number, count: number): Run[] {
    this.writable();
    const i = this.inode(ino);
    if (!isReg(i)) throw fsError(isDir(i) ? 'EISDIR' : 'EINVAL', `inode ${ino} is not a regular file`);
    if (!Number.isSafeInteger(fileBlock) || fileBlock < 0 || !Number.isSafeInteger(count) || count <= 0) {
      throw fsError('EINVAL', `allocateBlocks(${fileBlock}, ${count})`);
    }
    if ((fileBlock + count) * BLOCK_SIZE > MAX_FILE_SIZE) throw fsError('EFBIG', `block ${fileBlock + count} is past the largest file`);
    const last = this.lastReserved.get(ino);
    const goal = last && last.fileEnd === fileBlock ? last.devEnd : this.extents.get(ino)?.goalFor(fileBlock);
    const runs = this.alloc.allocate(count, goal, ino);
    const end = runs[runs.length - 1]!;
    this.lastReserved.set(ino, { fileEnd: fileBlock + count, devEnd: end.start + end.len });
    return runs;
  }

  /** Whether every block of `run` is reserved (allocated and not attached yet). */
  isReserved(run: Run): boolean {
    return this.alloc.isReserved(run);
  }

  /** Give back runs from allocateBlocks whose write failed (or was abandoned). */
  unreserve(runs: readonly Run[]): void {
    this.alloc.unreserve(runs);
  }

  /**
   * Attach written blocks to file `ino` in one transaction: the runs leave the durable
   * free list, the extents join the file's map (merged with neighbours contiguous in the
   * file and on the device; a range already mapped is replaced and its old blocks freed),
   * i_size grows to `newSize` if larger, mtime/ctime are set. `maps = []` just records
   * an in-place overwrite (size, mtime). Resolves when committed.
   * Context: ONLY after the data writes to these blocks completed (the ordered rule).
   * On rejection before the commit the runs are still reserved: unreserve them.
   */
  async attachExtents(ino: number, maps: readonly Extent[], newSize?: number): Promise<void> {
    await this.attachExtentsBatch([{ ino, maps, ...(newSize === undefined ? {} : { newSize }) }]);
  }

  /**
   * attachExtents for several files in ONE transaction (a writeback batch: its data is all
   * on the device). Every item is checked before anything changes: a bad item changes
   * nothing and leaves every run reserved. Context as attachExtents.
   */
  async attachExtentsBatch(items: readonly AttachItem[]): Promise<void> {
    this.writable();
    for (const { ino, maps, newSize } of items) this.checkAttach(ino, maps, newSize);
    const ws = new WriteSet();
    const now = Date.now();
    let freed: Run[] = [];
    for (const item of items) freed = freed.concat(this.attachIn(ws, item, now));
    await this.commit(ws, freed);
  }

  /** Throws (changing nothing) unless `maps` may be attached to `ino`. */
  private checkAttach(ino: number, maps: readonly Extent[], newSize: number | undefined): void {
    const i = this.inode(ino);
    if (!isReg(i)) throw fsError(isDir(i) ? 'EISDIR' : 'EINVAL', `inode ${ino} is not a regular file`);
    if (newSize !== undefined) checkSize(newSize, `inode ${ino}`);
    for (const e of maps) {
      if (![e.fileBlock, e.devBlock, e.len].every(Number.isSafeInteger) || e.fileBlock < 0 || e.len <= 0) {
        throw fsError('EINVAL', `bad extent ${e.fileBlock}->${e.devBlock}+${e.len}`);
      }
      if (!this.alloc.isReserved({ start: e.devBlock, len: e.len })) {
        throw fsError('EINVAL', `blocks ${e.devBlock}+${e.len} were not reserved by allocateBlocks`);
      }
    }
    const overlaps = (key: 'fileBlock' | 'devBlock'): boolean => {
      const s = [...maps].sort((a, b) => a[key] - b[key]);
      return s.some((e, k) => k > 0 && s[k - 1]![key] + s[k - 1]!.len > e[key]);
    };
    if (overlaps('fileBlock') || overlaps('devBlock')) throw fsError('EINVAL', 'attachExtents: extents overlap');
  }

  /** Context: checked by checkAttach; records into `ws`; returns the runs to release after commit. */
  private attachIn(ws: WriteSet, { ino, maps, newSize, keepTimes }: AttachItem, now: number): Run[] {
    const i = this.inode(ino);
    let freed: Run[] = [];
    if (maps.length > 0) {
      let m = this.extents.get(ino);
      if (!m) this.extents.set(ino, (m = new ExtentMap()));
      for (const e of maps) {
        freed = freed.concat(this.punchIn(ws, ino, m, e.fileBlock, e.fileBlock + e.len));
        if (!this.extents.has(ino)) this.extents.set(ino, m); // punchIn drops an emptied map
        ws.freeChanges(this.alloc.commitAllocated({ start: e.devBlock, len: e.len }));
        ws.extentChanges(ino, m.insert(e));
      }
    }
    if (newSize !== undefined && newSize > i.size) i.size = newSize;
    if (keepTimes !== true) i.mtimeMs = i.ctimeMs = now;
    ws.touchInode(ino, i);
    return freed;
  }

  /**
   * file_update_time for a buffered write whose data is only dirty in the page cache: the
   * new mtime/ctime are in memory now and reach LMDB with the writeback that commits the
   * data (or any earlier commit of the inode).
   */
  touchTimes(ino: number): void {
    const i = this.inode(ino);
    i.mtimeMs = i.ctimeMs = Date.now();
  }

  /** Blocks allocateBlocks can hand out now. */
  get freeBlocks(): number {
    return this.alloc.freeBlocks;
  }

  /**
   * Remove inode `ino` (nlink 0: unlinked, and no one has it open) with its extents; its
   * blocks are reusable once this is durable. EINVAL if it still has links.
   */
  async freeInode(ino: number): Promise<void> {
    this.writable();
    const i = this.inode(ino);
    if (i.nlink > 0 || ino === ROOT_INO) throw fsError('EINVAL', `inode ${ino} still has ${i.nlink} links`);
    const ws = new WriteSet();
    const m = this.extents.get(ino);
    const freed = m ? this.punchIn(ws, ino, m, 0, Infinity) : [];
    this.extents.delete(ino);
    this.inodes.delete(ino);
    this.dirs.delete(ino);
    this.lastReserved.delete(ino);
    this.alloc.forgetOwner(ino);
    ws.delInode(ino);
    await this.commit(ws, freed);
  }

  /** Free and reserved figures, for tests and the consistency check. */
  allocatorState(): { free: number; reserved: number; durableFree: number; extents: Run[] } {
    return {
      free: this.alloc.freeBlocks,
      reserved: this.alloc.reservedBlocks,
      durableFree: this.alloc.durableFreeBlocks,
      extents: this.alloc.availExtents(),
    };
  }

  /** The extents of file `ino` in file order (copies). */
  fileExtents(ino: number): Extent[] {
    return this.extents.get(ino)?.toArray() ?? [];
  }
}
