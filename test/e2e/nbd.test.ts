/**
 * Stores on real NBD servers (nbdkit memory, nbd-server, qemu-nbd; test/helpers/nbd.ts):
 * cp + sha256 and a remount on each; fio verify over nbdkit; nbdkit's error filter gives
 * readers EIO while the daemon stays up and no page stays locked; a restarted server is
 * reconnected to (a read waiting on it completes); a server gone for good gives EIO;
 * a server without flush makes fsync fail with EIO; mkfs/mount refuse bad URLs, unknown
 * exports and small exports with one line (exit 2 at mkfs, 1 at mount); fsck checks the
 * extents against what the export holds (smaller export, no server).
 */

import test from 'ava';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive } from '../../src/fuse/mounts.js';
import { aheadfs, sh } from '../helpers/cli.js';
import { dropCaches, readControl, readStats, waitForIdleDevice } from '../helpers/control.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { withMount } from '../helpers/mount.js';
import { freePort, NBD_SERVER_KINDS, startNbdServer } from '../helpers/nbd.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const MiB = 1 << 20;

function errno(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

async function tmp(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-nbd-e2e-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

for (const kind of NBD_SERVER_KINDS) {
  test(`${kind}: cp and sha256, remount, the reads reach the server`, async (t) => {
    await withMount(t, { size: '64M', device: kind }, async (mnt, ctx) => {
      const src = join(ctx.tmp, 'src.bin');
      const want = await writeRandomFile(src, 12 * MiB + 4321);
      await sh(`cp ${src} ${join(mnt, 'f.bin')}`);
      t.is(await sha256File(join(mnt, 'f.bin')), want);
      await ctx.umount();
      await ctx.mount();
      const s0 = await readStats(mnt);
      t.is(await sha256File(join(mnt, 'f.bin')), want, 'the same bytes after a remount (they came from the server)');
      const s1 = await readStats(mnt);
      t.true(s1.disk_read_bytes! - s0.disk_read_bytes! >= 12 * MiB, 'read from the device');
      t.is(s1.disk_errors, 0);
      const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
      t.regex(log, /device nbd:\/\/127\.0\.0\.1:\d+\/\S*: 67108864 bytes, 1 connection\(s\).*flush yes \(negotiated with NBD_OPT_GO\)/);
    });
  });
}

test('nbdkit: fio write --verify=crc32c, then --verify_only after a remount', async (t) => {
  await withMount(t, { size: '256M', device: 'nbdkit', mountArgs: ['--nbd-connections', '4'] }, async (mnt, ctx) => {
    const common = `--name=w --directory=${mnt} --rw=write --bs=64k --size=64m --verify=crc32c --verify_state_save=0 --ioengine=psync`;
    t.truthy((await sh(`fio ${common} --output-format=terse`)).trim(), 'fio ran');
    await ctx.umount();
    await ctx.mount();
    const v = await sh(`fio ${common} --verify_only --output-format=normal`);
    t.notRegex(v, /verify: bad|err=\s*[1-9]/);
    t.regex(v, /err= 0/);
    // nbdkit memory allows multi-conn: 4 connections were opened.
    t.regex(await readFile(join(ctx.store, 'aheadfs.log'), 'utf8'), /4 connection\(s\)/);
  });
});

test('nbdkit error filter: readers get EIO, the daemon stays up, nothing stays locked; the file reads again after', async (t) => {
  const dir = await tmp(t);
  const errFile = join(dir, 'fail');
  await withMount(
    t,
    { size: '64M', device: { kind: 'nbdkit', filters: ['error'], params: ['error=EIO', 'error-rate=100%', `error-file=${errFile}`] } },
    async (mnt, ctx) => {
      const f = join(mnt, 'a.bin');
      const want = await writeRandomFile(f, 4 * MiB);
      await waitForIdleDevice(mnt);
      await dropCaches(mnt);
      await writeFile(errFile, ''); // every request fails from now on
      const s0 = await readStats(mnt);
      const err = await t.throwsAsync(readFile(f));
      t.is(errno(err), 'EIO');
      t.true((await readStats(mnt)).disk_errors! > s0.disk_errors!, 'disk_errors counts');
      t.true(pidAlive(Number((await readControl(mnt, 'pid')).trim())), 'the daemon is up');
      await waitForIdleDevice(mnt);
      await dropCaches(mnt);
      const probe = await open(f, 'r');
      try {
        const row = (await readControl(mnt, 'files')).split('\n').find((l) => l.startsWith('/a.bin '));
        t.is(row?.split(' ')[9], '0', 'every page was droppable (none locked)');
      } finally {
        await probe.close();
      }
      await rm(errFile);
      t.is(await sha256File(f), want, 'the server answers again: the file reads right');
      t.regex(await readFile(join(ctx.store, 'aheadfs.log'), 'utf8'), /read of \d+ bytes at \d+: server error EIO/);
      t.regex(await readControl(mnt, 'kmsg'), /^\d+ \S+ err blk: block: read of \d+ sectors at \d+ failed: .*server error EIO/m, 'the device error is in kmsg');
    },
  );
});

test('qemu-nbd restarted under a mount: a read waiting for it completes after the reconnect', async (t) => {
  await withMount(t, { size: '64M', device: 'qemu-nbd' }, async (mnt, ctx) => {
    const f = join(mnt, 'a.bin');
    const want = await writeRandomFile(f, 8 * MiB);
    await waitForIdleDevice(mnt);
    await dropCaches(mnt);
    await ctx.server!.stop();
    const reading = sha256File(f); // waits: the server is down
    await new Promise((r) => setTimeout(r, 300));
    await ctx.server!.restart();
    t.is(await reading, want, 'the read completed with the right bytes');
    const s = await readStats(mnt);
    t.true(s.nbd_reconnects! >= 1, 'nbd_reconnects counts');
    t.regex(await readFile(join(ctx.store, 'aheadfs.log'), 'utf8'), /connection lost .*reconnecting/);
    const kmsg = await readControl(mnt, 'kmsg');
    t.regex(kmsg, /^\d+ \S+ err nbd: .*connection lost .*reconnecting/m, 'the loss is in kmsg');
    t.regex(kmsg, /^\d+ \S+ notice nbd: .*reconnected/m, 'the reconnect is in kmsg');
  });
});

test('a server gone for good: reads fail with EIO after --nbd-reconnect, the daemon stays up', async (t) => {
  await withMount(t, { size: '64M', device: 'qemu-nbd', mountArgs: ['--nbd-reconnect', '1'] }, async (mnt, ctx) => {
    const f = join(mnt, 'a.bin');
    await writeRandomFile(f, 2 * MiB);
    await waitForIdleDevice(mnt);
    await dropCaches(mnt);
    await ctx.server!.stop();
    const err = await t.throwsAsync(readFile(f));
    t.is(errno(err), 'EIO');
    t.true(pidAlive(Number((await readControl(mnt, 'pid')).trim())), 'the daemon is up');
    t.regex(await readFile(join(ctx.store, 'aheadfs.log'), 'utf8'), /the server is gone .*failing \d+ command\(s\) with EIO/);
    t.regex(await readControl(mnt, 'kmsg'), /^\d+ \S+ err nbd: .*the server is gone .*with EIO/m, 'and in kmsg');
  });
});

test('nbd-server without flush: the mount says so, fsync fails with EIO, data still reads', async (t) => {
  await withMount(t, { size: '64M', device: { kind: 'nbd-server', flush: false } }, async (mnt, ctx) => {
    const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
    t.regex(log, /WARNING: the server cannot flush .* fsync will fail with EIO/);
    const f = join(mnt, 'a.bin');
    const fh = await open(f, 'w');
    try {
      await fh.write(Buffer.alloc(64 * 1024, 7));
      const err = await t.throwsAsync(fh.sync());
      t.is(errno(err), 'EIO');
    } finally {
      await fh.close();
    }
    t.deepEqual(await readFile(f), Buffer.alloc(64 * 1024, 7));
  });
});

test('mkfs --device: unreachable, unknown export, too small: one line, exit 2, nothing made; mount of a gone server: exit 1', async (t) => {
  const dir = await tmp(t);
  const store = join(dir, 'store');
  const port = await freePort();
  const cases: [string[], RegExp][] = [
    [['--device', `nbd://127.0.0.1:${port}`], /^aheadfs: cannot reach nbd:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*\n$/],
    [['--device', 'http://x'], /^aheadfs: device URL 'http:\/\/x': only nbd:\/\/ is supported\n$/],
  ];
  const server = await startNbdServer(t, { kind: 'qemu-nbd', size: '16M', exportName: 'disk' });
  cases.push([['--device', server.url.replace(/\/disk$/, '/nope')], /^aheadfs: nbd:\/\/127\.0\.0\.1:\d+\/nope: export 'nope': no such export.*\n$/]);
  cases.push([['--device', server.url, '--size', '32M'], /^aheadfs: nbd:\/\/.*: the export holds 16777216 bytes, less than the store size 33554432\n$/]);
  for (const [args, re] of cases) {
    const r = await aheadfs(['mkfs', store, ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.is(r.stderr.split('\n').length, 2, 'one line');
    await t.throwsAsync(readFile(join(store, 'aheadfs.json')), undefined, 'no store made');
  }
  const both = await aheadfs(['mkfs', store, '--device', server.url, '--block-file-size', '1M']);
  t.is(both.code, 2);
  t.is(both.stderr, 'aheadfs: --block-file-size is for block files, not with --device\n');
  // The export's size by default; then the server goes away: mount exits 1 with the reason.
  const ok = await aheadfs(['mkfs', store, '--device', server.url]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /16 MiB on nbd:/);
  await server.stop();
  const mnt = join(dir, 'mnt');
  await sh(`mkdir -p ${mnt}`);
  for (const [opt, v] of [['--nbd-connections', '0'], ['--nbd-connections', '17'], ['--nbd-timeout', '0'], ['--nbd-reconnect', 'x']]) {
    const bad = await aheadfs(['mount', store, mnt, opt!, v!]);
    t.is(bad.code, 2, `${opt} ${v}`);
    t.regex(bad.stderr, new RegExp(`^aheadfs: bad ${opt} '${v}': expected .*\n$`));
  }
  const m = await aheadfs(['mount', store, mnt]);
  t.is(m.code, 1, m.stdout);
  t.regex(m.stderr, /^aheadfs: cannot reach nbd:\/\/127\.0\.0\.1:\d+\/disk: .*\n$/);
});

test('fsck of a store on NBD checks the extents against what the export holds: clean, then a smaller export, then no server', async (t) => {
  await withMount(t, { size: '16M', device: 'nbdkit' }, async (mnt, ctx) => {
    await writeRandomFile(join(mnt, 'f.bin'), 12 * MiB);
    await ctx.umount();
    const clean = await aheadfs(['fsck', ctx.store]);
    t.is(clean.code, 0, clean.stdout + clean.stderr);
    t.regex(clean.stdout, /: clean; .* of 4096\n$/);

    // The export comes back with half the size: the store's last 2048 blocks are gone.
    await ctx.server!.restart({ size: '8M' });
    const small = await aheadfs(['fsck', ctx.store]);
    t.is(small.code, 1, small.stdout + small.stderr);
    const lines = small.stdout.trim().split('\n');
    t.true(lines.includes("device: the export holds 2048 blocks, less than the store's 4096"), small.stdout);
    const past = lines.filter((l) => /^extent: inode \d+: file blocks \d+-\d+ are on device blocks \d+-\d+, past the end of the export \(2048 blocks\)$/.test(l));
    t.true(past.length >= 1, small.stdout);
    for (const l of past) t.true(Number(/device blocks \d+-(\d+)/.exec(l)![1]) >= 2048, l);
    t.regex(small.stderr, /^aheadfs: .*: \d+ problems found \(repair with: aheadfs fsck --repair .*\)\n$/);
    const repair = await aheadfs(['fsck', ctx.store, '--repair']);
    t.is(repair.code, 1);
    t.regex(repair.stdout, /^not repaired: the export is smaller than the store \(grow or restore the export\)$/m);
    t.notRegex(repair.stdout, /^repaired: /m, 'nothing changed');

    // No server: the records are still checked, the device check is one problem.
    await ctx.server!.stop();
    const gone = await aheadfs(['fsck', ctx.store]);
    t.is(gone.code, 1, gone.stdout + gone.stderr);
    t.regex(gone.stdout, /^device: cannot reach nbd:\/\/127\.0\.0\.1:\d+\/: .*; extents not checked against the export$/m);
    t.regex(gone.stdout, /: 1 problem; .* of 4096\n$/);
  });
});
