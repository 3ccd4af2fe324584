/**
 * POSIX identity through a real mount (issue 13, defects 4, 5 and 10): real inode numbers
 * (use_ino), no .fuse_hidden files (hard_remove), fresh attributes on every name of a hard
 * link, both utimens times (the patched fuse-native), ownership by the calling user
 * (--allow-other, run as nobody with setpriv), setgid directories, set-id bits dropped on
 * write, and FIFOs, sockets and device nodes. The vfs rules alone: test/unit/vfs/identity.test.ts.
 */

import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, link, mkdir, open, readdir, rmdir, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sh } from '../helpers/cli.js';
import { withMount, type MountCtx } from '../helpers/mount.js';

const NOBODY = 65534;
const MiB = 1 << 20;

/** Single-quote `s` for bash. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run `cmd` with bash as uid/gid 65534 and no supplementary groups; resolves with the exit code and output. */
function asNobody(cmd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'bash', '-c', cmd], { cwd: '/' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
  });
}

/** Run as nobody; reject with the output unless it succeeds. */
async function nobody(cmd: string): Promise<string> {
  const r = await asNobody(cmd);
  if (r.code !== 0) throw new Error(`as nobody: ${cmd}: exit ${r.code}: ${r.out}`);
  return r.out;
}

/** Let other users reach the mountpoint (withMount's temp dir is 0700). */
async function openToOthers(ctx: MountCtx): Promise<void> {
  await chmod(ctx.tmp, 0o755);
}

const ALLOW_OTHER = { mountArgs: ['--allow-other'] };

test('hard links report one inode number: stat, find -samefile and du agree (use_ino)', async (t) => {
  await withMount(t, {}, async (mnt) => {
    await mkdir(join(mnt, 'd'));
    await writeFile(join(mnt, 'd', 'a'), Buffer.alloc(MiB, 1));
    await link(join(mnt, 'd', 'a'), join(mnt, 'd', 'b'));
    const [a, b] = await Promise.all([stat(join(mnt, 'd', 'a')), stat(join(mnt, 'd', 'b'))]);
    t.is(a.ino, b.ino);
    // readdir's d_ino and d_type agree with stat
    const py = `import os,sys\nfor e in sorted(os.scandir(sys.argv[1]), key=lambda e: e.name): print(e.name, e.inode(), e.is_file(follow_symlinks=False))`;
    t.deepEqual((await sh(`python3 -c ${q(py)} ${q(join(mnt, 'd'))}`)).trim().split('\n'), [`a ${a.ino} True`, `b ${a.ino} True`]);
    t.is((await sh(`stat -c %i ${q(join(mnt, 'd', 'a'))} ${q(join(mnt, 'd', 'b'))}`)).split('\n')[0], String(a.ino));
    const same = (await sh(`find ${q(join(mnt, 'd'))} -samefile ${q(join(mnt, 'd', 'a'))}`)).trim().split('\n').sort();
    t.deepEqual(same, [join(mnt, 'd', 'a'), join(mnt, 'd', 'b')]);
    // Control files have inode numbers of their own, none 0 and no two alike.
    const ctl = (await sh(`cd ${q(mnt)} && stat -c %i .aheadfs .aheadfs/stats .aheadfs/pid .aheadfs/tunables`)).trim().split('\n');
    t.is(new Set(ctl).size, 4);
    t.false(ctl.includes('0') || ctl.includes(String(a.ino)));
    // du counts the linked data once: 1 MiB plus the directory, not 2 MiB.
    const kib = Number((await sh(`du -sk ${q(join(mnt, 'd'))}`)).split('\t')[0]);
    t.true(kib >= 1024 && kib < 2048, `du -sk gave ${kib}`);
  });
});

test('the other name of a hard link shows the new size, mode and link count at once', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const a = join(mnt, 'a');
    const b = join(mnt, 'b');
    await writeFile(a, 'x');
    await link(a, b);
    t.is((await stat(a)).nlink, 2);
    t.is((await stat(b)).nlink, 2);
    await writeFile(b, Buffer.alloc(5000, 2), { flag: 'a' });
    await chmod(b, 0o600);
    const sa = await stat(a);
    t.is(sa.size, 5001);
    t.is(sa.mode & 0o7777, 0o600);
    await unlink(b);
    t.is((await stat(a)).nlink, 1);
  });
});

test('unlinking an open file leaves no .fuse_hidden file; the handle still works; the directory can be removed', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const dir = join(mnt, 'd');
    await mkdir(dir);
    const fh = await open(join(dir, 'f'), 'w+');
    await fh.write('hello');
    await unlink(join(dir, 'f'));
    t.deepEqual(await readdir(dir), []);
    await fh.write(' world', 5);
    const buf = Buffer.alloc(11);
    await fh.read(buf, 0, 11, 0);
    t.is(buf.toString(), 'hello world');
    t.is((await fh.stat()).nlink, 0);
    await rmdir(dir);
    await fh.close();
    t.deepEqual((await readdir(mnt)).filter((n) => n.startsWith('.fuse_hidden')), []);
  });
});

test('an inode unlinked while open is freed at the next mount after the daemon is killed', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    const free = (await statfs(mnt)).bfree;
    const fh = await open(join(mnt, 'big'), 'w');
    await fh.write(Buffer.alloc(8 * MiB, 7));
    await fh.sync();
    await unlink(join(mnt, 'big'));
    t.true((await statfs(mnt)).bfree <= free - 2048, 'the open file still holds its blocks');
    const pid = await ctx.daemonPid();
    if (pid === undefined) throw new Error('no daemon pid');
    process.kill(pid, 'SIGKILL');
    await fh.close().catch(() => undefined); // the mount is dead: ENOTCONN
    await sh(`fusermount -uz ${q(mnt)}`);
    await ctx.mount();
    t.is((await statfs(mnt)).bfree, free);
    t.deepEqual(await readdir(mnt), []);
  });
});

test('touch -m and touch -a set one time each, to the microsecond (both utimens times, UTIME_OMIT)', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const f = join(mnt, 'f');
    await writeFile(f, '');
    const before = await stat(f);
    await sh(`touch -m -d '2001-02-03 04:05:06.789012' ${q(f)}`);
    let s = await stat(f, { bigint: true });
    t.is(s.mtimeNs, BigInt(Date.UTC(2001, 1, 3, 4, 5, 6)) * 1_000_000n + 789_012_000n);
    t.is(Number(s.atimeNs / 1_000_000n), Math.floor(before.atimeMs), 'the atime is left alone');
    await sh(`touch -a -d '1999-12-31 23:59:59' ${q(f)}`);
    s = await stat(f, { bigint: true });
    t.is(s.atimeNs, BigInt(Date.UTC(1999, 11, 31, 23, 59, 59)) * 1_000_000n);
    t.is(s.mtimeNs, BigInt(Date.UTC(2001, 1, 3, 4, 5, 6)) * 1_000_000n + 789_012_000n, 'the mtime is left alone');
    await sh(`touch ${q(f)}`); // UTIME_NOW for both
    t.true((await stat(f)).mtimeMs >= before.mtimeMs);
  });
});

test('without --allow-other other users are kept out; with it they own what they create and modes apply', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await openToOthers(ctx);
    const r = await asNobody(`ls ${q(mnt)}`);
    t.not(r.code, 0);
    t.regex(r.out, /Permission denied/);
  });
  await withMount(t, ALLOW_OTHER, async (mnt, ctx) => {
    await openToOthers(ctx);
    await mkdir(join(mnt, 'pub'));
    await chmod(join(mnt, 'pub'), 0o1777);
    const pub = join(mnt, 'pub');
    await nobody(`cd ${q(pub)} && echo hi > f && mkdir d && ln -s f l && mkfifo p && ln f h`);
    for (const n of ['f', 'd', 'l', 'p']) {
      const out = await sh(`stat -c '%u:%g' ${q(join(pub, n))}`);
      t.is(out.trim(), `${NOBODY}:${NOBODY}`, n);
    }
    // root's private file stays private; nobody cannot chown to root or touch root's file.
    await writeFile(join(mnt, 'secret'), 'SECRET', { mode: 0o600 });
    t.not((await asNobody(`cat ${q(join(mnt, 'secret'))}`)).code, 0);
    t.not((await asNobody(`chown 0 ${q(join(pub, 'f'))}`)).code, 0);
    t.not((await asNobody(`touch -d 2000-01-01 ${q(join(mnt, 'secret'))}`)).code, 0);
  });
});

test('a setgid directory gives its group to new inodes and its setgid bit to new directories', async (t) => {
  await withMount(t, ALLOW_OTHER, async (mnt, ctx) => {
    await openToOthers(ctx);
    const g = join(mnt, 'g');
    await mkdir(g);
    await sh(`chown 0:100 ${q(g)} && chmod 2777 ${q(g)}`);
    await nobody(`cd ${q(g)} && touch f && mkdir d && mkfifo p && ln -s f l`);
    const out = await sh(`cd ${q(g)} && stat -c '%n %u:%g %a' d f l p`);
    t.deepEqual(out.trim().split('\n'), [`d ${NOBODY}:100 2755`, `f ${NOBODY}:100 644`, `l ${NOBODY}:100 777`, `p ${NOBODY}:100 644`]);
  });
});

test('a write or truncate by another user drops the set-id bits, root writes keep them, chown drops them', async (t) => {
  await withMount(t, ALLOW_OTHER, async (mnt, ctx) => {
    await openToOthers(ctx);
    const p = (n: string): string => join(mnt, n);
    for (const n of ['w', 'tr', 'nogx', 'root']) await writeFile(p(n), 'data');
    await sh(`cd ${q(mnt)} && chmod 6777 w tr root && chmod 6767 nogx`);
    await nobody(`echo more >> ${q(p('w'))} && truncate -s 1 ${q(p('tr'))} && echo more >> ${q(p('nogx'))}`);
    await writeFile(p('root'), 'x', { flag: 'a' });
    // chown drops them too, also by root (S_ISGID only with group-exec: Linux's rule).
    for (const n of ['own', 'owngx']) await writeFile(p(n), '');
    await sh(`cd ${q(mnt)} && chmod 6755 own && chmod 6745 owngx && chown 1:1 own owngx`);
    const out = await sh(`cd ${q(mnt)} && stat -c '%n %a' w tr nogx root own owngx`);
    t.deepEqual(out.trim().split('\n'), ['w 777', 'tr 777', 'nogx 767', 'root 6777', 'own 755', 'owngx 2745']);
  });
});

test('mkfifo, mknod and unix sockets work through the mount, and survive a remount', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    const p = (n: string): string => join(mnt, n);
    await sh(`mkfifo ${q(p('fifo'))} && mknod ${q(p('null'))} c 1 3 && mknod ${q(p('loop'))} b 7 0`);
    // A FIFO carries data from one process to another (the kernel's pipe, not ours).
    t.is((await sh(`(echo through > ${q(p('fifo'))} &) ; cat ${q(p('fifo'))}`)).trim(), 'through');
    // A unix socket bound in the mount accepts a connection by its path.
    const py = `import socket,sys
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); a,_=s.accept(); c.send(b'ping'); print(a.recv(4).decode())`;
    t.is((await sh(`python3 -c ${q(py)} ${q(p('sock'))}`)).trim(), 'ping');
    const types = `cd ${q(mnt)} && stat -c '%n %F %t:%T' fifo loop null sock`;
    const want = ['fifo fifo 0:0', 'loop block special file 7:0', 'null character special file 1:3', 'sock socket 0:0'];
    t.deepEqual((await sh(types)).trim().split('\n'), want);
    await ctx.umount();
    await ctx.mount();
    t.deepEqual((await sh(types)).trim().split('\n'), want);
  });
});
