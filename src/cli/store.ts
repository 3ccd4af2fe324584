/**
 * Checks on stores and mountpoints made before anything is changed, and the embedded
 * default store. Every refusal is one clear sentence.
 */

import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isFsError, UsageError } from '../errors.js';
import { readSuperblock } from '../fs/superblock.js';
import { findMount, readLock } from '../fuse/mounts.js';

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

/** Throws UsageError unless `store` is an aheadfs store. */
export async function checkStore(store: string): Promise<void> {
  if (!(await pathExists(store))) throw new UsageError(`store ${store} does not exist (create it with: aheadfs mkfs ${store})`);
  try {
    await readSuperblock(store);
  } catch (err) {
    // The superblock's own checks (missing, not JSON, another format or version, sizes
    // that do not add up): bad input, refused before the daemon starts.
    if (isFsError(err, 'EINVAL')) throw new UsageError(err.message.replace(/^EINVAL: /, ''));
    throw err;
  }
}

/** Throws (exit 1) if a live daemon holds the store's lock. */
export async function checkNotMounted(store: string): Promise<void> {
  const lock = await readLock(join(store, 'lock'));
  if (lock.state === 'held') throw new Error(`store ${store} is already mounted (daemon pid ${lock.pid}); unmount it first`);
}

/** Throws unless `mnt` is an existing directory that nothing is mounted on. */
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
}
