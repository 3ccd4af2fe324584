/**
 * A write-through that fails part-way: the cache must not keep any byte the store did not
 * commit. Injected device errors on chosen bios (the queue's submitBio wrapped).
 */

import test from 'ava';
import type { Bio } from '../../../src/block/bio.js';
import { isFsError } from '../../../src/errors.js';
import { MiB, openVfsStore, vfsRead, vfsReadPath } from './helpers.js';

test('a write whose in-place bio fails and whose hole bio succeeds leaves nothing of it in the cache', async (t) => {
  const s = await openVfsStore(t, { sizeBytes: 16 * MiB, cacheBytes: 1 * MiB });
  const { fs } = s;
  const fh = await fs.vfs.create('/f', 0o644, 2, { uid: 0, gid: 0 });
  await fs.vfs.write(fh, new Uint8Array(4096).fill(1), 4096, 0); // page 0 on the device
  fs.control.write('drop_caches', '1\n');

  // Page 0 is overwritten in place (first write bio), page 1 is a hole that gets a new
  // block (second write bio). The device fails the first one only.
  const q = fs.queue;
  const submit = q.submitBio.bind(q);
  let writes = 0;
  q.submitBio = (bio: Bio): void => {
    if (bio.op === 'write' && writes++ === 0) {
      setImmediate(() => {
        bio.status = 'EIO';
        bio.endIo(bio);
      });
      return;
    }
    submit(bio);
  };
  const err = await t.throwsAsync(fs.vfs.write(fh, new Uint8Array(8192).fill(2), 8192, 0));
  q.submitBio = submit;
  t.true(isFsError(err, 'EIO'), String(err));
  t.is(writes, 2, 'two write bios: page 0 in place, page 1 in a new block');
  t.is((await fs.vfs.fgetattr(fh)).size, 4096, 'i_size is what the store has');

  // Grow the file over page 1: the store has a hole there, so it must read as zeros.
  await fs.vfs.ftruncate(fh, 8192);
  const cached = await vfsRead(fs.vfs, fh, 8192, 0);
  fs.control.write('drop_caches', '1\n');
  const stored = await vfsRead(fs.vfs, fh, 8192, 0);
  t.is([...cached.subarray(4096)].filter((b) => b !== 0).length, 0, 'page 1 reads as zeros from the cache');
  t.true(cached.equals(stored), 'the cache shows what the store has');
  await fs.vfs.release(fh);
  t.true((await vfsReadPath((await s.reopen()).vfs, '/f', 8192)).equals(stored), 'and so does the store after a remount');
});
