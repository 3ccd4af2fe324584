/**
 * The read completion through the real block layer and address-space operations: a bio's
 * completion unlocks all its pages before any waiting reader resumes (mpage_end_io, with
 * the woken readers run afterwards like the kernel's task work), so a cold read of a
 * whole readahead window waits once, not once per page.
 */

import test from 'ava';
import path from 'node:path';
import { mkfs } from '../../../src/fs/mkfs.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem } from '../../../src/vfs/index.js';
import { MiB, tmpDir } from './helpers.js';

const caller = { uid: 0, gid: 0 };

test('a cold 128 KiB read waits for its bio once and gets the right bytes', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  await mkfs(store, { sizeBytes: 16 * MiB, blockFileSize: 4 * MiB });
  const fs = await openFilesystem(store, { ...DEFAULT_MOUNT_OPTIONS, cacheBytes: 8 * MiB, log: () => undefined });
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
