/**
 * The store lock: at most one user of a store at a time (the mount daemon, `mkfs --force`,
 * fsck), enforced by the kernel, not by a pid.
 *
 *   <store>/lock          exclusive OFD lock (fcntl F_OFD_SETLK) on the whole file, and the
 *                         holder's pid as text (for tools: never trusted on its own);
 *                         removed on release, left behind (stale, harmless) by kill -9
 *   <store>/aheadfs.json  exclusive OFD lock too, when the store has one
 *
 * OFD locks belong to the open file description: the holder keeps the fd open for its
 * whole life and the kernel drops the lock when the process dies (kill -9 needs no
 * recovery); two fds of one process conflict, so a probe from the holder itself sees the
 * lock; and a lock is the same in every pid namespace (a pid in a file is not).
 *
 * Why the superblock as well: `rm <store>/lock` while a daemon runs lets the next one
 * create a new lock file and lock that. The superblock is the file that makes the
 * directory a store; it is only replaced by mkfs, which takes this lock first. A lock is
 * only counted once the path still names the inode that was locked (an unlink or rename
 * between open and fcntl would otherwise hand out a lock on a file nobody else can find).
 *
 * Everything is opened with O_NOFOLLOW: a symlinked lock or superblock is refused (ELOOP)
 * instead of being followed to a file somewhere else, and a new lock file is 0600.
 */

import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, readFileSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { tryLock, unlock } from 'fs-native-extensions';
import { FsError, fsError } from '../errors.js';
import { SUPERBLOCK_FILE } from './superblock.js';

export const LOCK_FILE = 'lock';

/** A conflicting probe (isStoreLocked holds a shared lock for microseconds): retry a few times. */
const LOCK_TRIES = 5;
const LOCK_RETRY_MS = 20;

/** The lock, held until release(). */
export interface StoreLock {
  readonly store: string;
  /**
   * The pid a previous holder left in the lock file: it died without releasing (kill -9,
   * crash). Nothing to recover (the kernel dropped its lock); for the log.
   */
  readonly previousPid: number | undefined;
  /** Remove the lock file, drop the locks and close the fds. Idempotent. */
  release(): void;
}

export type StoreLockState = { locked: false } | { locked: true; pid: number | undefined };

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Open a store member without following a symlink; ELOOP becomes one clear FsError. */
function openMember(path: string, flags: number, mode = 0o600): number {
  try {
    return openSync(path, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    if (errCode(err) === 'ELOOP') throw fsError('EINVAL', `${path} is a symlink; a store's files must be its own (refusing to follow it)`, err);
    throw err;
  }
}

type TryResult = { kind: 'locked'; fd: number } | { kind: 'busy' } | { kind: 'absent' } | { kind: 'moved' };

/** One attempt at an exclusive lock on `path`; `create` makes the file when missing. */
function tryLockFile(path: string, create: boolean): TryResult {
  let fd: number;
  try {
    fd = openMember(path, constants.O_RDWR | (create ? constants.O_CREAT : 0));
  } catch (err) {
    if (!create && errCode(err) === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile()) throw fsError('EINVAL', `${path} is not a regular file`);
    if (!tryLock(fd)) {
      closeSync(fd);
      return { kind: 'busy' };
    }
    let now: Stats | undefined;
    try {
      now = lstatSync(path);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
    }
    if (now === undefined || !sameFile(now, fstatSync(fd))) {
      closeSync(fd); // unlinked or replaced since our open: lock what the path names now
      return { kind: 'moved' };
    }
    return { kind: 'locked', fd };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function parsePid(text: string): number | undefined {
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function holderPid(store: string): number | undefined {
  try {
    const fd = openMember(join(store, LOCK_FILE), constants.O_RDONLY);
    try {
      return parsePid(readFileSync(fd, 'utf8'));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * Clear and remove the lock file we hold locked (`fd`), if the path still names it. Safe
 * while locked: a process that opened it meanwhile finds it gone after its lock ("moved").
 */
function removeLockFile(lockPath: string, fd: number): void {
  try {
    ftruncateSync(fd, 0); // no pid left behind for tools to trust
    if (sameFile(lstatSync(lockPath), fstatSync(fd))) unlinkSync(lockPath);
  } catch {
    // a read-only or vanished file: the lock goes anyway
  }
}

/** The one sentence for a locked store (lockStore's EBUSY, and callers that probed with isStoreLocked). */
export function lockedMessage(store: string, pid: number | undefined): string {
  const who = pid === undefined ? '' : ` (daemon pid ${pid})`;
  return `store ${store} is already mounted${who} or in use by fsck or mkfs; unmount it first`;
}

/** EBUSY; the lock file's pid only when that file is the one held by someone else. */
function busy(store: string, lockFileHeld: boolean): FsError {
  return new FsError('EBUSY', lockedMessage(store, lockFileHeld ? holderPid(store) : undefined));
}

/**
 * Take the store lock or refuse: FsError EBUSY when it is held (mounted, or fsck / mkfs
 * runs on it), EINVAL for a symlinked lock or superblock. Writes our pid into the lock
 * file. The caller keeps the returned StoreLock for as long as it uses the store.
 */
export async function lockStore(store: string): Promise<StoreLock> {
  const lockPath = join(store, LOCK_FILE);
  const held: number[] = []; // invariant: open and locked; held[0] is the lock file's
  let previousPid: number | undefined;
  const dropAll = (): void => {
    if (held.length > 0) removeLockFile(lockPath, held[0]!);
    for (const fd of held.splice(0)) closeSync(fd);
  };
  try {
    for (const [file, create] of [
      [LOCK_FILE, true],
      [SUPERBLOCK_FILE, false],
    ] as const) {
      const path = join(store, file);
      for (let attempt = 1; ; attempt++) {
        const r = tryLockFile(path, create);
        if (r.kind === 'locked') {
          held.push(r.fd);
          break;
        }
        if (r.kind === 'absent') break; // no superblock (mkfs --force on a non-store): the lock file is enough
        if (attempt >= LOCK_TRIES) throw r.kind === 'busy' ? busy(store, file === LOCK_FILE) : fsError('EBUSY', `${path} keeps changing under us`);
        await sleep(LOCK_RETRY_MS);
      }
    }
    const lockFd = held[0]!;
    previousPid = parsePid(readFileSync(lockFd, 'utf8'));
    ftruncateSync(lockFd, 0);
    writeSync(lockFd, `${process.pid}\n`, 0);
  } catch (err) {
    dropAll();
    throw err;
  }
  let released = false;
  return {
    store,
    previousPid,
    release() {
      if (released) return;
      released = true;
      dropAll(); // the lock file goes first, then the locks with the fds
    },
  };
}

/**
 * Is the store locked (mounted, or fsck / mkfs running on it)? A probe: takes a shared lock
 * on each file for a moment (a lockStore at that instant retries). `pid` is what the lock
 * file says (for messages and tools; meaningless in another pid namespace).
 */
export async function isStoreLocked(store: string): Promise<StoreLockState> {
  for (const file of [LOCK_FILE, SUPERBLOCK_FILE]) {
    let fd: number;
    try {
      fd = openMember(join(store, file), constants.O_RDONLY);
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue;
      throw err;
    }
    try {
      if (!tryLock(fd, { shared: true })) return { locked: true, pid: holderPid(store) };
      unlock(fd);
    } finally {
      closeSync(fd);
    }
  }
  return { locked: false };
}

/**
 * A shared lock on the store's superblock, for readers that change nothing (the
 * in-process API's read-only stores): several may hold it together; it conflicts with
 * lockStore's exclusive lock, so a mounted store (or one fsck or mkfs holds) is refused
 * with EBUSY and a mount waits for no reader: it is refused while one holds it. Nothing is
 * created or written (no lock file, no pid). EINVAL when the store has no superblock.
 */
export async function lockStoreShared(store: string): Promise<StoreLock> {
  const path = join(store, SUPERBLOCK_FILE);
  for (let attempt = 1; ; attempt++) {
    let fd: number;
    try {
      fd = openMember(path, constants.O_RDONLY);
    } catch (err) {
      if (errCode(err) === 'ENOENT') throw fsError('EINVAL', `${store} is not an aheadfs store (no ${SUPERBLOCK_FILE})`);
      throw err;
    }
    let locked = false;
    try {
      if (!fstatSync(fd).isFile()) throw fsError('EINVAL', `${path} is not a regular file`);
      locked = tryLock(fd, { shared: true });
    } finally {
      if (!locked) closeSync(fd);
    }
    if (locked) {
      let released = false;
      return {
        store,
        previousPid: undefined,
        release() {
          if (released) return;
          released = true;
          closeSync(fd);
        },
      };
    }
    if (attempt >= LOCK_TRIES) throw new FsError('EBUSY', lockedMessage(store, holderPid(store)));
    await sleep(LOCK_RETRY_MS);
  }
}
