/**
 * mkfs: make a store.
 *
 *   1. validate sizes and the target directory          (UsageError; nothing touched)
 *   2. the store lock (store-lock.ts): a store that is mounted (or checked) is refused
 *   3. --force: remove blocks/ meta/ aheadfs.json aheadfs.log (and nothing else)
 *   4. blocks/000000.blk ...  preallocated with fallocate(1), ftruncate if unsupported
 *   5. meta/                  LMDB: root directory (ino 1), the whole device free
 *   6. aheadfs.json           LAST, atomically: until it exists the directory is not a store
 *
 * A failure in 4-6 removes what this run created, so a refused or failed mkfs leaves no
 * half store behind (and a crashed one leaves no aheadfs.json, i.e. no store).
 *
 * A store is private: the directory and its subdirectories 0700, every file 0600 (the
 * block files hold every user's data, meta/ every name), whatever the umask.
 *
 * With `nbd` (mkfs --device nbd://...), step 3 is replaced by asking the export for its
 * size (the store's size defaults to it, rounded down to 4 KiB); the export is not
 * written (all metadata is in meta/, and the allocator hands out only blocks it knows).
 */

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readdir, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fsError, isFsError, toFsError, UsageError } from '../errors.js';
import { NbdDevice, NbdOpenError } from '../block/nbd/device.js';
import { Stats } from '../stats/registry.js';
import { DIR_SIZE, ROOT_INO, S_IFDIR } from './inode.js';
import { META_SCHEMA, MetaDb, WriteSet } from './metadb.js';
import { LOG_FILE, META_FILES, STORE_DIR_MODE, STORE_FILE_MODE } from './store-files.js';
import { lockStore, type StoreLock } from './store-lock.js';
import {
  BLOCK_SIZE,
  BLOCKS_DIR,
  blockFilePath,
  FORMAT_NAME,
  FORMAT_VERSION,
  FORMAT_VERSION_NBD,
  MAX_BLOCK_FILES,
  META_DIR,
  SUPERBLOCK_FILE,
  writeSuperblock,
  type FilesSuperblock,
  type NbdSuperblock,
  type Superblock,
} from './superblock.js';

const execFileAsync = promisify(execFile);

/**
 * What `--force` removes from an existing store; anything else in the directory stays
 * (the lock file is mkfs' own while it works, removed when it is done).
 */
export const STORE_ENTRIES = [BLOCKS_DIR, META_DIR, SUPERBLOCK_FILE, `${SUPERBLOCK_FILE}.tmp`, LOG_FILE] as const;

/** Mode of the root directory of a new store (drwxr-xr-x). */
const ROOT_MODE = S_IFDIR | 0o755;

export interface MkfsOptions {
  /** Device size in bytes: a positive multiple of blockFileSize. */
  sizeBytes: number;
  /** Bytes per block file: a positive multiple of 4096, at most sizeBytes. */
  blockFileSize: number;
  /** Replace an existing store (or use a non-empty directory). */
  force?: boolean;
  /** Called after each block file with bytes preallocated so far and the total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface MkfsNbdOptions {
  /** nbd://HOST[:PORT][/EXPORT] */
  url: string;
  /** Store size in bytes (a multiple of 4096, at most the export's size); default the export's size. */
  sizeBytes?: number;
  force?: boolean;
  /** Connect/handshake timeout (ms); default 10 000. */
  timeoutMs?: number;
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Throws UsageError (one line) for bad sizes. Pure: touches nothing. */
export function checkMkfsSizes(sizeBytes: number, blockFileSize: number): void {
  for (const [name, v] of [
    ['size', sizeBytes],
    ['block file size', blockFileSize],
  ] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new UsageError(`${name} must be a positive whole number of bytes (got ${v})`);
    if (v % BLOCK_SIZE !== 0) throw new UsageError(`${name} must be a multiple of ${BLOCK_SIZE} bytes (got ${v})`);
  }
  if (blockFileSize > sizeBytes) throw new UsageError(`block file size (${blockFileSize}) must not exceed the size (${sizeBytes})`);
  if (sizeBytes % blockFileSize !== 0) {
    throw new UsageError(`size (${sizeBytes}) must be a multiple of the block file size (${blockFileSize}); nothing is rounded for you`);
  }
  if (sizeBytes / blockFileSize > MAX_BLOCK_FILES) {
    throw new UsageError(`${sizeBytes / blockFileSize} block files is too many (at most ${MAX_BLOCK_FILES}); use a larger block file size`);
  }
}

/** Bytes the existing block files hold (freed by --force before we allocate). */
async function existingBlockBytes(store: string): Promise<number> {
  let total = 0;
  try {
    for (const name of await readdir(join(store, BLOCKS_DIR))) {
      const st = await stat(join(store, BLOCKS_DIR, name)).catch(() => undefined);
      if (st?.isFile()) total += st.blocks * 512;
    }
  } catch {
    // no blocks/: nothing to count
  }
  return total;
}

/** Step 1 for the directory: refuse what we must not overwrite. Touches nothing. */
async function checkTarget(store: string, opts: MkfsOptions): Promise<void> {
  if (store === '') throw new UsageError(`bad store path '': expected a directory path`);
  let entries: string[] | undefined;
  try {
    const st = await stat(store);
    if (!st.isDirectory()) throw new UsageError(`${store} exists and is not a directory`);
    entries = await readdir(store);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (code(err) !== 'ENOENT') throw new UsageError(`cannot use ${store}: ${(err as Error).message}`);
  }
  if (entries && entries.length > 0 && !opts.force) {
    if (entries.includes(SUPERBLOCK_FILE)) throw new UsageError(`${store} already holds an aheadfs store; use --force to replace it`);
    throw new UsageError(`${store} is not empty; use --force to make a store in it anyway`);
  }
  // Enough room? (the parent of a store that does not exist yet holds it)
  let probe = store;
  for (;;) {
    try {
      const fsStat = await statfs(probe);
      const room = fsStat.bavail * fsStat.bsize + (opts.force ? await existingBlockBytes(store) : 0);
      if (room < opts.sizeBytes) throw new UsageError(`not enough free space for ${opts.sizeBytes} bytes at ${store} (${room} available)`);
      return;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const up = join(probe, '..');
      if (code(err) !== 'ENOENT' || up === probe) return; // cannot tell: let the allocation decide
      probe = up;
    }
  }
}

/**
 * Preallocate one block file: `fallocate -l`, or ftruncate (sparse) when the command is
 * missing or the filesystem does not support it. Any other failure (ENOSPC) is thrown.
 */
async function preallocate(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'wx', STORE_FILE_MODE);
  await fh.close();
  try {
    await execFileAsync('fallocate', ['-l', String(bytes), file]);
    return;
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '');
    const unsupported = code(err) === 'ENOENT' || /not supported/i.test(stderr);
    if (!unsupported) {
      if (/no space/i.test(stderr)) throw fsError('ENOSPC', `preallocating ${file}: ${stderr.trim()}`, err);
      throw fsError('EIO', `preallocating ${file}: ${stderr.trim() || (err as Error).message}`, err);
    }
  }
  const fh2 = await open(file, 'r+');
  try {
    await fh2.truncate(bytes);
  } finally {
    await fh2.close();
  }
}

/** Step 4: the LMDB environment with the root directory and the whole device free. */
async function formatMeta(store: string, blocks: number, now: number): Promise<void> {
  await mkdir(join(store, META_DIR), { mode: STORE_DIR_MODE });
  const db = MetaDb.open(store, { create: true });
  try {
    const ws = new WriteSet();
    ws.touchInode(ROOT_INO, { mode: ROOT_MODE, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: DIR_SIZE, nlink: 2, atimeMs: now, mtimeMs: now, ctimeMs: now });
    ws.freeChanges([{ kind: 'put', start: 0, len: blocks }]);
    ws.putMisc('nextIno', ROOT_INO + 1);
    ws.putMisc('deviceBlocks', blocks);
    ws.putMisc('schema', META_SCHEMA);
    await db.commit(ws);
    await db.flushed();
  } finally {
    await db.close();
  }
  // LMDB creates its files 0664 minus the umask.
  for (const f of META_FILES) await chmod(join(store, META_DIR, f), STORE_FILE_MODE).catch((err: unknown) => {
    if (code(err) !== 'ENOENT') throw err;
  });
}

/**
 * Make a store whose data lives on an NBD export. An unreachable URL, an unknown export,
 * a read-only export, or one smaller than `sizeBytes`: UsageError, nothing changed.
 */
export async function mkfsNbd(store: string, opts: MkfsNbdOptions): Promise<NbdSuperblock> {
  if (opts.sizeBytes !== undefined) checkMkfsSizes(opts.sizeBytes, opts.sizeBytes);
  let exportBytes: number;
  try {
    const dev = await NbdDevice.open(opts.url, { stats: new Stats(), timeoutMs: opts.timeoutMs ?? 10_000, reconnectMs: 0 });
    exportBytes = dev.info.sizeBytes;
    await dev.close();
  } catch (err) {
    if (err instanceof NbdOpenError || err instanceof TypeError || (err as Error).message?.startsWith('device URL')) throw new UsageError((err as Error).message);
    throw err;
  }
  const sizeBytes = opts.sizeBytes ?? Math.floor(exportBytes / BLOCK_SIZE) * BLOCK_SIZE;
  if (sizeBytes > exportBytes) throw new UsageError(`${opts.url}: the export holds ${exportBytes} bytes, less than the store size ${sizeBytes}`);
  if (sizeBytes < BLOCK_SIZE) throw new UsageError(`${opts.url}: the export holds ${exportBytes} bytes, less than one ${BLOCK_SIZE}-byte block`);
  await checkTarget(store, { sizeBytes: 0, blockFileSize: BLOCK_SIZE, force: opts.force });
  return inNewStore(store, opts.force, async (created) => {
    created.push(META_DIR);
    const now = Date.now();
    await formatMeta(store, sizeBytes / BLOCK_SIZE, now);
    const sb: NbdSuperblock = {
      format: FORMAT_NAME,
      version: FORMAT_VERSION_NBD,
      device: 'nbd',
      url: opts.url,
      uuid: randomUUID(),
      blockSize: BLOCK_SIZE,
      sizeBytes,
      createdAt: new Date(now).toISOString(),
    };
    await writeSuperblock(store, sb);
    return sb;
  });
}

/**
 * Make a store at `store` (created if missing). Bad sizes or a directory that must not be
 * overwritten: UsageError before anything on disk changes. Returns the new superblock.
 */
export async function mkfs(store: string, opts: MkfsOptions): Promise<FilesSuperblock> {
  checkMkfsSizes(opts.sizeBytes, opts.blockFileSize);
  await checkTarget(store, opts);
  return inNewStore(store, opts.force, async (created) => {
    await mkdir(join(store, BLOCKS_DIR), { mode: STORE_DIR_MODE });
    created.push(BLOCKS_DIR);
    const count = opts.sizeBytes / opts.blockFileSize;
    for (let i = 0; i < count; i++) {
      await preallocate(join(store, blockFilePath(i)), opts.blockFileSize);
      opts.onProgress?.((i + 1) * opts.blockFileSize, opts.sizeBytes);
    }
    created.push(META_DIR);
    const now = Date.now();
    await formatMeta(store, opts.sizeBytes / BLOCK_SIZE, now);
    const sb: FilesSuperblock = {
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      device: 'files',
      uuid: randomUUID(),
      blockSize: BLOCK_SIZE,
      blockFileSize: opts.blockFileSize,
      blockFileCount: count,
      sizeBytes: opts.sizeBytes,
      createdAt: new Date(now).toISOString(),
    };
    await writeSuperblock(store, sb);
    return sb;
  });
}

/**
 * Steps 2-5 around `fill`: make the store directory (private), hold its lock, --force
 * clears the old store's entries; a failure removes what `fill` listed in `created` (and
 * the directory if this run made it).
 */
async function inNewStore<T>(store: string, force: boolean | undefined, fill: (created: string[]) => Promise<T>): Promise<T> {
  // Missing parents get the usual mode; only the store itself is private.
  const madeStore = await mkdir(dirname(resolve(store)), { recursive: true })
    .then(() => mkdir(store, { mode: STORE_DIR_MODE }))
    .then(
      () => true,
      (err: unknown) => {
        if (code(err) === 'EEXIST') return false;
        throw toFsError(err, `mkfs ${store}`);
      },
    );
  let lock: StoreLock;
  try {
    lock = await lockStore(store);
  } catch (err) {
    if (madeStore) await rm(store, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  const created: string[] = [];
  try {
    if (force) {
      for (const name of STORE_ENTRIES) await rm(join(store, name), { recursive: true, force: true });
    }
    await chmod(store, STORE_DIR_MODE);
    const result = await fill(created);
    lock.release();
    return result;
  } catch (err) {
    for (const name of created) await rm(join(store, name), { recursive: true, force: true }).catch(() => {});
    lock.release();
    if (madeStore) await rm(store, { recursive: true, force: true }).catch(() => {});
    throw isFsError(err) ? err : toFsError(err, `mkfs ${store}`);
  }
}
