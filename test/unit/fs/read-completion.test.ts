/**
 * The read completion through the real block layer and address-space operations: a bio's
 * completion unlocks all its pages before any waiting reader resumes (mpage_end_io, with
 * the woken readers run afterwards like the kernel's task work), so a cold read of a
 * whole readahead window waits once, not once per page.
 */

import test from 'ava';
import path from 'node:path';
import { mkfs } from '../../../src/fs/mkfs.js';
import { PG_error, PG_locked, PG_uptodate } from '../../../src/mm/page.js';
import { filemapAddFolio, filemapReadFolio } from '../../../src/mm/pagecache.js';
import { folioWaitLockedAsync } from '../../../src/mm/wait.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem } from '../../../src/vfs/index.js';
import { MiB, tmpDir } from './helpers.js';

const caller = { uid: 0, gid: 0 };

test('a cold 128 KiB read waits for its bio once and gets the right bytes (4.18)', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  await mkfs(store, { sizeBytes: 16 * MiB, blockFileSize: 4 * MiB });
  // 4.18's windows (the merged 64-page initial window): pinned to --kernel 4.18.
  const fs = await openFilesystem(store, { ...DEFAULT_MOUNT_OPTIONS, writeback: false, kernel: '4.18', cacheBytes: 8 * MiB, log: () => undefined });
  t.teardown(() => fs.vfs.shutdown());
  const { vfs, stats } = fs;

  const data = new Uint8Array(1 * MiB);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 12)) & 0xff;
  const fh = await vfs.create('/f', 0o644, 2, caller);
  await vfs.write(fh, data, data.length, 0);
  await vfs.release(fh);
  fs.control.write('drop_caches', '1\n');

  const rfh = await vfs.open('/f', 0);
  const buf = new Uint8Array(128 << 10);
  const before = { ...stats.c };
  const n = await new Promise<number>((res, rej) => vfs.read(rfh, buf, buf.length, 0, (err, bytes) => (err ? rej(err) : res(bytes))));
  t.is(n, buf.length);
  t.deepEqual(buf, data.subarray(0, buf.length));
  // The initial window (64 pages) is read by the sync readahead: the reader waits for
  // page 0 and, once woken, finds pages 1..31 unlocked too.
  t.is(stats.c.disk_read_bytes - before.disk_read_bytes, 256 << 10);
  t.is(stats.c.wait_page - before.wait_page, 1);
  t.is(stats.c.wake_page - before.wake_page, 1);
  await vfs.release(rfh);
});

test('a large folio is read by the real aops in one bio per extent, a hole zero-filled, and ended once', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  await mkfs(store, { sizeBytes: 16 * MiB, blockFileSize: 4 * MiB });
  const fs = await openFilesystem(store, { ...DEFAULT_MOUNT_OPTIONS, writeback: false, cacheBytes: 8 * MiB, log: () => undefined });
  t.teardown(() => fs.vfs.shutdown());
  const { vfs, stats, cache } = fs;

  // Pages 0..3 written, pages 4..7 a hole (the file is extended by truncate).
  const data = new Uint8Array(16 << 10);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13 + 5) & 0xff;
  const fh = await vfs.create('/f', 0o644, 2, caller);
  await vfs.write(fh, data, data.length, 0);
  await vfs.ftruncate(fh, 32 << 10);
  const ino = vfs.files.get(fh)!.ino;
  await vfs.release(fh);
  fs.control.write('drop_caches', '1\n');

  const mapping = cache.findMapping(ino)!;
  const r = filemapAddFolio(mapping, 0, 3);
  if (r.kind !== 'added') return t.fail(r.kind);
  const before = { ...stats.c };
  filemapReadFolio(mapping, r.folio);
  t.true(r.folio.has(PG_locked), 'still locked: the first half is on the device');
  let woken = 0;
  await new Promise<void>((resolve) => folioWaitLockedAsync(r.folio, () => (woken++, resolve())));
  t.is(woken, 1);
  t.true(r.folio.has(PG_uptodate));
  t.false(r.folio.has(PG_error));
  t.deepEqual(r.folio.data.subarray(0, data.length), data);
  t.true(r.folio.data.subarray(data.length).every((b) => b === 0), 'the hole reads as zeros');
  t.is(stats.c.disk_read_bytes - before.disk_read_bytes, 16 << 10, 'only the mapped half touched the disk');
});
