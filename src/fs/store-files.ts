/**
 * What a store's own files must look like before anything opens them, checked by lstat
 * (nothing is opened, nothing changes):
 *
 *   <store>/                 a directory (the path the user gave may be a symlink to it)
 *     aheadfs.json           regular file
 *     lock, aheadfs.log      regular files when present
 *     blocks/                directory; 000000.blk ... regular files of exactly
 *                            blockFileSize bytes each, blockFileCount of them
 *     meta/                  directory; data.mdb (and lock.mdb when present) regular files
 *
 * No member may be a symlink: the daemon runs as root, and a store prepared with
 * `aheadfs.log -> /root/victim` must not get root to append to the victim. The code that
 * opens these files also passes O_NOFOLLOW (LMDB cannot be told to, hence the lstat of
 * meta/ here first). Mkfs makes every store private (directory 0700, files 0600); a store
 * whose files others can read is reported so that mount can warn.
 */

import { lstatSync, type Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { blockFileName } from '../block/device.js';
import { fsError } from '../errors.js';
import { LOCK_FILE } from './store-lock.js';
import { BLOCKS_DIR, META_DIR, SUPERBLOCK_FILE, type Superblock } from './superblock.js';

/** Modes of a new store (mkfs) and of everything the daemon creates in it. */
export const STORE_DIR_MODE = 0o700;
export const STORE_FILE_MODE = 0o600;
export const LOG_FILE = 'aheadfs.log';
/** The files of an LMDB environment. */
export const META_FILES = ['data.mdb', 'lock.mdb'] as const;

export interface StoreFilesReport {
  /** Store paths (relative, '.' for the directory) that grant group or other users access, with their modes. */
  notPrivate: { path: string; mode: number }[];
}

type Kind = 'file' | 'dir';

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function kindOk(st: Stats, kind: Kind): boolean {
  return kind === 'file' ? st.isFile() : st.isDirectory();
}

/**
 * lstat one member: undefined when absent and optional; FsError EINVAL (one line) for a
 * symlink, the wrong type, or a required member that is missing.
 */
function checkMember(store: string, rel: string, kind: Kind, required: boolean, st: Stats | undefined): Stats | undefined {
  const path = join(store, rel);
  if (st === undefined) {
    if (required) throw fsError('EINVAL', `store ${store} is damaged: ${rel} is missing`);
    return undefined;
  }
  if (st.isSymbolicLink()) throw fsError('EINVAL', `store ${store} has a symlink at ${rel}; refusing a store whose files are not its own (remove the link)`);
  if (!kindOk(st, kind)) throw fsError('EINVAL', `store ${store} is damaged: ${path} is not a ${kind === 'file' ? 'regular file' : 'directory'}`);
  return st;
}

async function lstatOrNone(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function lstatOrNoneSync(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** meta/ is a real directory and its LMDB files are not symlinks (sync: MetaDb.open is). */
export function checkMetaDir(store: string, { required }: { required: boolean }): void {
  const dir = checkMember(store, META_DIR, 'dir', required, lstatOrNoneSync(join(store, META_DIR)));
  if (!dir) return;
  for (const f of META_FILES) {
    const rel = join(META_DIR, f);
    checkMember(store, rel, 'file', required && f === 'data.mdb', lstatOrNoneSync(join(store, rel)));
  }
}

/**
 * Check every member of `store` (see the top of this file) against its superblock:
 * FsError EINVAL naming the first file that is wrong (a symlink, a missing or mis-sized
 * block file with the size it must have). Returns what is not private.
 */
export async function checkStoreFiles(store: string, sb: Superblock): Promise<StoreFilesReport> {
  const notPrivate: StoreFilesReport['notPrivate'] = [];
  const note = (rel: string, st: Stats | undefined): void => {
    if (st && (st.mode & 0o077) !== 0) notPrivate.push({ path: rel, mode: st.mode & 0o7777 });
  };
  const top = await stat(store);
  if (!top.isDirectory()) throw fsError('EINVAL', `store ${store} is not a directory`);
  note('.', top);
  for (const [rel, kind, required] of [
    [SUPERBLOCK_FILE, 'file', true],
    [LOCK_FILE, 'file', false],
    [LOG_FILE, 'file', false],
    [BLOCKS_DIR, 'dir', sb.device === 'files'],
  ] as const) {
    note(rel, checkMember(store, rel, kind, required, await lstatOrNone(join(store, rel))));
  }
  checkMetaDir(store, { required: true });
  note(META_DIR, lstatSync(join(store, META_DIR)));
  for (const f of META_FILES) note(join(META_DIR, f), lstatOrNoneSync(join(store, META_DIR, f)));
  // A store on an NBD export has no block files (its data is on the export).
  for (let i = 0; sb.device === 'files' && i < sb.blockFileCount; i++) {
    const rel = join(BLOCKS_DIR, blockFileName(i));
    const st = await lstatOrNone(join(store, rel));
    if (st === undefined) throw fsError('EINVAL', `store ${store} is damaged: block file ${rel} is missing (expected ${sb.blockFileSize} bytes)`);
    checkMember(store, rel, 'file', true, st);
    if (st.size !== sb.blockFileSize) {
      throw fsError('EINVAL', `store ${store} is damaged: block file ${rel} is ${st.size} bytes, expected ${sb.blockFileSize} (the superblock's block file size)`);
    }
    note(rel, st);
  }
  return { notPrivate };
}

/** One line for a store that others can read (mount warns with it). */
export function describeNotPrivate(store: string, r: StoreFilesReport): string | undefined {
  if (r.notPrivate.length === 0) return undefined;
  const shown = r.notPrivate.slice(0, 3).map((p) => `${p.path} ${p.mode.toString(8).padStart(4, '0')}`);
  const more = r.notPrivate.length > 3 ? ` and ${r.notPrivate.length - 3} more` : '';
  return `warning: store ${store} is not private (${shown.join(', ')}${more}): other users may read its data; fix with: chmod -R go-rwx ${store}`;
}
