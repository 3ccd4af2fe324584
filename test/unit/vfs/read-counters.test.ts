/**
 * vfs.read's counters under both kernels' read loops: read_calls per call, read_bytes the
 * bytes each call returned (cold, cached and synchronous, short at EOF, none past it).
 */

import test from 'ava';
import path from 'node:path';
import { mkfs } from '../../../src/fs/mkfs.js';
import { KERNEL_VERSIONS } from '../../../src/mm/pagecache.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem } from '../../../src/vfs/index.js';
import { tmpDir } from '../fs/helpers.js';

const SIZE = 100_000;

for (const kernel of KERNEL_VERSIONS) {
  test(`--kernel ${kernel}: read_bytes adds up the bytes each read returned, read_calls the calls`, async (t) => {
    const store = path.join(tmpDir(t), 'store');
    await mkfs(store, { sizeBytes: 32 << 20, blockFileSize: 4 << 20 });
    const fs = await openFilesystem(store, { ...DEFAULT_MOUNT_OPTIONS, cacheBytes: 8 << 20, kernel, log: () => undefined });
    t.teardown(() => fs.vfs.shutdown());
    const fh = await fs.vfs.create('/f', 0o644, 2, { uid: 0, gid: 0 });
    await fs.vfs.write(fh, new Uint8Array(SIZE).fill(9), SIZE, 0);
    fs.cache.dropCaches();
    const read = (len: number, pos: number): Promise<number> =>
      new Promise((resolve, reject) => fs.vfs.read(fh, new Uint8Array(len), len, pos, (err, n) => (err ? reject(err) : resolve(n))));
    const c0 = { ...fs.stats.c };
    const got = [await read(65536, 0), await read(4096, 4096), await read(20_000, 90_000), await read(4096, SIZE)];
    t.deepEqual(got, [65536, 4096, SIZE - 90_000, 0]);
    // A cached read completes before vfs.read returns, counted as well.
    let sync = -1;
    fs.vfs.read(fh, new Uint8Array(8192), 8192, 0, (_err, n) => (sync = n));
    t.is(sync, 8192);
    t.is(fs.stats.c.read_calls - c0.read_calls, 5);
    t.is(fs.stats.c.read_bytes - c0.read_bytes, 65536 + 4096 + (SIZE - 90_000) + 8192);
    await fs.vfs.release(fh);
  });
}
