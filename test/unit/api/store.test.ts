/**
 * openStore (src/api): the store lock (exclusive read-write, shared read-only), read-only
 * stores refusing every change and changing nothing on disk, files by path, and the
 * package's own entry point (`import ... from 'aheadfs'`).
 */

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { IOCB_CMD_PWRITE, openStore } from '../../../src/api/index.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { lockStore } from '../../../src/fs/store-lock.js';
import { MiB, rejectsCode, snapshotTree, tmpDir } from '../fs/helpers.js';

async function newStore(t: Parameters<typeof tmpDir>[0]): Promise<string> {
  const dir = path.join(tmpDir(t, 'aheadfs-api-'), 'store');
  await mkfs(dir, { sizeBytes: 8 * MiB, blockFileSize: 2 * MiB });
  return dir;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test('read-write: files by path, read back after reopening; a second open of the store is EBUSY until close', async (t) => {
  const dir = await newStore(t);
  const store = await openStore(dir);
  t.teardown(() => store.close());
  await rejectsCode(t, () => openStore(dir), 'EBUSY');
  await rejectsCode(t, () => openStore(dir, { readOnly: true }), 'EBUSY');
  await rejectsCode(t, () => lockStore(dir), 'EBUSY'); // what `aheadfs mount` takes first
  const f = await store.open('/hello', { write: true, create: true, mode: 0o600 });
  t.is(await f.write(bytes('hello, store'), 0), 12);
  const st = await f.stat();
  t.is(st.size, 12);
  t.is(st.mode & 0o777, 0o600);
  await f.close();
  await rejectsCode(t, () => f.close(), 'EBADF');
  await rejectsCode(t, () => store.open('/missing'), 'ENOENT');
  const notAStore = tmpDir(t, 'aheadfs-api-empty-');
  await rejectsCode(t, () => openStore(notAStore), 'EINVAL');
  t.deepEqual(fs.readdirSync(notAStore), [], 'nothing created in a directory that is not a store');
  t.deepEqual((await store.readdir('/')).map((e) => e.name), ['.', '..', 'hello']);
  await store.close();

  t.true(store.engine.trace.enabled, 'the trace ring is on by default, as at a mount');
  const again = await openStore(dir, { kernel: '4.18', trace: false });
  t.teardown(() => again.close());
  t.false(again.engine.trace.enabled);
  t.is(again.engine.cache.kernel, '4.18');
  const r = await again.open('/hello');
  const buf = new Uint8Array(64);
  t.is(await r.read(buf, 7), 5);
  t.is(new TextDecoder().decode(buf.subarray(0, 5)), 'store');
  t.is((await again.stat('/hello')).size, 12);
});

test('read-only: writes are EROFS (or EBADF through the kioctx), nothing on disk changes, readers share the store', async (t) => {
  const dir = await newStore(t);
  const rw = await openStore(dir);
  const w = await rw.open('/f', { write: true, create: true });
  await w.write(bytes('0123456789'), 0);
  await rw.close();
  // meta/lock.mdb is LMDB's reader table: every reader registers there (no data).
  const tree = (): string[] => snapshotTree(dir).filter((l) => !l.startsWith('meta/lock.mdb '));
  const before = tree();

  const ro = await openStore(dir, { readOnly: true });
  t.teardown(() => ro.close());
  const ro2 = await openStore(dir, { readOnly: true }); // a shared lock: two readers at once
  t.teardown(() => ro2.close());
  t.true(ro.readOnly);
  await rejectsCode(t, () => openStore(dir), 'EBUSY'); // no writer while readers hold it
  await rejectsCode(t, () => lockStore(dir), 'EBUSY'); // nor a mount
  await rejectsCode(t, () => ro.open('/f', { write: true }), 'EROFS');
  await rejectsCode(t, () => ro.open('/new', { create: true }), 'EROFS');
  await rejectsCode(t, () => ro.open('/f', { truncate: true }), 'EROFS');
  const f = await ro.open('/f');
  await rejectsCode(t, () => f.write(bytes('x'), 0), 'EROFS');
  const ctx = ro.ioSetup(1);
  await rejectsCode(t, () => ro.ioSubmit(ctx, [{ opcode: IOCB_CMD_PWRITE, fd: f.fd, buf: bytes('x'), nbytes: 1, offset: 0 }]), 'EBADF');
  const buf = new Uint8Array(10);
  t.is(await f.read(buf, 0), 10);
  t.is(new TextDecoder().decode(buf), '0123456789');
  await ro.close();
  await ro2.close();
  t.deepEqual(tree(), before, 'a read-only store leaves every file as it was');
  const after = await openStore(dir); // both readers gone: a writer may open it
  await after.close();
});

test("the package's entry point is the API: import { openStore } from 'aheadfs'", async (t) => {
  // Resolved through package.json "exports" (dist/api/index.js, built by scripts/setup.sh);
  // a variable, so that type-checking does not need dist/ to exist.
  const self = 'aheadfs';
  const api = (await import(self)) as Record<string, unknown>;
  for (const name of ['openStore', 'ioSubmit', 'ioGetevents', 'ioCancel', 'ioDestroy', 'IOCB_CMD_PREAD', 'RWF_NOWAIT']) t.not(api[name], undefined, name);
  const dir = await newStore(t);
  const store = await (api.openStore as typeof openStore)(dir, { readOnly: true });
  t.deepEqual((await store.readdir('/')).map((e) => e.name), ['.', '..']);
  await store.close();
});
