/**
 * The in-process API: `import { openStore } from 'aheadfs'`. A program opens a store the
 * way a mount does (same layers: page cache, readahead, block queue, device; openFilesystem
 * in src/vfs), without FUSE, and reads and writes its files directly, or through the
 * kioctx (src/aio/kioctx.ts: io_setup / io_submit / io_getevents / io_cancel / io_destroy),
 * which is how one submitter gets many buffered reads in flight.
 *
 *   openStore(path, { readOnly?, kernel?, ...mount options })
 *     │ lock: read-write = the mount's exclusive OFD lock (lockStore); read-only = a shared
 *     │       one on the superblock (lockStoreShared): a mounted store is refused (EBUSY)
 *     └─▶ Store ── open(path) ─▶ StoreFile { fd, read, write, stat, close }
 *              ├── ioSetup(n) ─▶ Kioctx; ioSubmit / ioGetevents / ioCancel / ioDestroy
 *              ├── stat, readdir, sync, dropCaches, diskstats, counters
 *              └── close(): destroy contexts, close files, write back, release the lock
 *
 * A read-only store opens its block files O_RDONLY and its metadata read-only, recovers
 * nothing, and refuses every change with EROFS. Errors are FsError (src/errors.ts) with a
 * POSIX code; in kioctx events they are -errno.
 */

import { constants } from 'node:fs';
import { lockStore, lockStoreShared, type StoreLock } from '../fs/store-lock.js';
import { readSuperblock } from '../fs/superblock.js';
import { fsError } from '../errors.js';
import type { FaultConfig } from '../block/fault-inject.js';
import type { NbdMountOptions } from '../block/open.js';
import type { KernelVersion } from '../mm/pagecache.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem, type OpenedFs } from '../vfs/index.js';
import type { Attr, Caller, DirEntry } from '../vfs/types.js';
import { AioSystem, Kioctx, type AioFile, type Iocb, type IoEvent } from '../aio/kioctx.js';

export { FsError, isFsError, type ErrorCode } from '../errors.js';
export type { Attr, DirEntry } from '../vfs/types.js';
export type { KernelVersion } from '../mm/pagecache.js';
export { AIO_MAX_NR_DEFAULT, aioRingSize, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, Kioctx, RWF_NOWAIT, type Iocb, type IoEvent } from '../aio/kioctx.js';
export { DS as DISKSTATS } from '../block/diskstats.js';

// The open flags the vfs takes are Linux's: Node's own constants, as fuse-native passes them.
const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC } = constants;
const O_ACCMODE = O_RDONLY | O_WRONLY | O_RDWR;

/** openStore's options: the mount's (aheadfs mount --help), in bytes and numbers. */
export interface OpenStoreOptions {
  /** Open read-only: nothing on disk changes; writes are EROFS. Default false. */
  readOnly?: boolean;
  /** Whose read loop and readahead: '6.18' (default) or '4.18' (--kernel). */
  kernel?: KernelVersion;
  /** Page cache size in bytes (--cache-size; default 256 MiB). */
  cacheBytes?: number;
  /** Largest readahead window (--read-ahead-kb; default 128). */
  readAheadKb?: number;
  /** Largest request (--max-sectors-kb; default 1280). */
  maxSectorsKb?: number;
  /** Requests in flight on the device (--nr-requests; default 64). */
  nrRequests?: number;
  /** I/O scheduler (--scheduler; default mq-deadline). */
  scheduler?: 'none' | 'mq-deadline';
  /** Readahead policy (--ra-policy; default ondemand). */
  raPolicy?: 'ondemand' | 'none';
  /** Batched readahead through readpages (--readpages; default true). */
  readpages?: boolean;
  /** fail_make_request and delays (--fail-*, --delay-*-us). */
  faults?: Partial<FaultConfig>;
  /** NBD connection settings (stores on an NBD export). */
  nbd?: NbdMountOptions;
  /**
   * The trace ring (`tunables/trace` of a mount; default on, as at a mount). Off saves
   * formatting several lines per cold read: `engine.trace` holds them when on.
   */
  trace?: boolean;
  /** /proc/sys/fs/aio-max-nr for this store's kioctxs (default 65536). */
  aioMaxNr?: number;
  /** Where the engine logs (default: nowhere). */
  log?: (msg: string) => void;
}

/** Options of Store.open, like open(2)'s flags. */
export interface OpenFileOptions {
  /** O_RDWR (default: O_RDONLY). */
  write?: boolean;
  /** O_CREAT: create the file if it does not exist (with `mode`, default 0o644). */
  create?: boolean;
  /** O_EXCL with create: fail with EEXIST if it exists. */
  exclusive?: boolean;
  /** O_TRUNC. */
  truncate?: boolean;
  mode?: number;
}

const processCaller = (): Caller => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });

/**
 * Open the store at `path` in this process. Read-write takes the store's exclusive lock
 * (as `aheadfs mount` does); read-only a shared lock. Either way a mounted store (or one
 * fsck or mkfs is using) is refused with FsError EBUSY, and a mount is refused while the
 * store is open here; a directory that is not a store is EINVAL (nothing is created).
 * Close the store with `close()`.
 */
export async function openStore(path: string, options: OpenStoreOptions = {}): Promise<Store> {
  const readOnly = options.readOnly === true;
  // Not a store (no superblock): EINVAL before the lock, which would create a lock file.
  await readSuperblock(path);
  const lock = readOnly ? await lockStoreShared(path) : await lockStore(path);
  try {
    const { readOnly: _ro, aioMaxNr, log, trace, ...mount } = options;
    const fs = await openFilesystem(path, { ...DEFAULT_MOUNT_OPTIONS, ...mount, readOnly, log: log ?? (() => undefined) });
    fs.trace.enabled = trace ?? true;
    return new Store(path, fs, lock, { readOnly, aioMaxNr });
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** An open store (openStore). Not thread-safe: one JS thread uses it. */
export class Store {
  readonly readOnly: boolean;
  private readonly files = new Map<number, StoreFile>();
  private readonly contexts = new Set<Kioctx>();
  private readonly aio: AioSystem;
  private closing: Promise<void> | undefined;

  /** Use openStore. */
  constructor(
    readonly path: string,
    /** The engine's layers (cache, queue, vfs, stats, trace): for tools that look inside. */
    readonly engine: OpenedFs,
    private readonly lock: StoreLock,
    opts: { readOnly: boolean; aioMaxNr?: number | undefined },
  ) {
    this.readOnly = opts.readOnly;
    this.aio = new AioSystem(opts.aioMaxNr, (fd) => this.files.get(fd)?.aioFile, engine.stats);
  }

  private live(): void {
    if (this.closing) throw fsError('EBADF', `store ${this.path} is closed`);
  }

  /** Open a regular file (or create it); its `fd` is what iocbs name. */
  async open(path: string, opts: OpenFileOptions = {}): Promise<StoreFile> {
    this.live();
    const write = opts.write === true;
    if (this.readOnly && (write || opts.create === true || opts.truncate === true)) throw fsError('EROFS', `store ${this.path} is open read-only`);
    const flags = (write ? O_RDWR : O_RDONLY) | (opts.create ? O_CREAT : 0) | (opts.exclusive ? O_EXCL : 0) | (opts.truncate ? O_TRUNC : 0);
    const { vfs } = this.engine;
    let fd: number;
    if (opts.create === true) fd = await vfs.create(path, opts.mode ?? 0o644, flags, processCaller());
    else fd = await vfs.open(path, flags, processCaller());
    const file = new StoreFile(this, fd, path, flags);
    this.files.set(fd, file);
    return file;
  }

  /** stat(2) of a path. */
  stat(path: string): Promise<Attr> {
    this.live();
    return this.engine.vfs.getattr(path);
  }

  /** The entries of a directory ('.' and '..' first). */
  readdir(path: string): Promise<DirEntry[]> {
    this.live();
    return this.engine.vfs.readdir(path);
  }

  /**
   * drop_caches = 1: evict every clean, unlocked page. Returns the pages dropped. Dirty
   * pages stay (as the kernel's): call sync() first to drop everything.
   */
  dropCaches(): number {
    return this.engine.cache.dropCaches();
  }

  /** syncfs: every dirty page written back, the device and the metadata flushed. */
  sync(): Promise<void> {
    this.live();
    return this.engine.vfs.syncfs();
  }

  /** The 17 fields of the device's /sys/block/<dev>/stat (index with DISKSTATS). */
  diskstats(): number[] {
    return this.engine.queue.diskstats();
  }

  /** Every counter and gauge (`.aheadfs/stats`). */
  counters(): Record<string, number> {
    return this.engine.stats.snapshot();
  }

  /** io_setup: a kioctx whose ring holds at least `nrEvents` events (see Kioctx). */
  ioSetup(nrEvents: number): Kioctx {
    this.live();
    const ctx = new Kioctx(this.aio, nrEvents);
    this.contexts.add(ctx);
    return ctx;
  }

  /** io_submit: how many were submitted; throws the first iocb's error if none was (EAGAIN: ring full). */
  ioSubmit(ctx: Kioctx, iocbs: readonly Iocb[]): number {
    return ctx.submit(iocbs);
  }

  /** io_getevents: between minNr and nr events; waits up to `timeoutMs` (undefined: for ever). */
  ioGetevents(ctx: Kioctx, minNr: number, nr: number, timeoutMs?: number): Promise<IoEvent[]> {
    return ctx.getevents(minNr, nr, timeoutMs);
  }

  /** io_cancel: a read waiting for I/O completes with res -ECANCELED; EINVAL otherwise. */
  ioCancel(ctx: Kioctx, iocb: Iocb): void {
    ctx.cancel(iocb);
  }

  /** io_destroy: cancel, drop unreaped events, wait for the I/O in flight. */
  async ioDestroy(ctx: Kioctx): Promise<void> {
    this.contexts.delete(ctx);
    await ctx.destroy();
  }

  /** @internal StoreFile.close. */
  async closeFile(file: StoreFile): Promise<void> {
    if (!this.files.delete(file.fd)) throw fsError('EBADF', `fd ${file.fd} is not open`);
    await this.engine.vfs.release(file.fd);
  }

  /**
   * Destroy every kioctx (waiting for their I/O), close every file, write back and flush,
   * close the store and release its lock. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        for (const ctx of [...this.contexts]) if (!ctx.destroyed) await this.ioDestroy(ctx);
        this.files.clear();
        await this.engine.vfs.shutdown();
      } finally {
        this.lock.release();
      }
    })();
    return this.closing;
  }
}

/** An open file of a Store (struct file): its own readahead state, the shared page cache. */
export class StoreFile {
  /** @internal What the kioctx uses. */
  readonly aioFile: AioFile;

  /** Use Store.open. */
  constructor(
    private readonly store: Store,
    /** The file descriptor for iocbs (aio_fildes). */
    readonly fd: number,
    readonly path: string,
    flags: number,
  ) {
    const { vfs } = store.engine;
    const mapping = vfs.files.get(fd)!.mapping;
    const acc = flags & O_ACCMODE;
    this.aioFile = {
      readable: acc === O_RDONLY || acc === O_RDWR,
      writable: acc === O_WRONLY || acc === O_RDWR,
      mapping,
      read: (buf, len, pos, done) => vfs.read(fd, buf, len, pos, done),
      write: (buf, len, pos) => vfs.write(fd, buf, len, pos, processCaller()),
    };
  }

  /** pread: up to `len` (default buf.length) bytes at `pos` into buf; resolves with the bytes read (0 at EOF). */
  read(buf: Uint8Array, pos: number, len: number = buf.byteLength): Promise<number> {
    return new Promise((resolve, reject) => this.store.engine.vfs.read(this.fd, buf, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
  }

  /** pwrite: `len` (default buf.length) bytes of buf at `pos` (write-through); EROFS on a read-only store, EBADF if not opened for writing. */
  async write(buf: Uint8Array, pos: number, len: number = buf.byteLength): Promise<number> {
    if (this.store.readOnly) throw fsError('EROFS', `store ${this.store.path} is open read-only`);
    return this.store.engine.vfs.write(this.fd, buf, len, pos, processCaller());
  }

  /** fstat. */
  stat(): Promise<Attr> {
    return this.store.engine.vfs.fgetattr(this.fd);
  }

  /** fsync: the data and metadata written so far are durable. */
  fsync(): Promise<void> {
    return this.store.engine.vfs.fsync(this.fd, false);
  }

  /** close: the file's readahead state goes; its pages stay cached. */
  close(): Promise<void> {
    return this.store.closeFile(this);
  }
}

/** io_submit(ctx, iocbs): Store.ioSubmit. */
export function ioSubmit(ctx: Kioctx, iocbs: readonly Iocb[]): number {
  return ctx.submit(iocbs);
}

/** io_getevents(ctx, minNr, nr, timeout): Store.ioGetevents. */
export function ioGetevents(ctx: Kioctx, minNr: number, nr: number, timeoutMs?: number): Promise<IoEvent[]> {
  return ctx.getevents(minNr, nr, timeoutMs);
}

/** io_cancel(ctx, iocb): Store.ioCancel. */
export function ioCancel(ctx: Kioctx, iocb: Iocb): void {
  ctx.cancel(iocb);
}

/** io_destroy(ctx): Store.ioDestroy. */
export function ioDestroy(ctx: Kioctx): Promise<void> {
  return ctx.destroy();
}
