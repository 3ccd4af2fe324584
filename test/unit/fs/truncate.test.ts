/**
 * truncate through the vfs: a size the filesystem refuses (past the largest file) must
 * leave the file as it was, the size the page cache reports included.
 */

import test from 'ava';
import path from 'node:path';
import { isFsError } from '../../../src/errors.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem } from '../../../src/vfs/index.js';
import { MiB, tmpDir } from './helpers.js';

test('ftruncate past the largest file is EFBIG and changes nothing', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  await mkfs(store, { sizeBytes: 16 * MiB, blockFileSize: 4 * MiB });
  const fs = await openFilesystem(store, { ...DEFAULT_MOUNT_OPTIONS, cacheBytes: 8 * MiB, log: () => undefined });
  t.teardown(() => fs.vfs.shutdown());
  const { vfs } = fs;

  const fh = await vfs.create('/f', 0o644, 2, { uid: 0, gid: 0 });
  await vfs.write(fh, new Uint8Array(8192).fill(7), 8192, 0);
  const err = await t.throwsAsync(vfs.ftruncate(fh, 2 ** 51));
  t.true(isFsError(err, 'EFBIG'), String(err));
  t.is((await vfs.fgetattr(fh)).size, 8192, 'fgetattr');
  t.is((await vfs.getattr('/f')).size, 8192, 'getattr');
  await vfs.release(fh);
});
