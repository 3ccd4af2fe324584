/**
 * withMount: a fresh store in a temp dir, mounted through the real CLI daemon, for one
 * test body; ALWAYS unmounted afterwards, also when the body throws or the test times out:
 *
 *   mkdtemp -> aheadfs mkfs -> aheadfs mount (daemonized) -> body(mnt, ctx)
 *        finally / t.teardown: aheadfs umount -> (still mounted?) fusermount -uz + kill -9
 *                              the daemon -> rm -rf the temp dir
 *
 * Mountpoints are unique (/tmp/aheadfs-e2e-XXXXXX/mnt) so tests can run in parallel.
 *
 * The device: block files by default; `device: 'nbdkit' | 'nbd-server' | 'qemu-nbd'` (or
 * AHEADFS_E2E_DEVICE for the whole suite) starts that NBD server first (test/helpers/nbd.ts,
 * stopped in t.teardown after the unmount) and makes the store with `mkfs --device`.
 */

import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { isStoreLocked } from '../../src/fs/store-lock.js';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { aheadfs, sh, type CliResult } from './cli.js';
import { deviceFromEnv, startNbdServer, type NbdServer, type NbdServerKind, type NbdServerOpts } from './nbd.js';

export interface MountOpts {
  /** Store size for mkfs (default 256M). */
  size?: string;
  blockFileSize?: string;
  /** Extra `aheadfs mount` options. */
  mountArgs?: string[];
  /** Extra environment for the mount daemon (e.g. DEBUG; the CLI otherwise runs with DEBUG empty). */
  env?: Record<string, string>;
  /**
   * Where the data lives: 'files' (block files), an NBD server kind, or its options, or
   * `{ url }`: an NBD export someone else runs (e.g. test/helpers/ceph.ts). Default:
   * AHEADFS_E2E_DEVICE, else files.
   */
  device?: 'files' | NbdServerKind | NbdServerOpts | { url: string };
}

export interface MountCtx {
  tmp: string;
  store: string;
  mnt: string;
  /** Unmount with the CLI (asserts success). */
  umount(): Promise<void>;
  /** Mount again with the CLI (asserts success). */
  mount(): Promise<void>;
  /** The daemon's pid, from the store lock (undefined when no one holds it). */
  daemonPid(): Promise<number | undefined>;
  cli(args: string[]): Promise<CliResult>;
  /** The NBD server withMount started for the store (undefined on block files or a given `url`). */
  server: NbdServer | undefined;
}

function explain(what: string, r: CliResult): Error {
  return new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
}

/** The pid in the store's lock file, only while the lock is held (a kill -9 leaves a stale one). */
async function lockPid(store: string): Promise<number | undefined> {
  const lock = await isStoreLocked(store).catch(() => undefined);
  return lock?.locked ? lock.pid : undefined;
}

/** Make sure nothing is left mounted on `mnt` and no daemon of `store` is left running. */
export async function forceCleanup(store: string, mnt: string): Promise<void> {
  if (await findMount(mnt)) {
    await aheadfs(['umount', mnt, '--timeout', '30'], { timeoutMs: 40_000 });
  }
  if (await findMount(mnt)) {
    await sh(`fusermount -uz ${JSON.stringify(mnt)}`).catch(() => undefined);
  }
  const pid = await lockPid(store);
  if (pid !== undefined && pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

export async function withMount<T>(t: ExecutionContext, opts: MountOpts, body: (mnt: string, ctx: MountCtx) => Promise<T>): Promise<T> {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-e2e-'));
  const store = join(tmp, 'store');
  const mnt = join(tmp, 'mnt');
  await mkdir(mnt);

  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await forceCleanup(store, mnt);
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  };
  t.teardown(cleanup);

  const dev = opts.device ?? deviceFromEnv() ?? 'files';
  const size = opts.size ?? '256M';
  const server =
    dev === 'files' || (typeof dev === 'object' && 'url' in dev)
      ? undefined
      : await startNbdServer(t, typeof dev === 'string' ? { kind: dev, size } : { size, ...dev });
  const url = server?.url ?? (typeof dev === 'object' && 'url' in dev ? dev.url : undefined);

  const ctx: MountCtx = {
    server,
    tmp,
    store,
    mnt,
    cli: (args) => aheadfs(args),
    async mount() {
      const r = await aheadfs(['mount', store, mnt, ...(opts.mountArgs ?? [])], { env: opts.env ?? {} });
      if (r.code !== 0) {
        const log = await readFile(join(store, 'aheadfs.log'), 'utf8').catch(() => '');
        throw new Error(`${explain('aheadfs mount', r).message}\n--- aheadfs.log (tail) ---\n${log.split('\n').slice(-15).join('\n')}`);
      }
    },
    async umount() {
      const r = await aheadfs(['umount', mnt]);
      if (r.code !== 0) throw explain('aheadfs umount', r);
    },
    daemonPid: () => lockPid(store),
  };

  try {
    const where = url !== undefined ? ['--device', url] : ['--block-file-size', opts.blockFileSize ?? '64M'];
    const mk = await aheadfs(['mkfs', store, '--size', size, ...where]);
    if (mk.code !== 0) throw explain('aheadfs mkfs', mk);
    await ctx.mount();
    return await body(mnt, ctx);
  } finally {
    await cleanup();
  }
}
