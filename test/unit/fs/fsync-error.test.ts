/**
 * Write errors through the vfs, with fail_make_request on the store's request queue: a
 * failed write-through is reported by write(2), by the next fsync of every file open on
 * the inode (once each, like the kernel's errseq: file_check_and_advance_wb_err), and
 * leaves nothing of itself in the store after a remount.
 */

import test from 'ava';
import { isFsError } from '../../../src/errors.js';
import { MiB, openVfsStore, vfsReadPath } from './helpers.js';

const KiB = 1024;
const O_RDWR = 2;
const root = { uid: 0, gid: 0 };

test('a failed write: EIO from write, then from the next fsync of each file open before it, once', async (t) => {
  const s = await openVfsStore(t, { sizeBytes: 16 * MiB });
  const { vfs, queue } = s.fs;
  const fh1 = await vfs.create('/f', 0o644, O_RDWR, root);
  await vfs.write(fh1, new Uint8Array(8 * KiB).fill(1), 8 * KiB, 0);
  const fh2 = await vfs.open('/f', O_RDWR);
  await vfs.fsync(fh1, false);

  queue.faults.configure({ probability: 100, times: 1, verbose: 0, ops: ['write'] });
  const err = await t.throwsAsync(vfs.write(fh1, new Uint8Array(4 * KiB).fill(2), 4 * KiB, 8 * KiB));
  t.true(isFsError(err, 'EIO'), String(err));
  t.is(s.fs.stats.c.fail_injected, 1);
  t.is((await vfs.fgetattr(fh1)).size, 8 * KiB, 'the size did not grow');

  const fh3 = await vfs.open('/f', O_RDWR); // opened after the error: nothing to report
  for (const fh of [fh1, fh2]) {
    const e = await t.throwsAsync(vfs.fsync(fh, false));
    t.true(isFsError(e, 'EIO'), `fsync of fh ${fh}: ${String(e)}`);
    await t.notThrowsAsync(vfs.fsync(fh, false), 'reported once per file');
  }
  await t.notThrowsAsync(vfs.fsync(fh3, false));
  for (const fh of [fh1, fh2, fh3]) await vfs.release(fh);

  const again = await s.reopen();
  t.deepEqual(await vfsReadPath(again.vfs, '/f'), Buffer.alloc(8 * KiB, 1), 'after a remount: the old bytes only');
});

test('a write that fails after its first chunk returns a short count; fsync reports the error', async (t) => {
  // A 1 MiB cache cannot hold a 2 MiB write locked: it is written through in chunks.
  const s = await openVfsStore(t, { sizeBytes: 16 * MiB, cacheBytes: 1 * MiB });
  const { vfs, queue } = s.fs;
  const fh = await vfs.create('/g', 0o644, O_RDWR, root);
  // The first write request passes, the second fails.
  queue.faults.configure({ probability: 100, interval: 2, times: 1, verbose: 0, ops: ['write'] });
  const n = await vfs.write(fh, new Uint8Array(2 * MiB).fill(3), 2 * MiB, 0);
  t.true(n > 0 && n < 2 * MiB, `a short write: ${n} bytes`);
  t.is(s.fs.stats.c.fail_injected, 1);
  const e = await t.throwsAsync(vfs.fsync(fh, false));
  t.true(isFsError(e, 'EIO'), String(e));
  t.is((await vfs.fgetattr(fh)).size, n, 'the size covers what reached the device');
  await vfs.release(fh);
  const again = await s.reopen();
  t.deepEqual(await vfsReadPath(again.vfs, '/g'), Buffer.alloc(n, 3), 'after a remount: exactly the bytes written');
});
