/**
 * BlockFilesDevice, the default BlockDevice (blockdev.ts): a fixed array of preallocated
 * block files read and written with O_DIRECT (so that aheadfs' page cache is the only
 * cache and the disk is really hit).
 *
 *   sector s (512 B) -> byte pos = s * 512
 *                    -> file  floor(pos / fileSize), offset pos mod fileSize
 *
 *   blocks/000000.blk          blocks/000001.blk          blocks/000002.blk
 *   |--------------------------|--------------------------|-------------------------|
 *                     [====== one request ======]
 *                     |<- part 0 ->|<-- part 1 -->|        split at the file boundary;
 *                                                           a segment crossing it is cut
 *                                                           with subarray()
 *
 * Each part is one preadv/pwritev (fs.readv/fs.writev: libuv thread pool, explicit
 * position), or several if it has more than IOV_MAX views; views that are adjacent in
 * memory (neighbouring frames of the arena) are coalesced first. A short transfer is continued; end of file
 * before the part is done is EIO (the files are preallocated, so it means a damaged store).
 *
 * O_DIRECT is probed at open with an aligned 4 KiB read of file 0; EINVAL (tmpfs, some
 * FUSE and overlay setups) reopens every file buffered, logs it once and reports
 * `direct_io 0`. Under O_DIRECT the caller's views must be aligned (arena frames are);
 * a misaligned view makes the kernel answer EINVAL, surfaced here as EIO. The probe uses
 * 4 KiB, so a device with a 4 KiB logical block size still works for page-sized I/O.
 *
 * Errors: bad arguments are FsError EINVAL; every fs error becomes FsError EIO (counted in
 * disk_errors). Nothing here throws synchronously out of an async method.
 */

import { dbg } from '../stats/debug.js';
import fs from 'node:fs';
import path from 'node:path';
import { fsError, isFsError, type FsError } from '../errors.js';
import type { Stats } from '../stats/registry.js';
import { allocAligned } from './aligned.js';
import { SECTOR_SHIFT, SECTOR_SIZE, type Sector } from './bio.js';
import type { BlockDevice, DeviceLimits } from './blockdev.js';
import type { LayerLog } from '../stats/kmsg.js';

/** Linux UIO_MAXIOV: the most views one readv/writev takes. */
export const IOV_MAX = 1024;
/** Bytes read by the O_DIRECT probe at open. */
export const DIRECT_PROBE_BYTES = 4096;
/** Block files are multiples of this. */
export const BLOCK_FILE_ALIGN = 4096;

export interface DeviceGeometry {
  /** Bytes per block file: a positive multiple of 4096. */
  blockFileSize: number;
  /** Number of block files (>= 1). */
  blockFileCount: number;
}

export interface BlockFilesDeviceOptions {
  stats: Stats;
  log?: LayerLog;
  /** true: O_DIRECT or fail (EINVAL); false: buffered, no probe; default: probe and fall back. */
  direct?: boolean;
  /** Open the block files O_RDONLY (writes then fail with EIO): the in-process API's read-only stores. */
  readOnly?: boolean;
}

/** One per-file piece of a request. */
export interface FilePart {
  file: number;
  /** Byte offset inside the file. */
  offset: number;
  bytes: number;
  views: Uint8Array[];
}

/** `blocks/000042.blk` */
export function blockFileName(index: number): string {
  return `${String(index).padStart(6, '0')}.blk`;
}

/** Where sector `s` lives. */
export function mapSector(sector: Sector, blockFileSize: number): { file: number; offset: number } {
  const pos = sector * SECTOR_SIZE;
  return { file: Math.floor(pos / blockFileSize), offset: pos % blockFileSize };
}

/**
 * Cut a request (device byte position + views) into per-file parts. A view that crosses a
 * file boundary is split with subarray (no copy). Exported for the sector-math tests.
 */
export function splitByFile(pos: number, segments: readonly Uint8Array[], blockFileSize: number): FilePart[] {
  const parts: FilePart[] = [];
  let cur: FilePart | undefined;
  for (const seg of segments) {
    let done = 0;
    while (done < seg.byteLength) {
      const file = Math.floor(pos / blockFileSize);
      const offset = pos % blockFileSize;
      if (!cur || cur.file !== file) {
        cur = { file, offset, bytes: 0, views: [] };
        parts.push(cur);
      }
      const n = Math.min(seg.byteLength - done, blockFileSize - offset);
      cur.views.push(n === seg.byteLength ? seg : seg.subarray(done, done + n));
      cur.bytes += n;
      done += n;
      pos += n;
    }
  }
  return parts;
}

/** Merge views that sit next to each other in the same buffer (neighbouring arena frames). */
export function coalesceViews(views: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  // One new view per run of neighbours (not one per merge step): this runs for every request.
  for (let i = 0; i < views.length; ) {
    const first = views[i]!;
    let end = first.byteOffset + first.byteLength;
    let j = i + 1;
    while (j < views.length && views[j]!.buffer === first.buffer && views[j]!.byteOffset === end) end += views[j++]!.byteLength;
    out.push(j === i + 1 ? first : new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset));
    i = j;
  }
  return out;
}

/** Drop the first `n` bytes of a view list (after a short transfer). */
function advanceViews(views: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (i < views.length && n >= views[i]!.byteLength) n -= views[i++]!.byteLength;
  const rest = views.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

// Promise wrappers over the callback API (each call is one libuv thread-pool job).
function fsOpen(p: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(p, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}
function fsClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}
function fsReadv(fd: number, views: Uint8Array[], pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.readv(fd, views, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
function fsFdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

function errCode(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function closeAll(fds: number[]): Promise<void> {
  await Promise.allSettled(fds.map((fd) => fsClose(fd)));
}

async function openAll(dir: string, count: number, flags: number): Promise<number[]> {
  const fds: number[] = [];
  try {
    for (let i = 0; i < count; i++) fds.push(await fsOpen(path.join(dir, blockFileName(i)), flags));
  } catch (err) {
    await closeAll(fds);
    throw err;
  }
  return fds;
}

export class BlockFilesDevice implements BlockDevice {
  readonly nrSectors: number;
  /** Files take any sector-aligned I/O (O_DIRECT: the frames are page-aligned); one request is any size. */
  readonly limits: DeviceLimits = { logicalBlockSize: SECTOR_SIZE, physicalBlockSize: 4096, maxTransferBytes: 2 ** 31 };
  /** fdatasync makes the written files durable. */
  readonly canFlush = true;
  private readonly fileSize: number;
  private readonly stats: Stats;
  /** Files written since the last flush (indexes). */
  private readonly dirty = new Set<number>();
  private closed = false;
  /** I/Os started and not finished; close() waits for them. */
  private pending = 0;
  private idleWaiters: (() => void)[] = [];

  private constructor(
    private readonly dir: string,
    geom: DeviceGeometry,
    private readonly fds: number[],
    readonly directIo: boolean,
    stats: Stats,
  ) {
    this.fileSize = geom.blockFileSize;
    this.nrSectors = (geom.blockFileSize * geom.blockFileCount) / SECTOR_SIZE;
    this.stats = stats;
  }

  get description(): string {
    return `block files in ${this.dir} (${this.directIo ? 'O_DIRECT' : 'buffered'})`;
  }

  /**
   * Open every block file O_RDWR|O_DIRECT and probe; fall back to buffered on EINVAL.
   * Rejects with FsError: EINVAL for a bad geometry (or direct: true refused), the fs
   * error's code (ENOENT, EACCES, ...) when a block file cannot be opened.
   */
  static async open(blocksDir: string, geom: DeviceGeometry, opts: BlockFilesDeviceOptions): Promise<BlockFilesDevice> {
    const { blockFileSize, blockFileCount } = geom;
    if (!Number.isSafeInteger(blockFileSize) || blockFileSize <= 0 || blockFileSize % BLOCK_FILE_ALIGN !== 0) {
      throw fsError('EINVAL', `block file size ${blockFileSize} is not a positive multiple of ${BLOCK_FILE_ALIGN}`);
    }
    if (!Number.isSafeInteger(blockFileCount) || blockFileCount < 1) {
      throw fsError('EINVAL', `block file count ${blockFileCount} must be an integer >= 1`);
    }
    const log = opts.log ?? (() => {});
    // O_NOFOLLOW: a block file that is a symlink is refused, never followed.
    const baseFlags = (opts.readOnly === true ? fs.constants.O_RDONLY : fs.constants.O_RDWR) | fs.constants.O_NOFOLLOW;
    const oDirect: number | undefined = fs.constants.O_DIRECT;

    let fds: number[] | undefined;
    let refused: string | undefined;
    if (opts.direct !== false) {
      if (oDirect === undefined) {
        refused = 'O_DIRECT is not available on this platform';
      } else {
        try {
          fds = await openAll(blocksDir, blockFileCount, baseFlags | oDirect);
        } catch (err) {
          if (errCode(err) !== 'EINVAL') throw wrapOpenError(err, blocksDir);
          refused = `open: ${message(err)}`;
        }
        if (fds) {
          const probe = await directProbe(fds[0]!);
          if (probe !== undefined) {
            await closeAll(fds);
            fds = undefined;
            if (errCode(probe) !== 'EINVAL') throw fsError('EIO', `O_DIRECT probe of ${blocksDir}: ${message(probe)}`, probe);
            refused = `probe read: ${message(probe)}`;
          }
        }
      }
      if (!fds && opts.direct === true) throw fsError('EINVAL', `O_DIRECT refused on ${blocksDir}: ${refused}`);
    }
    const directIo = fds !== undefined;
    if (!fds) {
      if (refused !== undefined) log(`block device ${blocksDir}: O_DIRECT refused (${refused}); using buffered I/O`, { level: 'warn', subsystem: 'blkdev' });
      try {
        fds = await openAll(blocksDir, blockFileCount, baseFlags);
      } catch (err) {
        throw wrapOpenError(err, blocksDir);
      }
    }
    try {
      await checkSizes(blocksDir, fds, blockFileSize);
    } catch (err) {
      await closeAll(fds);
      throw err;
    }
    const dev = new BlockFilesDevice(blocksDir, geom, fds, directIo, opts.stats);
    dbg.block('opened %d block files of %d bytes in %s, %s', blockFileCount, geom.blockFileSize, blocksDir, directIo ? 'O_DIRECT' : 'buffered');
    opts.stats.gauge('direct_io', () => (dev.directIo ? 1 : 0));
    return dev;
  }

  /** Read `sum(segments)` bytes at `sector` into the views. Rejects with FsError EINVAL / EIO. */
  read(sector: Sector, segments: Uint8Array[]): Promise<void> {
    return new Promise((resolve, reject) => this.transfer('read', sector, segments, (err) => (err ? reject(err) : resolve())));
  }

  /** Write the views at `sector`. Durable only after `flush()`. */
  write(sector: Sector, segments: Uint8Array[]): Promise<void> {
    return new Promise((resolve, reject) => this.transfer('write', sector, segments, (err) => (err ? reject(err) : resolve())));
  }

  /** fdatasync every file written since the last flush (one disk_flushes per file). */
  async flush(): Promise<void> {
    if (this.closed) throw fsError('EIO', `block device ${this.dir} is closed`);
    const files = [...this.dirty];
    // Cleared before syncing: a write that ends during the sync marks its file again.
    this.dirty.clear();
    this.pending++;
    try {
      const results = await Promise.allSettled(
        files.map(async (f) => {
          this.stats.c.disk_flushes++;
          await fsFdatasync(this.fds[f]!);
        }),
      );
      let first: unknown;
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          this.stats.c.disk_errors++;
          this.dirty.add(files[i]!); // still not known durable
          first ??= r.reason;
        }
      });
      if (first !== undefined) throw fsError('EIO', `fdatasync ${this.dir}: ${message(first)}`, first);
    } finally {
      this.ioDone();
    }
  }

  /** Wait for I/O in progress, then close every file. Later calls reject with EIO. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.pending > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await closeAll(this.fds);
  }

  /**
   * The request queue's way in (QueueDevice.transfer): the transfer in callback form, so
   * that the request's completion runs straight from the thread pool's callback, with no
   * promise per hop. `done` is called exactly once, never synchronously, with undefined
   * or an FsError (EINVAL for bad arguments, else EIO).
   */
  transfer(op: 'read' | 'write', sector: Sector, segments: Uint8Array[], done: (err: FsError | undefined) => void): void {
    const refused = this.checkIo(op, sector, segments);
    if (refused !== undefined) {
      queueMicrotask(() => done(refused));
      return;
    }
    const parts = splitByFile(sector * SECTOR_SIZE, segments, this.fileSize);
    this.pending++;
    let left = parts.length;
    let first: FsError | undefined;
    const partDone = (err: FsError | undefined): void => {
      first ??= err;
      if (--left > 0) return;
      this.ioDone();
      done(first);
    };
    for (const p of parts) this.transferPart(op, p, partDone);
  }

  /** Why a transfer is refused before it starts (closed device, bad sector or size), or undefined. */
  private checkIo(op: 'read' | 'write', sector: Sector, segments: Uint8Array[]): FsError | undefined {
    if (this.closed) return fsError('EIO', `block device ${this.dir} is closed`);
    let bytes = 0;
    for (const s of segments) bytes += s.byteLength;
    if (!Number.isSafeInteger(sector) || sector < 0) return fsError('EINVAL', `${op}: bad sector ${sector}`);
    if (bytes === 0 || bytes % SECTOR_SIZE !== 0) return fsError('EINVAL', `${op}: size ${bytes} is not a positive multiple of ${SECTOR_SIZE}`);
    const nr = bytes >> SECTOR_SHIFT;
    if (sector + nr > this.nrSectors) return fsError('EINVAL', `${op}: sectors ${sector}+${nr} beyond the device end ${this.nrSectors}`);
    return undefined;
  }

  /**
   * One part: preadv/pwritev until all of it is done (a short transfer is continued), at
   * most IOV_MAX views per call; then `done` once.
   */
  private transferPart(op: 'read' | 'write', part: FilePart, done: (err: FsError | undefined) => void): void {
    const fd = this.fds[part.file]!;
    const { c } = this.stats;
    let views = coalesceViews(part.views);
    let pos = part.offset;
    let left = part.bytes;
    const finish = (err: unknown): void => {
      // Marked when the write has ended (even part of it), not when it starts: a flush
      // that began meanwhile cleared the set and may not cover it; the next one must.
      if (op === 'write') this.dirty.add(part.file);
      done(err === undefined ? undefined : this.ioError(err, `${op} ${blockFileName(part.file)} at ${pos}`));
    };
    const step = (): void => {
      const iov = views.length <= IOV_MAX ? views : views.slice(0, IOV_MAX);
      try {
        if (op === 'read') {
          c.disk_read_ios++;
          fs.readv(fd, iov, pos, transferred);
        } else {
          c.disk_write_ios++;
          fs.writev(fd, iov, pos, transferred);
        }
      } catch (err) {
        queueMicrotask(() => finish(err));
      }
    };
    const transferred = (err: NodeJS.ErrnoException | null, n: number): void => {
      if (err) return finish(err);
      if (op === 'read') {
        c.disk_read_bytes += n;
        if (n === 0) return finish(fsError('EIO', `short read: ${blockFileName(part.file)} ends before offset ${pos} (store damaged?)`));
      } else {
        c.disk_write_bytes += n;
        if (n === 0) return finish(fsError('EIO', `write of ${blockFileName(part.file)} at ${pos} made no progress`));
      }
      left -= n;
      pos += n;
      if (left === 0) return finish(undefined);
      views = advanceViews(views, n);
      step();
    };
    step();
  }

  private ioError(err: unknown, context: string): FsError {
    this.stats.c.disk_errors++;
    if (isFsError(err, 'EIO')) return err;
    return fsError('EIO', `${context}: ${message(err)}`, err);
  }

  private ioDone(): void {
    if (--this.pending === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/** The O_DIRECT probe: undefined when it worked, else the error. */
async function directProbe(fd: number): Promise<unknown> {
  const buf = allocAligned(DIRECT_PROBE_BYTES);
  try {
    await fsReadv(fd, [buf], 0);
    return undefined;
  } catch (err) {
    return err;
  }
}

/**
 * Every opened block file that is a regular file has exactly `size` bytes (a short one
 * would read as EIO later). Whether a store's block files may be anything but regular
 * files is the store's rule (src/fs/store-files.ts), not the device's.
 */
async function checkSizes(dir: string, fds: number[], size: number): Promise<void> {
  for (let i = 0; i < fds.length; i++) {
    const st = await new Promise<fs.Stats>((resolve, reject) => fs.fstat(fds[i]!, (err, s) => (err ? reject(err) : resolve(s))));
    if (st.isFile() && st.size !== size) throw fsError('EINVAL', `block file ${path.join(dir, blockFileName(i))} is ${st.size} bytes, expected ${size}`);
  }
}

function wrapOpenError(err: unknown, dir: string): FsError {
  const code = errCode(err);
  if (code === 'ELOOP') return fsError('EINVAL', `a block file in ${dir} is a symlink (refusing to follow it): ${message(err)}`, err);
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'EISDIR') {
    return fsError(code, `block files in ${dir}: ${message(err)}`, err);
  }
  return fsError('EIO', `block files in ${dir}: ${message(err)}`, err);
}
