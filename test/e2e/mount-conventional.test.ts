/**
 * Mounting as with any other filesystem, through the real tools:
 *
 *   mount -t fuse.aheadfs STORE MNT -o read_ahead_kb=1024,cache_size=512M
 *   an fstab line (a temporary fstab: mount -T FILE MNT), with ro
 *   aheadfs umount refuses a busy mount (a cwd inside, an open file), --lazy does not
 *
 * mount(8) runs Debian's /sbin/mount.fuse, which runs `aheadfs STORE MNT -o opts` with
 * /bin/sh and no $PATH (mount clears it), so the shell looks in its default directories:
 * the test puts an `aheadfs` symlink to this checkout in /usr/local/sbin, the first of
 * them, for its duration (under a lock, restoring whatever was there). Every mount is
 * undone in finally (withMount's cleanup).
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { lstat, mkdir, open, readFile, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitForLock, unlock } from 'fs-native-extensions';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { BIN, expectOneLine } from '../helpers/cli.js';
import { readControl, readStats } from '../helpers/control.js';
import { withMount } from '../helpers/mount.js';

const HELPER_DIR = '/usr/local/sbin';
const LINK = join(HELPER_DIR, 'aheadfs');
const LOCK = '/run/lock/aheadfs-test-mount-helper.lock';

/** Run a program; never rejects for a non-zero exit. */
function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** `aheadfs` where mount.fuse's shell finds it, for the body's duration. */
async function withHelperOnDefaultPath<T>(body: () => Promise<T>): Promise<T> {
  await mkdir(HELPER_DIR, { recursive: true });
  const fd = openSync(LOCK, 'a');
  await waitForLock(fd);
  const saved = `${LINK}.aheadfs-test-saved`;
  let moved = false;
  try {
    const old = await lstat(LINK).catch(() => undefined);
    if (old && !(old.isSymbolicLink() && (await readlink(LINK)) === BIN)) {
      await rename(LINK, saved);
      moved = true;
    }
    if (!old || moved) await symlink(BIN, LINK);
    return await body();
  } finally {
    await unlink(LINK).catch(() => undefined);
    if (moved) await rename(saved, LINK);
    unlock(fd);
    closeSync(fd);
  }
}

async function source(mnt: string): Promise<string> {
  return (await run('findmnt', ['-n', '-o', 'SOURCE', mnt])).stdout.trim();
}

test('mount -t fuse.aheadfs STORE MNT -o ...: the store is the source; the options reach the tunables', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    t.is(await source(mnt), ctx.store, 'aheadfs mount: the store is the source too');
    await ctx.umount();
    await withHelperOnDefaultPath(async () => {
      const r = await run('mount', ['-t', 'fuse.aheadfs', ctx.store, mnt, '-o', 'read_ahead_kb=1024,cache_size=512M,noexec']);
      t.is(r.code, 0, r.stderr);
      t.is(r.stdout + r.stderr, '', 'quiet, as mount is');
    });
    const m = await findMount(mnt);
    t.is(m?.fstype, 'fuse.aheadfs');
    t.is(m?.source, ctx.store, '/proc/self/mountinfo');
    t.is(await source(mnt), ctx.store, 'findmnt');
    t.is((await run('df', ['--output=source', mnt])).stdout.trim().split('\n')[1], ctx.store, 'df');
    t.is((await readControl(mnt, 'tunables/read_ahead_kb')).trim(), '1024');
    t.is((await readStats(mnt)).pages_total, (512 << 20) / 4096, 'cache_size=512M');
    t.regex((await run('findmnt', ['-n', '-o', 'OPTIONS', mnt])).stdout, /^rw,.*noexec/, 'a kernel flag went to libfuse');
    await writeFile(join(mnt, 'f'), 'written');
    t.is(await readFile(join(mnt, 'f'), 'utf8'), 'written');
    await ctx.umount();
    t.is(await findMount(mnt), undefined);
  });
});

test('an fstab line with ro (mount -T FSTAB MNT): read-only, reads work, writes get EROFS', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await writeFile(join(mnt, 'kept'), 'before');
    await ctx.umount();
    const fstab = join(ctx.tmp, 'fstab');
    await writeFile(fstab, `# a test fstab\n${ctx.store} ${mnt} fuse.aheadfs noauto,nofail,ro,read_ahead_kb=256,x-systemd.automount 0 0\n`);
    await withHelperOnDefaultPath(async () => {
      const r = await run('mount', ['-T', fstab, mnt]);
      t.is(r.code, 0, r.stderr);
    });
    t.is(await source(mnt), ctx.store);
    t.regex((await run('findmnt', ['-n', '-o', 'OPTIONS', mnt])).stdout, /^ro,/);
    t.is((await readControl(mnt, 'tunables/read_ahead_kb')).trim(), '256');
    t.is(await readFile(join(mnt, 'kept'), 'utf8'), 'before');
    await t.throwsAsync(writeFile(join(mnt, 'kept'), 'after'), { code: 'EROFS' });
    await t.throwsAsync(writeFile(join(mnt, 'new'), 'x'), { code: 'EROFS' });
    await t.throwsAsync(mkdir(join(mnt, 'd')), { code: 'EROFS' });
    t.is(await readFile(join(mnt, 'kept'), 'utf8'), 'before');
  });
});

test('aheadfs umount refuses a busy mount (a cwd inside, an open file), exit 1 naming who; --lazy unmounts', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await writeFile(join(mnt, 'f'), 'data');
    const sleeper = spawn('sleep', ['120'], { cwd: mnt, stdio: 'ignore' });
    t.teardown(() => void sleeper.kill('SIGKILL'));
    const daemon = await ctx.daemonPid();
    const r = await ctx.cli(['umount', mnt]);
    expectOneLine(t, r, 1, new RegExp(`target is busy \\(pid ${sleeper.pid} \\(sleep\\): cwd\\); .*--lazy`));
    t.truthy(await findMount(mnt), 'still mounted');
    t.true(daemon !== undefined && pidAlive(daemon), 'the daemon still runs');
    sleeper.kill('SIGKILL');
    await new Promise((res) => sleeper.once('exit', res));

    const fh = await open(join(mnt, 'f'), 'r');
    try {
      expectOneLine(t, await ctx.cli(['umount', mnt]), 1, new RegExp(`target is busy \\(pid ${process.pid} \\(\\S+\\): 1 open file\\)`));
      t.truthy(await findMount(mnt));
      const lazy = await ctx.cli(['umount', '--lazy', mnt]);
      t.is(lazy.code, 0, lazy.stderr);
      t.is(await findMount(mnt), undefined, 'detached');
      t.false(pidAlive(daemon!), 'the daemon exited');
      await t.throwsAsync(fh.read(Buffer.alloc(4), 0, 4, 0), { code: 'ENOTCONN' });
    } finally {
      await fh.close().catch(() => undefined);
    }
    // Not busy: the plain umount works (and the store mounts again).
    await ctx.mount();
    t.is((await ctx.cli(['umount', mnt])).code, 0);
  });
});

test('bad -o options: one line, exit 2, nothing mounted', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await ctx.umount();
    for (const [opts, re] of [
      ['bogus=1', /unknown mount option 'bogus=1' in -o/],
      ['read_ahead_kb', /-o read_ahead_kb needs a value/],
      ['allow_other=1', /-o allow_other takes no value/],
      ['read_ahead_kb=lots', /bad --read-ahead-kb 'lots'/],
    ] as const) {
      expectOneLine(t, await ctx.cli([ctx.store, mnt, '-o', opts]), 2, re);
      t.is(await findMount(mnt), undefined, opts);
    }
  });
});
