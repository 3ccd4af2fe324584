/**
 * The stop does not hang on an unmount helper that never exits.
 *
 * fuse-native's close() runs `sh -c 'fusermount -uz MNT'` and calls back only once that
 * process has exited and closed its output. CI saw the mount detached and close() never
 * answering (the daemon waited 10 s, before that 190 s). Here the daemon's PATH gets a
 * `fusermount` that does the real detach and then lingers (exec sleep): the stop must go
 * on once the mount is detached, and the log must say what the helper was doing. The
 * helper outlives the daemon, so it must not have inherited the /dev/fuse descriptor
 * (patches/fuse-native+2.2.6.patch sets FD_CLOEXEC on it).
 */

import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { withMount } from '../helpers/mount.js';

const run = promisify(execFile);

test('a fusermount that detaches the mount but never exits does not hold up the stop, the log names it, and it holds no FUSE connection', async (t) => {
  t.timeout(120_000);
  const realFusermount = (await run('sh', ['-c', 'command -v fusermount'])).stdout.trim();
  const bin = await mkdtemp(join(tmpdir(), 'aheadfs-fakebin-'));
  const pidFile = join(bin, 'lingering.pid');
  t.teardown(async () => {
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(bin, { recursive: true, force: true });
  });
  await writeFile(
    join(bin, 'fusermount'),
    `#!/bin/sh\n${realFusermount} "$@" || exit $?\necho $$ > ${JSON.stringify(pidFile)}\nexec sleep 600\n`,
  );
  await chmod(join(bin, 'fusermount'), 0o755);

  await withMount(t, { env: { PATH: `${bin}:${process.env.PATH ?? ''}` } }, async (mnt, ctx) => {
    const daemon = await ctx.daemonPid();
    if (daemon === undefined) return t.fail('no daemon holds the lock');
    await ctx.umount(); // exits 0 only once the daemon is gone and the mount with it
    t.false(pidAlive(daemon));
    t.is(await findMount(mnt), undefined);

    const helper = Number((await readFile(pidFile, 'utf8')).trim());
    t.true(pidAlive(helper), 'the fake fusermount detached the mount and is still running');
    // It outlives the daemon: had it inherited /dev/fuse, the connection would stay alive.
    const fds = await readdir(`/proc/${helper}/fd`);
    const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${helper}/fd/${fd}`).catch(() => '')));
    t.false(targets.includes('/dev/fuse'), `the helper holds no /dev/fuse descriptor: ${targets.join(', ')}`);
    const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
    t.regex(log, /fuse unmount: \S+ is detached, but fuse-native's close has not answered after [\d.]+ s; going on \(helpers: /);
    t.regex(log, new RegExp(`helpers: .*pid ${helper} \\(sleep\\) S`), 'the lingering helper, its state and where it sleeps');
    t.notRegex(log, /no answer after 10 s/);
    t.regex(log, /\] stopped$/m);
  });
});

test('a fusermount that never returns at all does not keep the daemon alive: it stops after both bounds and the log says the mount may be left behind', async (t) => {
  t.timeout(150_000);
  const bin = await mkdtemp(join(tmpdir(), 'aheadfs-fakebin-'));
  const pidFile = join(bin, 'stuck.pids');
  t.teardown(async () => {
    const pids = (await readFile(pidFile, 'utf8').catch(() => '')).split('\n').map(Number);
    for (const pid of pids) if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(bin, { recursive: true, force: true });
  });
  // Neither fuse-native's fusermount nor the daemon's own one detaches anything or exits.
  await writeFile(join(bin, 'fusermount'), `#!/bin/sh\necho $$ >> ${JSON.stringify(pidFile)}\nexec sleep 600\n`);
  await chmod(join(bin, 'fusermount'), 0o755);

  await withMount(t, { env: { PATH: `${bin}:${process.env.PATH ?? ''}` } }, async (_mnt, ctx) => {
    const daemon = await ctx.daemonPid();
    if (daemon === undefined) return t.fail('no daemon holds the lock');
    process.kill(daemon, 'SIGTERM');
    const until = Date.now() + 60_000;
    while (pidAlive(daemon) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    t.false(pidAlive(daemon), 'the daemon stopped within a minute');
    const stuck = (await readFile(pidFile, 'utf8')).split('\n').filter((l) => l !== '');
    t.is(stuck.length, 2, "fuse-native's fusermount and the daemon's own one both ran and never returned");
    const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
    t.regex(log, /fuse unmount: no answer after 10 s; going on/);
    t.regex(log, /fusermount -uz \S+: no answer after 10 s; going on without it: the mount may be left behind, detach it with umount -l \(helpers: .*\(sleep\) S/);
    t.regex(log, /\] stopped$/m);
    // withMount's clean-up detaches the mount the daemon had to leave (with the real fusermount).
  });
});
