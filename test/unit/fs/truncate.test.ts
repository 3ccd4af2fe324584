/**
 * truncate through the vfs: a size the filesystem refuses leaves the file as it was; a
 * truncate is serialized against writes, never shows zeros inside the old size, zeroes the
 * new last block's tail on the device (not a hole), and an unlink waits for it.
 */

import test from 'ava';
import { fsError, isFsError } from '../../../src/errors.js';
import { MiB, openVfsStore, vfsRead, vfsReadPath } from './helpers.js';

test('ftruncate past the largest file is EFBIG and changes nothing', async (t) => {
  const { vfs } = (await openVfsStore(t, { sizeBytes: 16 * MiB })).fs;

  const fh = await vfs.create('/f', 0o644, 2, { uid: 0, gid: 0 });
  await vfs.write(fh, new Uint8Array(8192).fill(7), 8192, 0);
  const err = await t.throwsAsync(vfs.ftruncate(fh, 2 ** 51));
  t.true(isFsError(err, 'EFBIG'), String(err));
  t.is((await vfs.fgetattr(fh)).size, 8192, 'fgetattr');
  t.is((await vfs.getattr('/f')).size, 8192, 'getattr');
  await vfs.release(fh);
});

test('a write and a truncate of the same file are serialized (i_rwsem): the store keeps what the cache showed', async (t) => {
  const s = await openVfsStore(t);
  let fs = s.fs;
  const KiB = 1024;
  const old = new Uint8Array(128 * KiB).fill(1);
  const data = new Uint8Array(64 * KiB).fill(2);
  // Inside the old bytes and unaligned: with nothing cached, the write reads its first and
  // last pages from the device, so it yields to the event loop between its pages.
  const at = 32 * KiB + 100;
  const cut = 4 * KiB + 100; // a partial last page: truncate writes zeros to the device first
  // Both orders of starting, each with the second call started 0..40 event-loop turns later.
  const cases: { name: string; writeFirst: boolean; turns: number }[] = [];
  for (const writeFirst of [true, false]) for (let turns = 0; turns <= 40; turns++) cases.push({ name: `/${writeFirst ? 'w' : 't'}${turns}`, writeFirst, turns });
  const writeLast = new Uint8Array(at + data.length);
  writeLast.fill(1, 0, cut);
  writeLast.set(data, at);
  const truncateLast = new Uint8Array(cut).fill(1);
  const seen = new Map<string, Uint8Array>();
  for (const c of cases) {
    const fh = await fs.vfs.create(c.name, 0o644, 2, { uid: 0, gid: 0 });
    await fs.vfs.write(fh, old, old.length, 0);
    fs.control.write('drop_caches', '1\n');
    const write = (): Promise<number> => fs.vfs.write(fh, data, data.length, at);
    const truncate = (): Promise<void> => fs.vfs.ftruncate(fh, cut);
    const first = c.writeFirst ? write() : truncate();
    for (let i = 0; i < c.turns; i++) await new Promise((resolve) => setImmediate(resolve));
    const second = c.writeFirst ? truncate() : write();
    await Promise.all([first, second]);
    await fs.vfs.release(fh);

    // One of the two serial outcomes, whole: truncate then write, or write then truncate.
    const got = await vfsReadPath(fs.vfs, c.name);
    t.true(got.equals(writeLast) || got.equals(truncateLast), `${c.name}: ${got.length} bytes, not one of the serial outcomes`);
    seen.set(c.name, got);
  }
  fs = await s.reopen();
  for (const c of cases) {
    const got = await vfsReadPath(fs.vfs, c.name);
    t.true(got.equals(seen.get(c.name)!), `${c.name} after remount: ${got.length} bytes, the cache had ${seen.get(c.name)!.length}`);
  }
});

test('a read racing a shrinking truncate sees the old bytes or the new size, never zeros inside the old size', async (t) => {
  const { fs } = await openVfsStore(t);
  const KiB = 1024;
  const old = Buffer.alloc(128 * KiB, 1);
  const cut = 4 * KiB + 100; // inside a page: its tail is zeroed on the device
  for (const readFirst of [false, true]) {
    for (let turns = 0; turns <= 40; turns++) {
      const name = `/${readFirst ? 'r' : 't'}${turns}`;
      const fh = await fs.vfs.create(name, 0o644, 2, { uid: 0, gid: 0 });
      await fs.vfs.write(fh, old, old.length, 0);
      fs.control.write('drop_caches', '1\n');
      const read = (): Promise<Buffer> => vfsRead(fs.vfs, fh, old.length, 0);
      const truncate = (): Promise<void> => fs.vfs.ftruncate(fh, cut);
      const first = readFirst ? read() : truncate();
      for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
      const second = readFirst ? truncate() : read();
      const got = (readFirst ? await first : await second) as Buffer;
      await Promise.all([first, second]);
      t.true(got.equals(old) || got.equals(old.subarray(0, cut)), `${name}: read ${got.length} bytes, ${got.indexOf(0)} is the first zero`);
      await fs.vfs.release(fh);
    }
  }
});

test('a shrinking truncate zeroes the rest of the new last block on the device; a hole there needs no block', async (t) => {
  const s = await openVfsStore(t, { sizeBytes: 8 * MiB, blockFileSize: 1 * MiB, cacheBytes: 4 * MiB });
  const { fs } = s;
  const caller = { uid: 0, gid: 0 };
  // A mapped last block: its old bytes past the cut must read as zeros after growing again,
  // from the device (after drop_caches) as from the cache.
  const a = await fs.vfs.create('/a', 0o644, 2, caller);
  await fs.vfs.write(a, new Uint8Array(8192).fill(0xff), 8192, 0);
  await fs.vfs.ftruncate(a, 4196);
  fs.control.write('drop_caches', '1\n');
  await fs.vfs.ftruncate(a, 8192);
  const want = Buffer.alloc(8192);
  want.fill(0xff, 0, 4196);
  t.true((await vfsRead(fs.vfs, a, 8192, 0)).equals(want), 'zeros past the old cut');

  // A hole as the new last block, on a full store: nothing to zero, so no block is needed.
  const sparse = await fs.vfs.create('/sparse', 0o644, 2, caller);
  await fs.vfs.ftruncate(sparse, MiB);
  const fill = await fs.vfs.create('/fill', 0o644, 2, caller);
  let pos = 0;
  for (const size of [256 * 1024, 4096]) {
    const chunk = new Uint8Array(size).fill(3);
    // Until the store refuses (ENOSPC) or takes less than asked; any other error fails the test.
    const full = (err: unknown): number => {
      if (isFsError(err, 'ENOSPC')) return 0;
      throw err;
    };
    while ((await fs.vfs.write(fill, chunk, size, pos).catch(full)) === size) pos += size;
  }
  t.is((await fs.vfs.statfs()).bfree, 0, 'the store is full');
  await fs.vfs.ftruncate(sparse, 100 * 4096 + 1);
  t.is((await fs.vfs.fgetattr(sparse)).size, 100 * 4096 + 1);
  t.true((await vfsRead(fs.vfs, sparse, 100 * 4096 + 1, 0)).equals(Buffer.alloc(100 * 4096 + 1)));
  for (const fh of [a, sparse, fill]) await fs.vfs.release(fh);

  t.true((await vfsReadPath((await s.reopen()).vfs, '/a', 8192)).equals(want), 'the same after a remount');
});

test('a truncate whose tail zeroing fails after the zeros reached the device keeps the new size, and says EIO', async (t) => {
  const s = await openVfsStore(t, { sizeBytes: 16 * MiB, cacheBytes: 4 * MiB });
  const { fs } = s;
  const fh = await fs.vfs.create('/f', 0o644, 2, { uid: 0, gid: 0 });
  await fs.vfs.write(fh, new Uint8Array(8192).fill(0xff), 8192, 0);
  // The zeros are written, then their metadata commit fails (once).
  const { aops } = fs.cache.findMapping((await fs.vfs.fgetattr(fh)).ino)!;
  const writepages = aops.writepages.bind(aops);
  let failures = 1;
  (aops as { writepages: typeof writepages }).writepages = async (mapping, pages) => {
    await writepages(mapping, pages);
    if (failures-- > 0) throw fsError('EIO', 'commit failed (injected)');
  };
  const err = await t.throwsAsync(fs.vfs.ftruncate(fh, 4196));
  t.true(isFsError(err, 'EIO'), String(err));
  // Not the old size with zeros inside it: the truncate is done.
  const want = Buffer.alloc(4196, 0xff);
  t.is((await fs.vfs.fgetattr(fh)).size, 4196);
  t.true((await vfsRead(fs.vfs, fh, 8192, 0)).equals(want), 'from the cache');
  fs.control.write('drop_caches', '1\n');
  t.true((await vfsRead(fs.vfs, fh, 8192, 0)).equals(want), 'from the device');
  await fs.vfs.release(fh);
  t.true((await vfsReadPath((await s.reopen()).vfs, '/f', 8192)).equals(want), 'after a remount');
});

test('an unlink while a truncate by path runs waits for it: both succeed and every block comes back', async (t) => {
  const { fs } = await openVfsStore(t, { sizeBytes: 16 * MiB, cacheBytes: 4 * MiB });
  const free = (await fs.vfs.statfs()).bfree;
  for (let turns = 0; turns <= 20; turns++) {
    const name = `/u${turns}`;
    const fh = await fs.vfs.create(name, 0o644, 2, { uid: 0, gid: 0 });
    await fs.vfs.write(fh, new Uint8Array(64 * 1024).fill(5), 64 * 1024, 0);
    await fs.vfs.release(fh);
    fs.control.write('drop_caches', '1\n');
    const truncate = fs.vfs.truncate(name, 4196); // reads and zeroes its last page on the device
    for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
    const results = await Promise.allSettled([truncate, fs.vfs.unlink(name)]);
    t.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason))),
      ['ok', 'ok'],
      `${name}`,
    );
  }
  t.is((await fs.vfs.statfs()).bfree, free, 'every block is free again');
});

test('at 2^53 and beyond: a read is EOF (0 bytes), a truncate or write is EFBIG, nothing changes', async (t) => {
  const { vfs } = (await openVfsStore(t, { sizeBytes: 16 * MiB })).fs;
  const fh = await vfs.create('/big', 0o644, 2, { uid: 0, gid: 0 });
  await vfs.write(fh, new Uint8Array(100).fill(3), 100, 0);
  for (const pos of [2 ** 53, 2 ** 53 + 4096, 2 ** 63, 2 ** 50]) {
    t.is((await vfsRead(vfs, fh, 16, pos)).length, 0, `read at ${pos}`);
  }
  for (const size of [2 ** 53, 2 ** 64, Infinity]) {
    t.true(isFsError(await t.throwsAsync(vfs.ftruncate(fh, size)), 'EFBIG'), `ftruncate to ${size}`);
    t.true(isFsError(await t.throwsAsync(vfs.truncate('/big', size)), 'EFBIG'), `truncate to ${size}`);
  }
  t.true(isFsError(await t.throwsAsync(vfs.write(fh, new Uint8Array(8), 8, 2 ** 53)), 'EFBIG'), 'write at 2^53');
  t.true(isFsError(await t.throwsAsync(vfs.ftruncate(fh, -1)), 'EINVAL'), 'a negative size is still EINVAL');
  t.is((await vfs.fgetattr(fh)).size, 100);
  await vfs.release(fh);
});
