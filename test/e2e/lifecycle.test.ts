/**
 * The mount lifecycle and the CLI's refusals: second mounts, busy mountpoints, a mount
 * again after kill -9, bad input (exit 2, one line, nothing changed), tunables through the
 * control files.
 */

import test from 'ava';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { aheadfs, expectOneLine, sh } from '../helpers/cli.js';
import { forceCleanup, withMount } from '../helpers/mount.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const oneLine = expectOneLine;

test('a second mount of a mounted store is refused clearly', async (t) => {
  await withMount(t, {}, async (_mnt, ctx) => {
    const other = join(ctx.tmp, 'mnt2');
    await mkdir(other);
    // Should the refusal ever fail, the second mount must not outlive the test.
    t.teardown(async () => {
      if (await findMount(other)) await aheadfs(['umount', other]);
    });
    const r = await aheadfs(['mount', ctx.store, other]);
    oneLine(t, r, 1, /already mounted \(daemon pid \d+\)/);
    t.deepEqual(await readdir(other), [], 'nothing mounted on the second mountpoint');

    const busy = await aheadfs(['mount', ctx.store, ctx.mnt]);
    t.not(busy.code, 0);
    t.regex(busy.stderr, /already (a mount|mounted)/);
  });
});

test('a mountpoint that is already a mount is refused', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    const store2 = join(ctx.tmp, 'store2');
    t.is((await aheadfs(['mkfs', store2, '--size', '64M', '--block-file-size', '16M'])).code, 0);
    oneLine(t, await aheadfs(['mount', store2, mnt]), 1, /already a mount/);
  });
});

test('after kill -9 of the daemon the store mounts again: the kernel dropped its lock, nothing to recover', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await writeFile(join(mnt, 'before'), 'still here');
    // Let the write reach the store: fsync through a short-lived process.
    await sh(`sync ${JSON.stringify(join(mnt, 'before'))}`);
    const pid = await ctx.daemonPid();
    if (pid === undefined) return t.fail('no daemon pid in the lock');
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50);
    t.false(pidAlive(pid));
    // The main thread is a zombie first; the kernel drops the lock when the last thread has
    // closed the process's files, a moment later.
    for (let i = 0; i < 100 && (await ctx.daemonPid()) !== undefined; i++) await sleep(50);
    t.is(await ctx.daemonPid(), undefined, 'the lock died with the process');
    t.is((await readFile(join(ctx.store, 'lock'), 'utf8')).trim(), String(pid), 'the pid file is left behind');

    // The mount is dead (ENOTCONN); umount clears it without a daemon.
    const um = await aheadfs(['umount', mnt]);
    t.is(um.code, 0, um.stderr);

    await ctx.mount();
    const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
    t.regex(log, new RegExp(`lock file named pid ${pid}, which ended without releasing`));
    t.is(await readFile(join(mnt, 'before'), 'utf8'), 'still here');
  });
});

test('umount stops the daemon; fusermount -u from outside also stops it', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    const pid = await ctx.daemonPid();
    await ctx.umount();
    t.false(pid !== undefined && pidAlive(pid), 'daemon exited');
    await t.throwsAsync(stat(join(ctx.store, 'lock')), { code: 'ENOENT' }, 'lock released');

    await ctx.mount();
    const pid2 = await ctx.daemonPid();
    await sh(`fusermount -u ${JSON.stringify(mnt)}`);
    for (let i = 0; i < 100 && pid2 !== undefined && pidAlive(pid2); i++) await sleep(50);
    t.false(pid2 !== undefined && pidAlive(pid2), 'daemon noticed and exited');
    t.regex(await readFile(join(ctx.store, 'aheadfs.log'), 'utf8'), /stopping: unmounted from outside/);
  });
});

test('tunables and drop_caches through the control files', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const ra = join(mnt, '.aheadfs', 'tunables', 'read_ahead_kb');
    t.is((await readFile(ra, 'utf8')).trim(), '128');
    await sh(`echo 256 > ${ra}`);
    t.is((await readFile(ra, 'utf8')).trim(), '256');
    await t.throwsAsync(sh(`echo lots > ${ra}`), { message: /Invalid argument/ });
    t.is((await readFile(ra, 'utf8')).trim(), '256', 'a bad value changes nothing');
    await sh(`echo 1 > ${join(mnt, '.aheadfs', 'drop_caches')}`);
    await t.throwsAsync(sh(`echo 1 > ${join(mnt, '.aheadfs', 'stats')}`));
  });
});

test('bad CLI input exits 2 with one line and changes nothing', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-cli-'));
  const store = join(tmp, 'store');
  const mnt = join(tmp, 'mnt');
  // Should a refusal below ever fail, its mount must not outlive the test (nor rm -rf run into it).
  t.teardown(async () => {
    await forceCleanup(store, mnt);
    await rm(tmp, { recursive: true, force: true });
  });

  for (const args of [
    ['mkfs', store, '--size', '0'],
    ['mkfs', store, '--size', 'lots'],
    ['mkfs', store, '--size', '1G', '--block-file-size', '2G'],
    ['mkfs', store, '--size', '10000'],
    ['mkfs', store, '--size', '1G', '--block-file-size', '-64M'],
  ]) {
    oneLine(t, await aheadfs(args), 2, /./);
    await t.throwsAsync(stat(store), { code: 'ENOENT' }, `${args.join(' ')} created nothing`);
  }

  await mkdir(mnt);
  oneLine(t, await aheadfs(['mount', tmp, mnt]), 2, /not an aheadfs store/);
  // A superblock that is JSON but not a valid one is refused up front too (not by the daemon).
  const fake = join(tmp, 'fake');
  await mkdir(fake);
  await writeFile(join(fake, 'aheadfs.json'), '{}\n');
  oneLine(t, await aheadfs(['mount', fake, mnt]), 2, /aheadfs\.json/);
  await t.throwsAsync(stat(join(fake, 'lock')), { code: 'ENOENT' }, 'no daemon took the fake store');
  oneLine(t, await aheadfs(['mount', store, mnt]), 2, /does not exist/);
  oneLine(t, await aheadfs(['mount', store]), 2, /both <store> and <mountpoint>/);
  oneLine(t, await aheadfs(['frobnicate']), 2, /Unknown argument|unknown/i);
  oneLine(t, await aheadfs([]), 2, /give a command/);
  // commands that read a mount, given a directory that is not one
  oneLine(t, await aheadfs(['stats', mnt]), 2, /not a mounted aheadfs/);
  oneLine(t, await aheadfs(['stats', mnt, '--watch']), 2, /watch/);
  oneLine(t, await aheadfs(['umount', mnt]), 2, /not mounted/);
  oneLine(t, await aheadfs(['iostat', mnt]), 2, /not a mounted aheadfs/);
  oneLine(t, await aheadfs(['trace', mnt]), 2, /not a mounted aheadfs/);

  t.is((await aheadfs(['mkfs', store, '--size', '64M', '--block-file-size', '16M'])).code, 0);
  const sb = await readFile(join(store, 'aheadfs.json'), 'utf8');
  oneLine(t, await aheadfs(['mkfs', store, '--size', '64M']), 2, /exists|--force/);
  t.is(await readFile(join(store, 'aheadfs.json'), 'utf8'), sb, 'existing store untouched without --force');

  for (const args of [
    ['mount', store, join(tmp, 'nowhere')],
    ['mount', store, join(store, 'aheadfs.json')],
    ['mount', store, mnt, '--cache-size', '5G'],
    ['mount', store, mnt, '--cache-size', '1000'],
    ['mount', store, mnt, '--scheduler', 'cfq'],
    ['mount', store, mnt, '--ra-policy', 'always'],
    ['mount', store, mnt, '--readpages', 'maybe'],
    ['mount', store, mnt, '--writeback', 'later'],
    ['mount', store, mnt, '--dirty-ratio', '0'],
    ['mount', store, mnt, '--dirty-bytes', '4K'],
    ['mount', store, mnt, '--dirty-background-bytes', 'lots'],
    ['mount', store, mnt, '--dirty-expire-centisecs', '-1'],
    ['mount', store, mnt, '--nr-requests', '0'],
    ['mount', store, mnt, '--read-ahead-kb', 'x'],
  ]) {
    oneLine(t, await aheadfs(args), 2, /./);
  }
  await t.throwsAsync(stat(join(store, 'lock')), { code: 'ENOENT' }, 'no lock taken by refused mounts');
  t.deepEqual(await readdir(mnt), []);
});
