/**
 * Helpers for the src/fs unit tests: small stores in temp dirs, removed after the test.
 */

import type { DirtyKnobs } from '../../../src/mm/page-writeback.js';
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isFsError, type ErrorCode } from '../../../src/errors.js';
import { MetaStore } from '../../../src/fs/meta.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { readSuperblock, type FilesSuperblock } from '../../../src/fs/superblock.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem, type OpenedFs } from '../../../src/vfs/index.js';
import type { Vfs } from '../../../src/vfs/types.js';

export const MiB = 1 << 20;
/** 8 MiB store of 1 MiB block files: 2048 blocks. */
export const SMALL = { sizeBytes: 8 * MiB, blockFileSize: 1 * MiB };
export const SMALL_BLOCKS = SMALL.sizeBytes / 4096;

/** A fresh temp directory, removed when the test ends. */
export function tmpDir(t: ExecutionContext, prefix = 'aheadfs-fs-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** mkfs a small store in a temp dir. */
export async function makeStore(t: ExecutionContext, opts = SMALL): Promise<{ store: string; sb: FilesSuperblock }> {
  const store = path.join(tmpDir(t), 'store');
  const sb = await mkfs(store, opts);
  return { store, sb };
}

/** mkfs + open; the store is closed when the test ends. */
export async function openStore(t: ExecutionContext, opts = SMALL): Promise<{ store: string; sb: FilesSuperblock; meta: MetaStore }> {
  const { store, sb } = await makeStore(t, opts);
  const meta = await MetaStore.open(store, sb);
  t.teardown(() => meta.close());
  return { store, sb, meta };
}

/** Close and reopen (the durable state only); closed when the test ends. */
export async function reopen(t: ExecutionContext, store: string, meta: MetaStore): Promise<MetaStore> {
  await meta.close();
  const again = await MetaStore.open(store, await readSuperblock(store));
  t.teardown(() => again.close());
  return again;
}

/** Assert that `fn` rejects (or throws) an FsError with `code`. */
export async function rejectsCode(t: ExecutionContext, fn: () => unknown, code: ErrorCode): Promise<void> {
  try {
    await fn();
  } catch (err) {
    t.true(isFsError(err, code), `expected ${code}, got ${String(err)}`);
    return;
  }
  t.fail(`expected ${code}, but it succeeded`);
}

/** Every entry under `dir`, recursively, with its size (to prove nothing changed). */
export function snapshotTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return ['<missing>'];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      const st = fs.statSync(p);
      out.push(`${path.relative(dir, p)} ${e.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** A store opened through the vfs for one test. */
export interface VfsStore {
  /** The current mount (a new one after each `reopen`). */
  readonly fs: OpenedFs;
  /** Remount: shut the vfs down and open the store again. */
  reopen(): Promise<OpenedFs>;
}

/**
 * mkfs a store in a temp dir and open it through the vfs; it is shut down when the test
 * ends. `writeback` defaults to false: the tests written for the write-through path
 * (--writeback off, which must behave as it always did) keep testing it.
 */
export async function openVfsStore(
  t: ExecutionContext,
  { sizeBytes = 32 * MiB, blockFileSize = 4 * MiB, cacheBytes = 8 * MiB, writeback = false, dirty = {} as Partial<DirtyKnobs> } = {},
): Promise<VfsStore> {
  const store = path.join(tmpDir(t), 'store');
  await mkfs(store, { sizeBytes, blockFileSize });
  const opts = { ...DEFAULT_MOUNT_OPTIONS, cacheBytes, writeback, dirty, log: () => undefined };
  let current = await openFilesystem(store, opts);
  t.teardown(() => current.vfs.shutdown());
  return {
    get fs() {
      return current;
    },
    async reopen() {
      await current.vfs.shutdown();
      current = await openFilesystem(store, opts);
      return current;
    },
  };
}

/** What the vfs read helpers need of a vfs. */
type ReadableVfs = Pick<Vfs, 'read' | 'fgetattr' | 'open' | 'release'>;

/** One vfs.read of `len` bytes at `pos` on an open handle: the bytes it returned. */
export function vfsRead(vfs: ReadableVfs, fh: number, len: number, pos: number): Promise<Buffer> {
  const buf = new Uint8Array(len);
  return new Promise((resolve, reject) => vfs.read(fh, buf, len, pos, (err, n) => (err ? reject(err) : resolve(Buffer.from(buf.subarray(0, n))))));
}

/** The whole file behind an open handle (as long as fgetattr says). */
export async function vfsReadAll(vfs: ReadableVfs, fh: number): Promise<Buffer> {
  return vfsRead(vfs, fh, (await vfs.fgetattr(fh)).size, 0);
}

/** The first `len` bytes of the file at `path` (all of it by default): open, read, release. */
export async function vfsReadPath(vfs: ReadableVfs, file: string, len?: number): Promise<Buffer> {
  const fh = await vfs.open(file, 0);
  try {
    return len === undefined ? await vfsReadAll(vfs, fh) : await vfsRead(vfs, fh, len, 0);
  } finally {
    await vfs.release(fh);
  }
}
