/**
 * Issue 13, the store's side, through the real binary: one mount per store by a kernel
 * lock (also after `rm <store>/lock`, also from another pid namespace; kill -9 is in
 * lifecycle.test.ts), private stores,
 * no symlinked store members, block-file sizes checked before the daemon starts, and
 * `umount --timeout` against a stopped daemon.
 */

import test from 'ava';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { aheadfs, BIN, expectOneLine, sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const oneLine = expectOneLine;

/** A second mountpoint in the test's dir, never left mounted. */
async function secondMountpoint(t: { teardown: (f: () => Promise<void>) => void }, tmp: string): Promise<string> {
  const other = join(tmp, 'mnt2');
  await mkdir(other);
  t.teardown(async () => {
    if (await findMount(other)) await aheadfs(['umount', other, '--timeout', '10']);
    if (await findMount(other)) await sh(`fusermount -uz ${JSON.stringify(other)}`).catch(() => undefined);
  });
  return other;
}

test('rm <store>/lock while mounted does not let a second daemon mount the store', async (t) => {
  await withMount(t, {}, async (_mnt, ctx) => {
    const other = await secondMountpoint(t, ctx.tmp);
    await rm(join(ctx.store, 'lock'));
    const r = await aheadfs(['mount', ctx.store, other]);
    oneLine(t, r, 1, /already mounted/);
    t.is(await findMount(other), undefined, 'nothing mounted on the second mountpoint');
    // The refused attempt leaves the store as it was (no new lock file).
    await t.throwsAsync(stat(join(ctx.store, 'lock')), { code: 'ENOENT' });
  });
});

test('a daemon started in another pid namespace is refused while the store is mounted', async (t) => {
  await withMount(t, {}, async (_mnt, ctx) => {
    const other = await secondMountpoint(t, ctx.tmp);
    // --foreground: refused, it exits at once; let in, it would serve until killed.
    const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, BIN, 'mount', ctx.store, other, '--foreground'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    t.teardown(() => void child.kill('SIGKILL'));
    const code = await Promise.race([exited, sleep(30_000).then(() => 'still running' as const)]);
    t.is(code, 1, `the second daemon ran: ${stderr}`);
    t.regex(stderr, /^aheadfs: store .* is already mounted/m);
    t.is(await findMount(other), undefined);
  });
});

// The tests that open, chmod or replace blocks/*.blk run on block files whatever
// AHEADFS_E2E_DEVICE says (an NBD store has no blocks/).
test("a new store is private: another user cannot read a root file's data from the block files", async (t) => {
  await withMount(t, { device: 'files' }, async (mnt, ctx) => {
    // The test's own temp dir is 0700; open it so that only the store's modes decide.
    await chmod(ctx.tmp, 0o755);
    const secret = 'SECRET-' + 'x'.repeat(20);
    await writeFile(join(mnt, 'private'), secret + '\n', { mode: 0o600 });
    await sh(`sync ${JSON.stringify(join(mnt, 'private'))}`);
    // As root the data is there (the check below would pass trivially otherwise).
    t.regex(await sh(`grep -a -l ${secret} ${JSON.stringify(ctx.store)}/blocks/*.blk`), /\.blk/);
    const asNobody = `setpriv --reuid 65534 --regid 65534 --clear-groups bash -c ${JSON.stringify(`grep -a -c ${secret} ${ctx.store}/blocks/*.blk`)}`;
    const err = await t.throwsAsync(sh(asNobody));
    t.regex(err!.message, /Permission denied|No such file/);
    t.notRegex(err!.message, /:1\b/);
    t.is((await stat(ctx.store)).mode & 0o777, 0o700);
    t.is((await stat(join(ctx.store, 'aheadfs.log'))).mode & 0o777, 0o600);
    t.is((await stat(join(ctx.store, 'lock'))).mode & 0o777, 0o600);
  });
});

test('mount warns once, on the terminal and in the log, when others can read the store', async (t) => {
  await withMount(t, { device: 'files' }, async (mnt, ctx) => {
    await ctx.umount();
    await chmod(ctx.store, 0o755);
    await chmod(join(ctx.store, 'blocks', '000000.blk'), 0o644);
    const r = await aheadfs(['mount', ctx.store, mnt]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /^aheadfs: warning: store .* is not private \(\. 0755, blocks\/000000\.blk 0644\).*chmod -R go-rwx/);
    const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
    t.is(log.split('\n').filter((l) => l.includes('is not private')).length, 1, 'logged once');
  });
});

test('a symlinked aheadfs.log makes mount refuse with one line, and the victim is untouched', async (t) => {
  await withMount(t, { device: 'files' }, async (mnt, ctx) => {
    await ctx.umount();
    const victim = join(ctx.tmp, 'victim');
    await writeFile(victim, 'precious\n');
    await rm(join(ctx.store, 'aheadfs.log'));
    await symlink(victim, join(ctx.store, 'aheadfs.log'));
    oneLine(t, await aheadfs(['mount', ctx.store, mnt]), 2, /symlink at aheadfs\.log/);
    t.is(await readFile(victim, 'utf8'), 'precious\n');
    t.is(await findMount(mnt), undefined);
    await t.throwsAsync(stat(join(ctx.store, 'lock')), { code: 'ENOENT' }, 'no daemon started');
    // The same for a block file.
    await rm(join(ctx.store, 'aheadfs.log'));
    const blk = join(ctx.store, 'blocks', '000001.blk');
    await sh(`mv ${blk} ${victim}.blk && ln -s ${victim}.blk ${blk}`);
    oneLine(t, await aheadfs(['mount', ctx.store, mnt]), 2, /symlink at blocks\/000001\.blk/);
    await sh(`rm ${blk} && mv ${victim}.blk ${blk}`);
    await ctx.mount(); // restored: mounts again
  });
});

test('a block file of the wrong size, or missing, is refused before the daemon starts', async (t) => {
  await withMount(t, { device: 'files', size: '64M', blockFileSize: '16M' }, async (mnt, ctx) => {
    await ctx.umount();
    const blk = join(ctx.store, 'blocks', '000002.blk');
    const expected = 16 << 20;
    for (const [what, size] of [
      ['truncated', expected - 4096],
      ['grown', expected + 4096],
    ] as const) {
      await truncate(blk, size);
      oneLine(t, await aheadfs(['mount', ctx.store, mnt]), 2, new RegExp(`block file blocks/000002\\.blk is ${size} bytes, expected ${expected}`));
      t.is(await findMount(mnt), undefined, what);
    }
    await rm(blk);
    oneLine(t, await aheadfs(['mount', ctx.store, mnt]), 2, new RegExp(`block file blocks/000002\\.blk is missing \\(expected ${expected} bytes\\)`));
    t.is(await findMount(mnt), undefined);
    await t.throwsAsync(stat(join(ctx.store, 'lock')), { code: 'ENOENT' }, 'no daemon started');
  });
});

test('umount --timeout against a stopped daemon exits 1 after the message and leaves the mount alone', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    const pid = await ctx.daemonPid();
    if (pid === undefined) return t.fail('no daemon holds the lock');
    process.kill(pid, 'SIGSTOP');
    t.teardown(() => {
      if (pidAlive(pid)) process.kill(pid, 'SIGCONT');
    });
    const r = await aheadfs(['umount', mnt, '--timeout', '3'], { timeoutMs: 30_000 });
    t.is(r.signal, null, 'umount exited by itself (it was not killed at the test timeout)');
    oneLine(t, r, 1, new RegExp(`the daemon \\(pid ${pid}\\) has not exited after 3 s \\(it is stopped.*umount -l ${mnt} \\(or fusermount -uz ${mnt}\\)`));
    t.truthy(await findMount(mnt), 'the mount was left alone');
    // The SIGTERM is pending: continued, the daemon unmounts and exits.
    process.kill(pid, 'SIGCONT');
    for (let i = 0; i < 200 && pidAlive(pid); i++) await sleep(50);
    t.false(pidAlive(pid));
    t.is(await findMount(mnt), undefined);
  });
});

test('a non-root mount is refused up front: root is needed', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await ctx.umount();
    const r = await sh(`setpriv --reuid 65534 --regid 65534 --clear-groups ${process.execPath} ${BIN} mount ${ctx.store} ${mnt} 2>&1; echo "exit $?"`);
    t.regex(r, /^aheadfs: aheadfs mount needs root \(you are uid 65534\)/m);
    t.regex(r, /exit 2$/m);
    t.is(await findMount(mnt), undefined);
    t.deepEqual(await readdir(mnt), []);
  });
});
