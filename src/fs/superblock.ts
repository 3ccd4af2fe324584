/**
 * The superblock: `<store>/aheadfs.json`, the one file that makes a directory a store.
 *
 *   <store>/
 *     aheadfs.json        { format, version, uuid, blockSize, blockFileSize, blockFileCount,
 *                           sizeBytes, createdAt }          <- written LAST by mkfs
 *     blocks/000000.blk   blockFileSize bytes each, blockFileCount of them
 *     meta/               LMDB environment (see meta.ts)
 *
 * That is version 1, a store on block files (the default; unchanged). A store whose data
 * lives on an NBD export is version 2 (so an older aheadfs refuses it by its version
 * instead of looking for block files): { ..., version: 2, device: "nbd", url, sizeBytes }
 * and no blocks/. In memory both carry `device`: 'files' | 'nbd'.
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
/** The version of a store on an NBD export. */
export const FORMAT_VERSION_NBD = 2;
export const BLOCKS_DIR = 'blocks';
export const META_DIR = 'meta';
/** Block files are named with six digits: 000000.blk ... 999999.blk. */
export const MAX_BLOCK_FILES = 1_000_000;

interface SuperblockCommon {
  readonly format: typeof FORMAT_NAME;
  readonly uuid: string;
  /** Always BLOCK_SIZE. */
  readonly blockSize: number;
  /** Device size in bytes (the store's size; an NBD export may be larger). */
  readonly sizeBytes: number;
  /** ISO 8601 time of mkfs. */
  readonly createdAt: string;
}

/** A store on block files (version 1; `device` is not written to disk). */
export interface FilesSuperblock extends SuperblockCommon {
  readonly version: typeof FORMAT_VERSION;
  readonly device: 'files';
  /** Bytes per block file; a multiple of blockSize. */
  readonly blockFileSize: number;
  readonly blockFileCount: number;
}

/** A store on an NBD export (version 2). */
export interface NbdSuperblock extends SuperblockCommon {
  readonly version: typeof FORMAT_VERSION_NBD;
  readonly device: 'nbd';
  /** nbd://HOST[:PORT][/EXPORT] */
  readonly url: string;
}

export type Superblock = FilesSuperblock | NbdSuperblock;

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
  if (r.version !== FORMAT_VERSION && r.version !== FORMAT_VERSION_NBD) {
    throw fsError('EINVAL', `${where} has unsupported version ${JSON.stringify(r.version)} (this aheadfs reads versions ${FORMAT_VERSION} and ${FORMAT_VERSION_NBD})`);
  }
  if (typeof r.uuid !== 'string' || r.uuid.length === 0) throw fsError('EINVAL', `${where} is corrupt (no uuid)`);
  if (r.blockSize !== BLOCK_SIZE) throw fsError('EINVAL', `${where} has block size ${JSON.stringify(r.blockSize)}; only ${BLOCK_SIZE} is supported`);
  if (typeof r.createdAt !== 'string') throw fsError('EINVAL', `${where} is corrupt (createdAt)`);
  if (r.version === FORMAT_VERSION_NBD) {
    if (r.device !== 'nbd' || typeof r.url !== 'string' || !r.url.startsWith('nbd://')) throw fsError('EINVAL', `${where} is corrupt (version 2 without an nbd:// device)`);
    if (!isPositiveInt(r.sizeBytes) || r.sizeBytes % BLOCK_SIZE !== 0) throw fsError('EINVAL', `${where} is corrupt (sizeBytes ${JSON.stringify(r.sizeBytes)})`);
    return { format: FORMAT_NAME, version: FORMAT_VERSION_NBD, device: 'nbd', url: r.url, uuid: r.uuid, blockSize: BLOCK_SIZE, sizeBytes: r.sizeBytes, createdAt: r.createdAt };
  }
  for (const k of ['blockFileSize', 'blockFileCount', 'sizeBytes'] as const) {
    if (!isPositiveInt(r[k])) throw fsError('EINVAL', `${where} is corrupt (${k} ${JSON.stringify(r[k])})`);
  }
  const blockFileSize = r.blockFileSize as number;
  const blockFileCount = r.blockFileCount as number;
  const sizeBytes = r.sizeBytes as number;
  if (blockFileSize % BLOCK_SIZE !== 0 || blockFileSize * blockFileCount !== sizeBytes) {
    throw fsError('EINVAL', `${where} is corrupt (blockFileSize ${blockFileSize} x blockFileCount ${blockFileCount} != sizeBytes ${sizeBytes})`);
  }
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    device: 'files',
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
      // Version 1 on disk is unchanged: no `device` (block files are implied).
      const onDisk = sb.device === 'files' ? { ...sb, device: undefined } : sb;
      await fh.writeFile(JSON.stringify(onDisk, null, 2) + '\n', 'utf8');
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
