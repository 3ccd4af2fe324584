/**
 * The mount daemon: lock the store, open the filesystem, mount it with FUSE, serve until
 * told to stop, then unmount, shut the filesystem down and release the lock.
 *
 *   lockStore --> open log --> checkStoreFiles --> openFilesystem --> fuse.mount
 *       |                           |                    |                |
 *       |                           |                    |   stat .aheadfs/stats --> "ok" on readyFd
 *       +---------------------------+--------------------+----------------+--> "error: <reason>", undo, throw
 *
 * The store lock (src/fs/store-lock.ts, a kernel OFD lock) is taken before anything else
 * in the store is opened and held for the daemon's whole life: a second daemon is
 * refused, and a kill -9 leaves nothing to recover. Everything the daemon creates in the
 * store is private (umask 077).
 *
 *   serving: SIGINT / SIGTERM ---------------------------------+
 *            mountpoint gone from mountinfo (fusermount -u) ---+--> stop(reason)
 *            uncaught exception -------------------------------+
 *   stop: fuse unmount -> vfs.shutdown() -> release lock -> resolve exit code
 *
 * Everything goes to `<store>/aheadfs.log`. When started by `aheadfs mount` (daemonized),
 * `report` writes to a pipe to the parent, which waits for the one status line.
 */

import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkStoreFiles, describeNotPrivate, LOG_FILE } from '../fs/store-files.js';
import { lockStore, type StoreLock } from '../fs/store-lock.js';
import { readSuperblock } from '../fs/superblock.js';
import { dbg } from '../stats/debug.js';
import type Fuse from 'fuse-native';
import { AheadFuse } from './aheadfuse.js';
import { ControlDir } from './control-dir.js';
import { describeMountOptions, openFilesystem, type MountedFs, type MountOptions, type OpenFilesystem } from './contract.js';
import { libfuseReason, logSince, logSize, openLog, type DaemonLog } from './log.js';
import { describeDescendants } from './children.js';
import { findMount, type MountEntry } from './mounts.js';
import { makeOperations } from './ops.js';

/** How often the daemon checks that its mount still exists (it also keeps the loop alive). */
const MOUNT_POLL_MS = 1000;
/** How long the stop waits for libfuse's unmount before it detaches the mount itself. */
const FUSE_UNMOUNT_TIMEOUT_MS = 10_000;
/** How often the stop looks whether the mount has been detached while fuse-native's close runs. */
const DETACH_POLL_MS = 100;
/** How long fuse-native's close may still take once the mount is detached. */
const DETACHED_GRACE_MS = 2000;
/** How long the stop waits for its own `fusermount -uz` when the mount is still there. */
const DETACH_TIMEOUT_MS = 10_000;

export interface DaemonOptions {
  store: string;
  mountpoint: string;
  mount: Omit<MountOptions, 'log'>;
  fuseDebug: boolean;
  /** FUSE allow_other: other users may use the mount (default_permissions checks modes). */
  allowOther?: boolean;
  /** Mount read-only (the kernel refuses writes with EROFS). */
  readOnly?: boolean;
  /** Kernel mount flags for libfuse (nosuid, noexec, ...; from `-o`). */
  kernelFlags?: string[];
  /**
   * Tells the parent `aheadfs mount` the outcome, once: `ok` or `error: <reason>`.
   * Undefined when the daemon runs attached (a user typed --foreground): log lines then
   * go to stderr too.
   */
  report: ((line: string) => void) | undefined;
  /** The filesystem to serve (tests inject one); default: src/vfs's openFilesystem. */
  openFilesystem?: OpenFilesystem;
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Run the daemon. Resolves with the exit code once stopped (0: signal or umount; 1: a
 * failure while serving); rejects if the mount could not be set up (after undoing it).
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const store = resolve(opts.store);
  const mnt = resolve(opts.mountpoint);
  const report = opts.report ?? ((): void => undefined);
  process.umask(0o077);

  let lock: StoreLock;
  try {
    lock = await lockStore(store);
  } catch (err) {
    // Not ours: the store's log belongs to whoever holds the lock.
    report(`error: ${errMsg(err)}`);
    throw err;
  }
  let log: DaemonLog;
  try {
    log = openLog(join(store, LOG_FILE), { echo: opts.report === undefined });
  } catch (err) {
    lock.release();
    report(`error: cannot open ${join(store, LOG_FILE)}: ${errMsg(err)}`);
    throw err;
  }
  if (lock.previousPid !== undefined && lock.previousPid !== process.pid) {
    log(`the lock file named pid ${lock.previousPid}, which ended without releasing the store (kill -9 or a crash); the kernel dropped its lock, nothing to recover`);
  }

  let mfs: MountedFs | undefined;
  let fuse: AheadFuse | undefined;
  const logPath = join(store, LOG_FILE);
  /** The log's size when fuse.mount started: libfuse's complaint, if any, comes after. */
  let logStart: number | undefined;
  let mounted = false;

  /** Our mount, as mountinfo lists it (undefined once it is detached); rejects if mountinfo cannot be read. */
  const ourMount = async (): Promise<MountEntry | undefined> => {
    const m = await findMount(mnt);
    return m !== undefined && m.fstype === 'fuse.aheadfs' && resolve(m.source) === resolve(store) ? m : undefined;
  };

  /**
   * fuse-native's close() runs `sh -c 'fusermount -uz MNT'` and calls back only when that
   * process has exited and closed its output. The detach itself is what the stop needs:
   * once the mount has left mountinfo, close() gets DETACHED_GRACE_MS more, then the stop
   * goes on and the log says what the helper processes are doing (state, wchan, kernel
   * stack), since a helper that detached the mount but never exits is the hang seen in CI.
   * FUSE_UNMOUNT_TIMEOUT_MS bounds the case where the mount stays (ensureUnmounted follows).
   */
  const unmountFuse = (): Promise<void> =>
    new Promise((res) => {
      if (!fuse || !mounted) return res();
      mounted = false;
      const started = Date.now();
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(watch);
        res();
      };
      let goingOn = false;
      const goOn = (why: string): void => {
        if (done || goingOn) return;
        goingOn = true; // one /proc scan, however many checks see the detach meanwhile
        void describeDescendants(process.pid).then((helpers) => {
          if (done) return;
          log(`fuse unmount: ${why}; going on (helpers: ${helpers === '' ? 'none left' : helpers})`);
          finish();
        });
      };
      const timer = setTimeout(() => goOn(`no answer after ${FUSE_UNMOUNT_TIMEOUT_MS / 1000} s`), FUSE_UNMOUNT_TIMEOUT_MS);
      let detachedAt: number | undefined;
      let checking = false;
      const watch = setInterval(() => {
        if (checking || done) return;
        checking = true;
        ourMount()
          .then((m) => {
            if (m !== undefined) return;
            detachedAt ??= Date.now();
            if (Date.now() - detachedAt >= DETACHED_GRACE_MS) {
              goOn(`${mnt} is detached, but fuse-native's close has not answered after ${((Date.now() - started) / 1000).toFixed(1)} s`);
            }
          })
          .catch(() => undefined) // mountinfo unreadable: not known to be detached, ask again
          .finally(() => (checking = false));
      }, DETACH_POLL_MS);
      fuse.unmount((err) => {
        if (err) log(`fuse unmount: ${err.message}`);
        finish();
      });
    });

  /**
   * The daemon never exits leaving its mount behind (a dead mount: ENOTCONN for everyone):
   * if the mount is still there after libfuse's unmount (it failed, or a poll saw the mount
   * gone when it was not), detach it, as `umount -l` does.
   */
  const ensureUnmounted = async (): Promise<void> => {
    if ((await ourMount().catch(() => undefined)) === undefined) return;
    log(`still mounted after the fuse unmount: detaching ${mnt} (fusermount -uz)`);
    await new Promise<void>((res) => {
      const child = execFile('fusermount', ['-uz', mnt], (err) => {
        clearTimeout(timer);
        if (err) log(`fusermount -uz ${mnt}: ${err.message}`);
        res();
      });
      // The last step of the stop that could wait forever: a fusermount that never
      // returns (stuck in the kernel) must not keep the daemon alive. Then the mount may
      // be left without its daemon (ENOTCONN) until `umount -l`; the log says so.
      const timer = setTimeout(() => {
        void describeDescendants(process.pid).then((helpers) => {
          log(`fusermount -uz ${mnt}: no answer after ${DETACH_TIMEOUT_MS / 1000} s; going on without it: the mount may be left behind, detach it with umount -l (helpers: ${helpers === '' ? 'none left' : helpers})`);
          child.unref();
          child.stdout?.destroy();
          child.stderr?.destroy();
          res();
        });
      }, DETACH_TIMEOUT_MS);
    });
  };

  const teardown = async (): Promise<boolean> => {
    let ok = true;
    // Both bounded, and each logs when it gives up (the filesystem's shutdown below has its own watchdog).
    await unmountFuse();
    await ensureUnmounted();
    if (mfs) {
      try {
        await mfs.vfs.shutdown();
      } catch (err) {
        ok = false;
        log(`shutdown failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      mfs = undefined;
    }
    lock.release();
    return ok;
  };

  try {
    const warning = describeNotPrivate(store, await checkStoreFiles(store, await readSuperblock(store)));
    if (warning) log(warning);
    const open = opts.openFilesystem ?? openFilesystem;
    mfs = await open(store, { ...opts.mount, log });
    // The ops read each request's caller from the Fuse object made right after them.
    let serving: AheadFuse | undefined;
    const context = (): Fuse.Context => serving?.getContext() ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: 0, umask: 0 };
    const ops = makeOperations({ vfs: mfs.vfs, control: new ControlDir(mfs.control, process.pid), log, context });
    const f = new AheadFuse(mnt, ops, {
      fuseDebug: opts.fuseDebug,
      allowOther: opts.allowOther ?? false,
      fsname: store, // df, findmnt and /proc/mounts show the store as the source
      readOnly: opts.readOnly ?? false,
      kernelFlags: opts.kernelFlags ?? [],
    });
    serving = f;
    fuse = f;
    logStart = logSize(logPath);
    await new Promise<void>((res, rej) => f.mount((err) => (err ? rej(err) : res())));
    mounted = true;
    // The mount answers when a lookup through the kernel reaches us and comes back.
    await stat(join(mnt, '.aheadfs', 'stats'));
    dbg.fuse('mounted %s on %s with fuse options %s', store, mnt, f.optionString());
    mfs.kmsg.emit('info', 'mount', `mounted ${store} on ${mnt} (uuid ${mfs.superblock.uuid}; fuse ${f.optionString()})`);
    log(`mounted ${store} on ${mnt} (uuid ${mfs.superblock.uuid}, ${mfs.superblock.sizeBytes} bytes; ${describeMountOptions(opts.mount)}; fuse ${f.optionString()})`);
  } catch (err) {
    // libfuse says why on stderr: the log when daemonized (the parent names the log), the terminal with --foreground.
    const why = errMsg(err) === 'fuse failed' && logStart !== undefined ? libfuseReason(logSince(logPath, logStart)) : '';
    const msg =
      errMsg(err) !== 'fuse failed' ? errMsg(err) : why !== '' ? `libfuse could not mount ${mnt}: ${why}` : `libfuse could not mount ${mnt}${opts.report ? '' : " (libfuse's reason is above)"}`;
    log(`mount failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await teardown();
    report(`error: ${msg}`);
    log.close();
    if (msg !== errMsg(err)) throw new Error(msg, { cause: err });
    throw err;
  }
  report('ok');

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (reason: string, code: number): void => {
      if (stopping) return;
      stopping = true;
      clearInterval(poll);
      log(`stopping: ${reason}`);
      teardown().then(
        (ok) => {
          log(ok ? 'stopped' : 'stopped with errors');
          log.close();
          resolveExit(ok ? code : 1);
        },
        (err: unknown) => {
          log(`stop failed: ${errMsg(err)}`);
          log.close();
          resolveExit(1);
        },
      );
    };

    let polling = false;
    const poll = setInterval(() => {
      if (polling || stopping) return;
      polling = true;
      findMount(mnt)
        .then((m) => {
          if (!m) {
            mounted = false; // already gone: nothing to unmount
            stop('unmounted from outside (umount / fusermount -u)', 0);
          }
        })
        .catch((err: unknown) => log(`mount check failed: ${errMsg(err)}`))
        .finally(() => (polling = false));
    }, MOUNT_POLL_MS);

    process.on('SIGINT', () => stop('SIGINT', 0));
    process.on('SIGTERM', () => stop('SIGTERM', 0));
    // Detached from any terminal when daemonized; a hangup means nothing to us.
    process.on('SIGHUP', () => log('SIGHUP ignored'));
    process.on('uncaughtException', (err) => {
      log(`fatal: ${err.stack ?? err.message}`);
      stop('fatal error', 1);
    });
  });
}
