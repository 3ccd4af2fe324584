/**
 * The LMDB side of the metadata store: the environment in `<store>/meta/`, its databases,
 * how keys are laid out, and the write set that one metadata operation commits.
 *
 *   db        key                         value
 *   inodes    ino                         { mode, uid, gid, size, nlink, atimeMs, mtimeMs, ctimeMs, target?, rdev? }
 *             (the type is in mode: regular, directory, symlink, FIFO, socket, char or block
 *             device; rdev only on devices, so stores made before devices existed read alike;
 *             times are ms with a fraction to the microsecond)
 *   dirents   [parentIno, name]           childIno         (range scan [p] .. [p+1] = one directory)
 *   extents   [ino, fileBlock]            [devBlock, len]  (range scan [ino] .. [ino+1] = one file)
 *   free      startBlock                  len              (free device extents, merged)
 *   misc      'nextIno' | 'deviceBlocks' | 'schema'
 *
 * Keys use lmdb-js' ordered-binary encoding: numbers sort numerically and an array key
 * sorts by its first element, then the next, so every per-parent and per-file range is
 * contiguous. Names cannot hold NUL (POSIX forbids it anyway).
 *
 * Writes: meta.ts changes its in-memory mirror synchronously and records the same change
 * here in a `WriteSet`; `commit` runs the set as one lmdb-js async `transaction()`, which
 * the library batches with the other transactions queued in the same event turn (one
 * fsync for many operations) and runs in the order they were queued. LMDB is copy-on-write
 * with a two-meta-page commit, so a kill -9 at any moment leaves the last committed state.
 * With lmdb-js' default `overlappingSync` (Linux) a commit resolves when it is visible and
 * the disk flush follows; `flushed()` waits for that flush.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { fsError } from '../errors.js';
import type { Change } from './alloc.js';
import type { Extent, ExtentChange } from './extents.js';
import { checkMetaDir } from './store-files.js';
import { META_DIR } from './superblock.js';

/** The on-disk layout of meta/; bump when the records change shape. */
export const META_SCHEMA = 1;
/** Named databases in the environment (5 used, room to grow). */
export const MAX_DBS = 12;

/** An inode as stored (the ino is the key). */
export interface StoredInode {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /** Symlinks only. */
  target?: string;
  /** Character and block devices only. */
  rdev?: number;
}

type MiscKey = 'nextIno' | 'deviceBlocks' | 'schema';

/** Everything in meta/, read at open. */
export interface LoadedMeta {
  inodes: Map<number, StoredInode>;
  dirents: { parent: number; name: string; ino: number }[];
  extents: Map<number, Extent[]>;
  free: { start: number; len: number }[];
  nextIno: number | undefined;
  deviceBlocks: number | undefined;
  schema: number | undefined;
}

function copyInode(i: StoredInode): StoredInode {
  const out: StoredInode = {
    mode: i.mode,
    uid: i.uid,
    gid: i.gid,
    size: i.size,
    nlink: i.nlink,
    atimeMs: i.atimeMs,
    mtimeMs: i.mtimeMs,
    ctimeMs: i.ctimeMs,
  };
  if (i.target !== undefined) out.target = i.target;
  if (i.rdev !== undefined) out.rdev = i.rdev;
  return out;
}

/**
 * The records one operation changes, applied in order inside one transaction. Inodes are
 * "touched" (the live object is remembered) and copied when the set is sealed, so an
 * operation may change an inode after touching it.
 */
export class WriteSet {
  private readonly ops: ((db: MetaDb) => void)[] = [];
  private readonly touched = new Map<number, StoredInode>();
  private sealed = false;

  touchInode(ino: number, inode: StoredInode): void {
    this.touched.set(ino, inode);
  }

  delInode(ino: number): void {
    this.touched.delete(ino);
    this.ops.push((d) => d.inodes.removeSync(ino));
  }

  putDirent(parent: number, name: string, ino: number): void {
    this.ops.push((d) => d.dirents.putSync([parent, name], ino));
  }

  delDirent(parent: number, name: string): void {
    this.ops.push((d) => d.dirents.removeSync([parent, name]));
  }

  extentChanges(ino: number, changes: readonly ExtentChange[]): void {
    for (const c of changes) {
      if (c.kind === 'put') {
        const { fileBlock, devBlock, len } = c.ext;
        this.ops.push((d) => d.extents.putSync([ino, fileBlock], [devBlock, len]));
      } else {
        const fileBlock = c.fileBlock;
        this.ops.push((d) => d.extents.removeSync([ino, fileBlock]));
      }
    }
  }

  freeChanges(changes: readonly Change[]): void {
    for (const c of changes) {
      if (c.kind === 'put') {
        const { start, len } = c;
        this.ops.push((d) => d.free.putSync(start, len));
      } else {
        const start = c.start;
        this.ops.push((d) => d.free.removeSync(start));
      }
    }
  }

  putMisc(key: MiscKey, value: number): void {
    this.ops.push((d) => d.misc.putSync(key, value));
  }

  /** Copy the touched inodes into the set; no change is recorded after this. */
  seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    for (const [ino, inode] of this.touched) {
      const v = copyInode(inode);
      this.ops.push((d) => d.inodes.putSync(ino, v));
    }
    this.touched.clear();
  }

  get empty(): boolean {
    return this.ops.length === 0 && this.touched.size === 0;
  }

  /** Context: inside the LMDB write transaction. */
  apply(db: MetaDb): void {
    for (const op of this.ops) op(db);
  }
}

export class MetaDb {
  private constructor(
    readonly root: RootDatabase,
    readonly inodes: Database<StoredInode, number>,
    readonly dirents: Database<number, [number, string]>,
    readonly extents: Database<[number, number], [number, number]>,
    readonly free: Database<number, number>,
    readonly misc: Database<number, MiscKey>,
  ) {}

  /**
   * Open `<store>/meta`. With `create: false` a missing meta/ is FsError EINVAL (LMDB
   * would silently make an empty one). `readOnly`: LMDB's MDB_RDONLY (no write transaction
   * can start; the in-process API's read-only stores).
   */
  static open(store: string, opts: { create: boolean; readOnly?: boolean }): MetaDb {
    const path = join(store, META_DIR);
    // LMDB opens its files following symlinks: make sure there are none.
    checkMetaDir(store, { required: false });
    if (!opts.create && !existsSync(join(path, 'data.mdb'))) {
      throw fsError('EINVAL', `${store} has no metadata (${META_DIR}/data.mdb is missing)`);
    }
    let root: RootDatabase;
    try {
      root = open({ path, maxDbs: MAX_DBS, ...(opts.readOnly === true ? { readOnly: true } : {}) });
    } catch (err) {
      throw fsError('EIO', `cannot open ${path}: ${(err as Error).message}`, err);
    }
    return new MetaDb(
      root,
      root.openDB<StoredInode, number>('inodes', {}),
      root.openDB<number, [number, string]>('dirents', {}),
      root.openDB<[number, number], [number, number]>('extents', {}),
      root.openDB<number, number>('free', {}),
      root.openDB<number, MiscKey>('misc', {}),
    );
  }

  /** Read everything (at open: the in-memory mirror is built from this). */
  load(): LoadedMeta {
    const inodes = new Map<number, StoredInode>();
    for (const { key, value } of this.inodes.getRange()) inodes.set(key, value);
    const dirents: LoadedMeta['dirents'] = [];
    for (const { key, value } of this.dirents.getRange()) dirents.push({ parent: key[0], name: key[1], ino: value });
    const extents = new Map<number, Extent[]>();
    for (const { key, value } of this.extents.getRange()) {
      const [ino, fileBlock] = key;
      let list = extents.get(ino);
      if (!list) extents.set(ino, (list = []));
      list.push({ fileBlock, devBlock: value[0], len: value[1] });
    }
    const free: LoadedMeta['free'] = [];
    for (const { key, value } of this.free.getRange()) free.push({ start: key, len: value });
    return {
      inodes,
      dirents,
      extents,
      free,
      nextIno: this.misc.get('nextIno'),
      deviceBlocks: this.misc.get('deviceBlocks'),
      schema: this.misc.get('schema'),
    };
  }

  /** Commit a write set as one transaction; resolves when committed (visible, crash-safe against kill -9). */
  commit(ws: WriteSet): Promise<void> {
    ws.seal();
    return this.root.transaction(() => ws.apply(this)).then(() => undefined);
  }

  /** Resolves when everything committed so far is flushed to the disk. */
  async flushed(): Promise<void> {
    await this.root.flushed;
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
