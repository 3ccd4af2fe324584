/**
 * The superblock: `<store>/aheadfs.json`, the one file that makes a directory a store.
 *
 *   <store>/
 *     aheadfs.json        { format, version, uuid, blockSize, blockFileSize, blockFileCount,
 *                           sizeBytes, createdAt }          <- written LAST by mkfs
 *     blocks/000000.blk   blockFileSize bytes each, blockFileCount of them
 *     meta/               LMDB environment (see meta.ts)
 *
 * The superblock is written atomically (tmp file, fsync, rename, fsync of the directory),
 * so a reader sees the old file, the new file, or none, never half of one. mkfs writes it
 * after everything else: a crashed mkfs leaves a directory that is not a store.
 */

import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { blockFileName } from '../block/device.js';
import { fsError, isFsError } from '../errors.js';

/** The filesystem block, the allocator's unit and the page size of the cache. */
export const BLOCK_SIZE = 4096;
export const SUPERBLOCK_FILE = 'aheadfs.json';
export const FORMAT_NAME = 'aheadfs';
export const FORMAT_VERSION = 1;
export const BLOCKS_DIR = 'blocks';
export const META_DIR = 'meta';
/** Block files are named with six digits: 000000.blk ... 999999.blk. */
export const MAX_BLOCK_FILES = 1_000_000;

export interface Superblock {
  readonly format: typeof FORMAT_NAME;
  readonly version: typeof FORMAT_VERSION;
  readonly uuid: string;
  /** Always BLOCK_SIZE. */
  readonly blockSize: number;
  /** Bytes per block file; a multiple of blockSize. */
  readonly blockFileSize: number;
  readonly blockFileCount: number;
  /** Device size in bytes: blockFileSize * blockFileCount. */
  readonly sizeBytes: number;
  /** ISO 8601 time of mkfs. */
  readonly createdAt: string;
}

/** `blocks/000042.blk` for block file 42, relative to the store (the device names the file). */
export function blockFilePath(index: number): string {
  return join(BLOCKS_DIR, blockFileName(index));
}

/** Device size in 4 KiB blocks. */
export function deviceBlocks(sb: Superblock): number {
  return sb.sizeBytes / sb.blockSize;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

/**
 * Read and check `<store>/aheadfs.json`. Throws FsError EINVAL naming the store and what
 * is wrong (missing, not JSON, another format, another version, inconsistent sizes).
 */
export async function readSuperblock(store: string): Promise<Superblock> {
  const file = join(store, SUPERBLOCK_FILE);
  let text: string;
  try {
    // O_NOFOLLOW: a store's files are its own (see store-files.ts).
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw fsError('EINVAL', `${store} is not an aheadfs store (no ${SUPERBLOCK_FILE})`, err);
    if (code === 'ELOOP') throw fsError('EINVAL', `store ${store} has a symlink at ${SUPERBLOCK_FILE}; refusing a store whose files are not its own (remove the link)`, err);
    throw fsError('EIO', `cannot read ${file}: ${(err as Error).message}`, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw fsError('EINVAL', `${file} is corrupt (not JSON)`, err);
  }
  return checkSuperblock(raw, file);
}

/** Validate a parsed superblock; `where` names it in messages. */
export function checkSuperblock(raw: unknown, where: string): Superblock {
  if (typeof raw !== 'object' || raw === null) throw fsError('EINVAL', `${where} is corrupt (not an object)`);
  const r = raw as Record<string, unknown>;
  if (r.format !== FORMAT_NAME) throw fsError('EINVAL', `${where} is not an aheadfs superblock (format ${JSON.stringify(r.format)})`);
  if (r.version !== FORMAT_VERSION) throw fsError('EINVAL', `${where} has unsupported version ${JSON.stringify(r.version)} (this aheadfs reads version ${FORMAT_VERSION})`);
  if (typeof r.uuid !== 'string' || r.uuid.length === 0) throw fsError('EINVAL', `${where} is corrupt (no uuid)`);
  if (r.blockSize !== BLOCK_SIZE) throw fsError('EINVAL', `${where} has block size ${JSON.stringify(r.blockSize)}; only ${BLOCK_SIZE} is supported`);
  for (const k of ['blockFileSize', 'blockFileCount', 'sizeBytes'] as const) {
    if (!isPositiveInt(r[k])) throw fsError('EINVAL', `${where} is corrupt (${k} ${JSON.stringify(r[k])})`);
  }
  const blockFileSize = r.blockFileSize as number;
  const blockFileCount = r.blockFileCount as number;
  const sizeBytes = r.sizeBytes as number;
  if (blockFileSize % BLOCK_SIZE !== 0 || blockFileSize * blockFileCount !== sizeBytes) {
    throw fsError('EINVAL', `${where} is corrupt (blockFileSize ${blockFileSize} x blockFileCount ${blockFileCount} != sizeBytes ${sizeBytes})`);
  }
  if (typeof r.createdAt !== 'string') throw fsError('EINVAL', `${where} is corrupt (createdAt)`);
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    uuid: r.uuid,
    blockSize: BLOCK_SIZE,
    blockFileSize,
    blockFileCount,
    sizeBytes,
    createdAt: r.createdAt,
  };
}

/**
 * Write the superblock atomically: tmp file + fsync + rename + fsync of the store dir.
 * Context: the store directory exists.
 */
export async function writeSuperblock(store: string, sb: Superblock): Promise<void> {
  const file = join(store, SUPERBLOCK_FILE);
  const tmp = `${file}.tmp`;
  try {
    // A new file (O_EXCL: never through a symlink), private like the rest of the store.
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(JSON.stringify(sb, null, 2) + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    const dir = await open(store, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw isFsError(err) ? err : fsError('EIO', `cannot write ${file}: ${(err as Error).message}`, err);
  }
}
