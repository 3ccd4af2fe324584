import test from 'ava';
import { isFsError } from '../../../src/errors.js';
import { ROOT_INO, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../../../src/fs/meta.js';
import { openStore, rejectsCode, reopen } from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('create, lookup, getInode, readdir', async (t) => {
  const { meta } = await openStore(t);
  const rootBefore = meta.getInode(ROOT_INO).mtimeMs;
  await sleep(5);
  const ino = await meta.create(ROOT_INO, 'hello.txt', 0o100644, 1000, 1001);
  t.true(ino > ROOT_INO);
  t.is(meta.lookup(ROOT_INO, 'hello.txt'), ino);
  t.is(meta.lookup(ROOT_INO, 'nope'), undefined);
  t.like(meta.getInode(ino), { ino, mode: S_IFREG | 0o644, uid: 1000, gid: 1001, size: 0, nlink: 1 });
  t.deepEqual(meta.readdir(ROOT_INO), ['hello.txt']);
  t.true(meta.getInode(ROOT_INO).mtimeMs > rootBefore, 'parent mtime updated');
  t.is(meta.lookup(ROOT_INO, '.'), ROOT_INO);
  t.is(meta.lookup(ROOT_INO, '..'), ROOT_INO);
});

test('create errors: EEXIST, ENOTDIR, ENOENT, ENAMETOOLONG (bytes, not characters)', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  await rejectsCode(t, () => meta.create(ROOT_INO, 'f', 0o644, 0, 0), 'EEXIST');
  await rejectsCode(t, () => meta.mkdir(ROOT_INO, 'f', 0o755, 0, 0), 'EEXIST');
  await rejectsCode(t, () => meta.create(f, 'x', 0o644, 0, 0), 'ENOTDIR');
  await rejectsCode(t, () => meta.create(9999, 'x', 0o644, 0, 0), 'ENOENT');
  await rejectsCode(t, () => meta.create(ROOT_INO, 'a'.repeat(256), 0o644, 0, 0), 'ENAMETOOLONG');
  await rejectsCode(t, () => meta.create(ROOT_INO, 'é'.repeat(128), 0o644, 0, 0), 'ENAMETOOLONG'); // 256 bytes
  await rejectsCode(t, () => meta.create(ROOT_INO, 'a/b', 0o644, 0, 0), 'EINVAL');
  await rejectsCode(t, () => meta.create(ROOT_INO, '.', 0o644, 0, 0), 'EEXIST');
  t.is(typeof (await meta.create(ROOT_INO, 'a'.repeat(255), 0o644, 0, 0)), 'number');
  await rejectsCode(t, () => meta.lookup(ROOT_INO, 'a'.repeat(256)), 'ENAMETOOLONG');
  await rejectsCode(t, () => meta.getInode(12345), 'ENOENT');
  await rejectsCode(t, () => meta.readdir(f), 'ENOTDIR');
  t.deepEqual(meta.readdir(ROOT_INO).sort(), ['a'.repeat(255), 'f']);
});

test('mkdir and rmdir keep link counts; rmdir errors', async (t) => {
  const { meta } = await openStore(t);
  const d = await meta.mkdir(ROOT_INO, 'd', 0o755, 0, 0);
  t.like(meta.getInode(d), { mode: S_IFDIR | 0o755, nlink: 2 });
  t.is(meta.getInode(ROOT_INO).nlink, 3);
  const sub = await meta.mkdir(d, 'sub', 0o700, 0, 0);
  t.is(meta.getInode(d).nlink, 3);
  t.is(meta.lookup(sub, '..'), d);
  await meta.create(d, 'file', 0o644, 0, 0);
  t.is(meta.getInode(d).nlink, 3, 'files do not add links to the directory');

  await rejectsCode(t, () => meta.rmdir(ROOT_INO, 'd'), 'ENOTEMPTY');
  await rejectsCode(t, () => meta.rmdir(d, 'file'), 'ENOTDIR');
  await rejectsCode(t, () => meta.rmdir(ROOT_INO, 'missing'), 'ENOENT');
  await rejectsCode(t, () => meta.rmdir(d, '.'), 'EINVAL');
  await meta.rmdir(d, 'sub');
  t.is(meta.getInode(d).nlink, 2);
  await rejectsCode(t, () => meta.getInode(sub), 'ENOENT');
  await meta.unlink(d, 'file');
  await meta.rmdir(ROOT_INO, 'd');
  t.is(meta.getInode(ROOT_INO).nlink, 2);
  t.deepEqual(meta.readdir(ROOT_INO), []);
});

test('unlink decrements nlink, keeps the inode until freeInode; EISDIR, ENOENT', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  await meta.mkdir(ROOT_INO, 'd', 0o755, 0, 0);
  await rejectsCode(t, () => meta.unlink(ROOT_INO, 'd'), 'EISDIR');
  await rejectsCode(t, () => meta.unlink(ROOT_INO, 'nope'), 'ENOENT');
  t.deepEqual(await meta.unlink(ROOT_INO, 'f'), { ino: f, nlink: 0 });
  t.is(meta.lookup(ROOT_INO, 'f'), undefined);
  t.is(meta.getInode(f).nlink, 0, 'an unlinked open file keeps its inode');
  await meta.freeInode(f);
  await rejectsCode(t, () => meta.getInode(f), 'ENOENT');
});

test('freeInode refuses an inode that still has links', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  await rejectsCode(t, () => meta.freeInode(f), 'EINVAL');
  await rejectsCode(t, () => meta.freeInode(ROOT_INO), 'EINVAL');
  t.is(meta.lookup(ROOT_INO, 'f'), f);
});

test('link: counts, EPERM for directories, EEXIST, ENOENT for an unlinked inode', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  const d = await meta.mkdir(ROOT_INO, 'd', 0o755, 0, 0);
  await meta.link(f, d, 'g');
  t.is(meta.getInode(f).nlink, 2);
  t.is(meta.lookup(d, 'g'), f);
  await rejectsCode(t, () => meta.link(d, ROOT_INO, 'd2'), 'EPERM');
  await rejectsCode(t, () => meta.link(f, ROOT_INO, 'd'), 'EEXIST');
  t.deepEqual(await meta.unlink(ROOT_INO, 'f'), { ino: f, nlink: 1 });
  t.deepEqual(await meta.unlink(d, 'g'), { ino: f, nlink: 0 });
  await rejectsCode(t, () => meta.link(f, ROOT_INO, 'back'), 'ENOENT');
});

test('symlink and readlink; EINVAL for readlink of a non-symlink', async (t) => {
  const { meta } = await openStore(t);
  const l = await meta.symlink(ROOT_INO, 'l', '../somewhere/é', 5, 6);
  t.like(meta.getInode(l), { mode: S_IFLNK | 0o777, size: Buffer.byteLength('../somewhere/é'), uid: 5, gid: 6, nlink: 1 });
  t.is(meta.readlink(l), '../somewhere/é');
  await rejectsCode(t, () => meta.readlink(ROOT_INO), 'EINVAL');
  await rejectsCode(t, () => meta.symlink(ROOT_INO, 'l', 'x', 0, 0), 'EEXIST');
  await rejectsCode(t, () => meta.symlink(ROOT_INO, 'empty', '', 0, 0), 'ENOENT');
  await rejectsCode(t, () => meta.truncate(l, 0), 'EINVAL');
});

test('rename a file within a directory and across directories', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'a', 0o644, 0, 0);
  const d = await meta.mkdir(ROOT_INO, 'd', 0o755, 0, 0);
  t.is(await meta.rename(ROOT_INO, 'a', ROOT_INO, 'b'), undefined);
  t.is(meta.lookup(ROOT_INO, 'a'), undefined);
  t.is(meta.lookup(ROOT_INO, 'b'), f);
  await meta.rename(ROOT_INO, 'b', d, 'c');
  t.is(meta.lookup(d, 'c'), f);
  t.is(meta.getInode(f).nlink, 1);
  t.is(meta.getInode(ROOT_INO).nlink, 3);
  t.is(meta.getInode(d).nlink, 2);
  await rejectsCode(t, () => meta.rename(ROOT_INO, 'missing', ROOT_INO, 'x'), 'ENOENT');
  await rejectsCode(t, () => meta.rename(ROOT_INO, 'd', ROOT_INO, 'x'.repeat(256)), 'ENAMETOOLONG');
});

test('rename over an existing file replaces it and reports its links', async (t) => {
  const { meta } = await openStore(t);
  const a = await meta.create(ROOT_INO, 'a', 0o644, 0, 0);
  const b = await meta.create(ROOT_INO, 'b', 0o644, 0, 0);
  await meta.link(b, ROOT_INO, 'b2');
  t.deepEqual(await meta.rename(ROOT_INO, 'a', ROOT_INO, 'b'), { ino: b, nlink: 1 });
  t.is(meta.lookup(ROOT_INO, 'b'), a);
  t.deepEqual(await meta.rename(ROOT_INO, 'b', ROOT_INO, 'b2'), { ino: b, nlink: 0 });
  t.deepEqual(meta.readdir(ROOT_INO), ['b2']);
  t.is(meta.lookup(ROOT_INO, 'b2'), a);
});

test('rename of the same inode (same entry or hard links) is a no-op', async (t) => {
  const { meta } = await openStore(t);
  const a = await meta.create(ROOT_INO, 'a', 0o644, 0, 0);
  await meta.link(a, ROOT_INO, 'a2');
  t.is(await meta.rename(ROOT_INO, 'a', ROOT_INO, 'a'), undefined);
  t.is(await meta.rename(ROOT_INO, 'a', ROOT_INO, 'a2'), undefined);
  t.deepEqual(meta.readdir(ROOT_INO).sort(), ['a', 'a2']);
  t.is(meta.getInode(a).nlink, 2);
});

test('rename directories: over an empty dir, ENOTEMPTY, EISDIR, ENOTDIR, EINVAL into itself', async (t) => {
  const { meta } = await openStore(t);
  const d1 = await meta.mkdir(ROOT_INO, 'd1', 0o755, 0, 0);
  const d2 = await meta.mkdir(ROOT_INO, 'd2', 0o755, 0, 0);
  const full = await meta.mkdir(ROOT_INO, 'full', 0o755, 0, 0);
  await meta.create(full, 'x', 0o644, 0, 0);
  const sub = await meta.mkdir(d1, 'sub', 0o755, 0, 0);
  await meta.create(ROOT_INO, 'file', 0o644, 0, 0);
  t.is(meta.getInode(ROOT_INO).nlink, 5);

  await rejectsCode(t, () => meta.rename(ROOT_INO, 'd1', ROOT_INO, 'full'), 'ENOTEMPTY');
  await rejectsCode(t, () => meta.rename(ROOT_INO, 'file', ROOT_INO, 'd2'), 'EISDIR');
  await rejectsCode(t, () => meta.rename(ROOT_INO, 'd1', ROOT_INO, 'file'), 'ENOTDIR');
  await rejectsCode(t, () => meta.rename(ROOT_INO, 'd1', sub, 'loop'), 'EINVAL');
  await rejectsCode(t, () => meta.rename(ROOT_INO, 'd1', d1, 'self'), 'EINVAL');
  t.deepEqual(meta.readdir(ROOT_INO).sort(), ['d1', 'd2', 'file', 'full'], 'refused renames changed nothing');

  // directory over an empty directory: the target is removed, counts stay right
  t.is(await meta.rename(ROOT_INO, 'd1', ROOT_INO, 'd2'), undefined);
  t.is(meta.lookup(ROOT_INO, 'd2'), d1);
  await rejectsCode(t, () => meta.getInode(d2), 'ENOENT');
  t.is(meta.getInode(ROOT_INO).nlink, 4);

  // move a directory to another parent: '..' and both parents' counts follow
  await meta.rename(d1, 'sub', full, 'sub');
  t.is(meta.lookup(sub, '..'), full);
  t.is(meta.getInode(d1).nlink, 2);
  t.is(meta.getInode(full).nlink, 3);
  // and now full/sub may be moved to the root (not its own subtree any more)
  await meta.rename(full, 'sub', ROOT_INO, 'sub');
  t.is(meta.getInode(ROOT_INO).nlink, 5);
});

test('setattr: mode keeps the type, uid/gid, times; ctime moves', async (t) => {
  const { meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  const ctime = meta.getInode(f).ctimeMs;
  await sleep(5);
  await meta.setattr(f, { mode: S_IFDIR | 0o4755, uid: 7, gid: 8, atimeMs: 1000, mtimeMs: 2000 });
  const i = meta.getInode(f);
  t.is(i.mode & S_IFMT, S_IFREG);
  t.is(i.mode & 0o7777, 0o4755);
  t.like(i, { uid: 7, gid: 8, atimeMs: 1000, mtimeMs: 2000 });
  t.true(i.ctimeMs > ctime);
  await rejectsCode(t, () => meta.setattr(f, { uid: -2 }), 'EINVAL');
  await rejectsCode(t, () => meta.setattr(ROOT_INO, { size: 0 }), 'EISDIR');
  await rejectsCode(t, () => meta.setattr(f, { size: 2 ** 51 }), 'EFBIG');
  await rejectsCode(t, () => meta.setattr(f, { size: -1 }), 'EINVAL');
});

test('the namespace survives close and reopen', async (t) => {
  const { store, meta } = await openStore(t);
  const d = await meta.mkdir(ROOT_INO, 'dir', 0o750, 3, 4);
  const f = await meta.create(d, 'file', 0o600, 3, 4);
  await meta.link(f, ROOT_INO, 'hard');
  await meta.symlink(ROOT_INO, 'link', 'dir/file', 3, 4);
  await meta.setattr(f, { mtimeMs: 12345 });
  await meta.rename(ROOT_INO, 'link', d, 'link2');
  const nextBefore = await meta.create(ROOT_INO, 'tmp', 0o644, 0, 0);
  await meta.unlink(ROOT_INO, 'tmp');
  await meta.freeInode(nextBefore);

  const m2 = await reopen(t, store, meta);
  t.deepEqual(m2.readdir(ROOT_INO).sort(), ['dir', 'hard']);
  t.deepEqual(m2.readdir(d).sort(), ['file', 'link2']);
  t.like(m2.getInode(f), { nlink: 2, mode: S_IFREG | 0o600, uid: 3, gid: 4, mtimeMs: 12345 });
  t.like(m2.getInode(d), { nlink: 2, mode: S_IFDIR | 0o750 });
  t.is(m2.getInode(ROOT_INO).nlink, 3);
  t.is(m2.readlink(m2.lookup(d, 'link2')!), 'dir/file');
  t.is(m2.lookup(d, '..'), ROOT_INO);
  await rejectsCode(t, () => m2.getInode(nextBefore), 'ENOENT');
  const fresh = await m2.create(ROOT_INO, 'new', 0o644, 0, 0);
  t.true(fresh > nextBefore, 'inode numbers are not reused');
  t.is(m2.statfs().ffree, m2.statfs().files - 5);
});

test('an inode unlinked while open and never freed (crash) is freed at the next open', async (t) => {
  const { store, meta } = await openStore(t);
  const f = await meta.create(ROOT_INO, 'f', 0o644, 0, 0);
  const [run] = meta.allocateBlocks(f, 0, 10);
  await meta.attachExtents(f, [{ fileBlock: 0, devBlock: run!.start, len: 10 }], 40960);
  await meta.unlink(ROOT_INO, 'f');
  const m2 = await reopen(t, store, meta);
  t.true(isFsError(t.throws(() => m2.getInode(f)), 'ENOENT'));
  t.is(m2.statfs().bfree, m2.statfs().blocks);
});

test('concurrent operations commit together and all land', async (t) => {
  const { store, meta } = await openStore(t);
  const names = Array.from({ length: 200 }, (_, i) => `f${i}`);
  const inos = await Promise.all(names.map((n) => meta.create(ROOT_INO, n, 0o644, 0, 0)));
  t.is(new Set(inos).size, 200);
  const m2 = await reopen(t, store, meta);
  t.deepEqual(m2.readdir(ROOT_INO).sort(), [...names].sort());
  for (let i = 0; i < names.length; i++) t.is(m2.lookup(ROOT_INO, names[i]!), inos[i]);
});
