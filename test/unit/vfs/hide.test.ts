/**
 * vfs.hide: libfuse 2 renames an open file it is told to unlink to a hidden name; the vfs
 * unlinks it instead and keeps the hidden path as an alias until the last release, so no
 * directory lists it and fstat-like calls by that path still work.
 */

import test from 'ava';
import type { Vfs } from '../../../src/vfs/types.js';
import { openVfsStore, vfsReadAll } from '../fs/helpers.js';

const O_RDWR = 2;
const ROOT = { uid: 0, gid: 0 };
const ALIAS = '/d/.fuse_hidden0000000200000001';

/** The names in a directory, without '.' and '..'. */
async function names(vfs: Vfs, dir: string): Promise<string[]> {
  return (await vfs.readdir(dir)).map((e) => e.name).filter((n) => n !== '.' && n !== '..');
}

test('hiding an open file unlinks it, keeps it reachable by the alias, and frees it at the last release', async (t) => {
  const store = await openVfsStore(t);
  const vfs = store.fs.vfs;
  const free = (await vfs.statfs()).bfree;
  await vfs.mkdir('/d', 0o755, ROOT);
  const fh = await vfs.create('/d/f', 0o644, O_RDWR, ROOT);
  const data = new Uint8Array(64 * 1024).fill(9);
  await vfs.write(fh, data, data.length, 0);
  t.true(await vfs.hide('/d/f', ALIAS));
  t.deepEqual(await names(vfs, '/d'), []);
  const a = await vfs.getattr(ALIAS);
  t.is(a.nlink, 0);
  t.is(a.size, data.length);
  await vfs.chmod(ALIAS, 0o600);
  t.is((await vfs.fgetattr(fh)).mode & 0o7777, 0o600);
  t.is((await vfsReadAll(vfs, fh)).length, data.length);
  await vfs.rmdir('/d'); // empty: the hidden file is no entry
  await vfs.release(fh);
  await t.throwsAsync(vfs.getattr(ALIAS), { code: 'ENOENT' });
  await vfs.unlink(ALIAS).catch(() => undefined); // libfuse's unlink of the hidden name, if it still has a path
  await store.reopen();
  t.is((await store.fs.vfs.statfs()).bfree, free);
});

test('hide changes nothing for a file that is not open; the alias of a file with other links is just dropped', async (t) => {
  const { fs } = await openVfsStore(t);
  const vfs = fs.vfs;
  await vfs.release(await vfs.create('/f', 0o644, O_RDWR, ROOT));
  t.false(await vfs.hide('/f', '/.fuse_hidden0000000100000001'));
  t.deepEqual(await names(vfs, '/'), ['f']);
  await vfs.link('/f', '/g');
  const fh = await vfs.open('/f', O_RDWR);
  t.true(await vfs.hide('/f', '/.fuse_hidden0000000100000002'));
  t.is((await vfs.getattr('/g')).nlink, 1);
  await vfs.unlink('/.fuse_hidden0000000100000002');
  await vfs.release(fh);
  t.is((await vfs.getattr('/g')).nlink, 1);
  t.deepEqual(await names(vfs, '/'), ['g']);
});
