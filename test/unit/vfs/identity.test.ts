/**
 * POSIX identity in the vfs (src/vfs/identity.ts): owner and group of new inodes, setgid
 * directories, set-id bits dropped by unprivileged writes, truncates and chmods, utimens
 * with UTIME_OMIT / UTIME_NOW, and mknod's node types with their device number, also
 * after a remount. The same rules through a real mount: test/e2e/posix.test.ts.
 */

import test from 'ava';
import { openVfsStore } from '../fs/helpers.js';

const O_WRONLY = 1;
const O_TRUNC = 0o1000;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;
const ROOT = { uid: 0, gid: 0 };
const NOBODY = { uid: 65534, gid: 65534 };
const perm = (mode: number): number => mode & 0o7777;

test('new files, directories, symlinks and nodes belong to the caller', async (t) => {
  const { fs } = await openVfsStore(t);
  const vfs = fs.vfs;
  const user = { uid: 1000, gid: 1001 };
  await vfs.release(await vfs.create('/f', 0o644, O_WRONLY, user));
  await vfs.mkdir('/d', 0o755, user);
  await vfs.symlink('f', '/l', user);
  await vfs.mknod('/p', S_IFIFO | 0o644, 0, user);
  for (const p of ['/f', '/d', '/l', '/p']) {
    const a = await vfs.getattr(p);
    t.deepEqual([a.uid, a.gid], [1000, 1001], p);
  }
});

test('in a setgid directory new inodes get its group, and new directories are setgid too', async (t) => {
  const { fs } = await openVfsStore(t);
  const vfs = fs.vfs;
  await vfs.mkdir('/g', 0o777, ROOT);
  await vfs.chown('/g', 0, 100);
  await vfs.chmod('/g', 0o2777);
  await vfs.release(await vfs.create('/g/f', 0o644, O_WRONLY, NOBODY));
  await vfs.mkdir('/g/d', 0o755, NOBODY);
  await vfs.symlink('f', '/g/l', NOBODY);
  await vfs.mknod('/g/s', S_IFSOCK | 0o755, 0, NOBODY);
  for (const p of ['/g/f', '/g/d', '/g/l', '/g/s']) {
    const a = await vfs.getattr(p);
    t.deepEqual([a.uid, a.gid], [65534, 100], p);
  }
  t.is(perm((await vfs.getattr('/g/d')).mode), 0o2755);
  t.is(perm((await vfs.getattr('/g/f')).mode), 0o644, 'a file does not become setgid');
  // A directory that is not setgid passes on nothing.
  await vfs.mkdir('/g/d/plain', 0o755, ROOT);
  await vfs.chmod('/g/d', 0o755, ROOT);
  await vfs.mkdir('/g/d/after', 0o755, NOBODY);
  t.deepEqual([(await vfs.getattr('/g/d/after')).gid, perm((await vfs.getattr('/g/d/after')).mode)], [65534, 0o755]);
});

test('a write or truncate by an unprivileged caller drops S_ISUID, and S_ISGID with group-exec; root keeps them', async (t) => {
  const { fs } = await openVfsStore(t);
  const vfs = fs.vfs;
  const data = new Uint8Array(10).fill(1);
  const make = async (name: string, mode: number): Promise<number> => {
    const fh = await vfs.create(name, 0o666, O_WRONLY, ROOT);
    await vfs.chmod(name, mode);
    return fh;
  };
  const modeOf = async (p: string): Promise<number> => perm((await vfs.getattr(p)).mode);

  const a = await make('/a', 0o6777);
  await vfs.write(a, data, data.length, 0, ROOT);
  t.is(await modeOf('/a'), 0o6777, 'root (CAP_FSETID) keeps both bits');
  await vfs.write(a, data, data.length, 0, NOBODY);
  t.is(await modeOf('/a'), 0o777);

  const b = await make('/b', 0o6767); // setgid without group-exec, nobody not in group 0
  await vfs.write(b, data, data.length, 0, NOBODY);
  t.is(await modeOf('/b'), 0o767);

  const c = await make('/c', 0o2767); // setgid without group-exec, caller in the group: kept
  await vfs.write(c, data, data.length, 0, { uid: 65534, gid: 0 });
  t.is(await modeOf('/c'), 0o2767);
  await vfs.write(c, data, data.length, 0, { uid: 65534, gid: 7, groups: () => [0] });
  t.is(await modeOf('/c'), 0o2767, 'a supplementary group counts');

  await make('/d', 0o4755);
  await vfs.truncate('/d', 0, NOBODY);
  t.is(await modeOf('/d'), 0o755);

  const e = await make('/e', 0o2775);
  await vfs.ftruncate(e, 3, NOBODY);
  t.is(await modeOf('/e'), 0o775);

  await make('/f', 0o4777);
  await vfs.release(await vfs.open('/f', O_WRONLY | O_TRUNC, NOBODY));
  t.is(await modeOf('/f'), 0o777, 'open with O_TRUNC truncates as the caller');
  for (const fh of [a, b, c, e]) await vfs.release(fh);
});

test('chmod g+s by a caller outside the file group drops S_ISGID; a member or root sets it', async (t) => {
  const { fs } = await openVfsStore(t);
  const vfs = fs.vfs;
  await vfs.release(await vfs.create('/f', 0o644, O_WRONLY, NOBODY));
  await vfs.chown('/f', 65534, 100);
  await vfs.chmod('/f', 0o2755, NOBODY);
  t.is(perm((await vfs.getattr('/f')).mode), 0o755);
  await vfs.chmod('/f', 0o2755, { uid: 65534, gid: 65534, groups: () => [100] });
  t.is(perm((await vfs.getattr('/f')).mode), 0o2755);
  await vfs.chmod('/f', 0o4755, NOBODY);
  t.is(perm((await vfs.getattr('/f')).mode), 0o4755, 'the owner may set S_ISUID');
});

test('utimens: UTIME_OMIT leaves that time, UTIME_NOW sets it now, values keep their microseconds', async (t) => {
  const { fs } = await openVfsStore(t);
  const vfs = fs.vfs;
  await vfs.release(await vfs.create('/f', 0o644, O_WRONLY, ROOT));
  await vfs.utimens('/f', 1_000_000.25, 2_000_000.125);
  let a = await vfs.getattr('/f');
  t.deepEqual([a.atimeMs, a.mtimeMs], [1_000_000.25, 2_000_000.125]);
  await vfs.utimens('/f', 'omit', 3_000_000.0004); // below the microsecond: rounded
  a = await vfs.getattr('/f');
  t.deepEqual([a.atimeMs, a.mtimeMs], [1_000_000.25, 3_000_000]);
  await vfs.utimens('/f', 4_000_000, 'omit');
  a = await vfs.getattr('/f');
  t.deepEqual([a.atimeMs, a.mtimeMs], [4_000_000, 3_000_000]);
  const ctime = a.ctimeMs;
  await vfs.utimens('/f', 'omit', 'omit');
  t.is((await vfs.getattr('/f')).ctimeMs, ctime, 'both omitted: nothing changes');
  const before = Date.now();
  await vfs.utimens('/f', 'now', 'omit');
  a = await vfs.getattr('/f');
  t.true(a.atimeMs >= before);
  t.is(a.mtimeMs, 3_000_000);
});

test('mknod: FIFOs, sockets, character and block devices with their rdev, also after a remount', async (t) => {
  const store = await openVfsStore(t);
  const nodes: [string, number, number][] = [
    ['/fifo', S_IFIFO | 0o644, 0],
    ['/sock', S_IFSOCK | 0o755, 0],
    ['/null', S_IFCHR | 0o666, 0x103], // makedev(1, 3)
    ['/loop', S_IFBLK | 0o660, 0x700], // makedev(7, 0)
    ['/plain', 0o600, 0], // type 0: a regular file
  ];
  for (const [p, mode, rdev] of nodes) await store.fs.vfs.mknod(p, mode, rdev, ROOT);
  for (const vfs of [store.fs.vfs, (await store.reopen()).vfs]) {
    for (const [p, mode, rdev] of nodes) {
      const a = await vfs.getattr(p);
      t.is(a.mode, (mode & S_IFMT) === 0 ? mode | S_IFREG : mode, p);
      t.is(a.rdev, rdev, p);
    }
  }
  const vfs = store.fs.vfs;
  await t.throwsAsync(vfs.mknod('/dir', S_IFDIR | 0o755, 0, ROOT), { code: 'EINVAL' });
  await vfs.link('/fifo', '/fifo2');
  await vfs.unlink('/fifo');
  await vfs.unlink('/fifo2');
  await vfs.rename('/sock', '/sock2');
  t.is((await vfs.getattr('/sock2')).mode & S_IFMT, S_IFSOCK);
});
