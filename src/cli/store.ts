/**
 * Checks on stores and mountpoints made before anything is changed, and the embedded
 * default store. Every refusal is one clear sentence.
 */

import { readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isFsError, UsageError } from '../errors.js';
import { checkStoreFiles, type StoreFilesReport } from '../fs/store-files.js';
import { isStoreLocked, lockedMessage } from '../fs/store-lock.js';
import { readSuperblock } from '../fs/superblock.js';
import { findMount } from '../fuse/mounts.js';

/** `aheadfs mount` with no arguments: relative to the current directory. */
export const DEFAULT_STORE = 'data/store';
export const DEFAULT_MOUNTPOINT = 'mount';
export const DEFAULT_STORE_SIZE = 1 << 30;
export const DEFAULT_BLOCK_FILE_SIZE = 64 << 20;

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    return code(err) !== 'ENOENT';
  }
}

/**
 * Throws UsageError unless `store` is an aheadfs store whose files are all there, its own
 * (no symlinks) and of the right sizes (src/fs/store-files.ts). Opens nothing but the
 * superblock (O_NOFOLLOW). Returns what others can read, for a warning.
 */
export async function checkStore(store: string): Promise<StoreFilesReport> {
  if (!(await pathExists(store))) throw new UsageError(`store ${store} does not exist (create it with: aheadfs mkfs ${store})`);
  try {
    return await checkStoreFiles(store, await readSuperblock(store));
  } catch (err) {
    // The superblock's own checks (missing, not JSON, another format or version, sizes
    // that do not add up) and the files' (symlinks, block file sizes): bad input,
    // refused before the daemon starts.
    if (isFsError(err, 'EINVAL')) throw new UsageError(err.message.replace(/^EINVAL: /, ''));
    throw err;
  }
}

/** Throws (exit 1) if the store's lock is held (a daemon serves it, or fsck / mkfs runs on it). */
export async function checkNotMounted(store: string): Promise<void> {
  const lock = await isStoreLocked(store);
  if (lock.locked) throw new Error(lockedMessage(store, lock.pid));
}

/** FUSE mounts need root here (the daemon opens the store and /dev/fuse as root). UsageError otherwise. */
export function checkRoot(what: string): void {
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0) throw new UsageError(`${what} needs root (you are uid ${uid}); run it with sudo`);
}

/**
 * Throws unless `mnt` is an existing, empty directory that nothing is mounted on. libfuse
 * refuses a non-empty one too ("fuse: mountpoint is not empty"), but only in the
 * daemon, where the user would read it in the log: said here first, with the fix.
 */
export async function checkMountpoint(mnt: string): Promise<void> {
  let st;
  try {
    st = await stat(mnt);
  } catch (err) {
    if (code(err) === 'ENOENT') throw new UsageError(`mountpoint ${mnt} does not exist`);
    if (code(err) === 'ENOTCONN') throw new Error(`mountpoint ${mnt} is a dead FUSE mount; clear it with: fusermount -uz ${mnt}`);
    throw err;
  }
  if (!st.isDirectory()) throw new UsageError(`mountpoint ${mnt} is not a directory`);
  const m = await findMount(resolve(mnt));
  if (m) throw new Error(`mountpoint ${mnt} is already a mount (${m.fstype} from ${m.source})`);
  const entries = await readdir(mnt);
  if (entries.length > 0) {
    throw new UsageError(`mountpoint ${mnt} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${JSON.stringify(entries.sort()[0])}): mount on an empty directory (mkdir a new one)`);
  }
}
