/**
 * The writeback page cache through real mounts: written data is dirty in the cache (and
 * read back from it) until a sync, fsync or umount writes it back; it survives a remount;
 * fsynced data survives a SIGKILL of the daemon; a writer far past the dirty limit is
 * throttled and the dirty count never passes the limit; the vm/ tunables follow the
 * kernel's rules.
 */

import test from 'ava';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sh } from '../helpers/cli.js';
import { control, readControl, readStats } from '../helpers/control.js';
import { describeFsck, fsck, killDaemon, mountPid } from '../helpers/crash.js';
import { withMount } from '../helpers/mount.js';
import { mulberry32 } from '../helpers/prng.js';

const MiB = 1 << 20;

function randomBytes(len: number, seed: number): Buffer {
  const rnd = mulberry32(seed);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

test('written data is dirty until written back, reads see it, and it is all there after umount and remount (fsck clean)', async (t) => {
  await withMount(t, { size: '128M', mountArgs: ['--dirty-writeback-centisecs', '0'] }, async (mnt, ctx) => {
    const f = join(mnt, 'f.bin');
    const data = randomBytes(3 * MiB + 123, 1);
    await writeFile(f, data);
    const s = await readStats(mnt);
    t.true(s.nr_dirty! > 0, `dirty pages after the write: ${s.nr_dirty}`);
    t.is(s.wb_pages, 0, 'nothing written back yet');
    t.deepEqual(await readFile(f), data, 'read back before any writeback');
    await ctx.umount(); // writes everything back
    const fc = await fsck(ctx.store);
    t.is(fc.code, 0, describeFsck(fc));
    await ctx.mount();
    t.deepEqual(await readFile(f), data, 'read back after the remount');
  });
});

test('fsync makes a file durable: a SIGKILL of the daemon right after loses nothing of it; .aheadfs/sync does the same for all files', async (t) => {
  await withMount(t, { size: '128M', mountArgs: ['--dirty-writeback-centisecs', '0'] }, async (mnt, ctx) => {
    const a = join(mnt, 'a.bin');
    const b = join(mnt, 'b.bin');
    const dataA = randomBytes(2 * MiB, 2);
    const dataB = randomBytes(1 * MiB + 5, 3);
    const fh = await open(a, 'w');
    await fh.write(dataA, 0, dataA.length, 0);
    await fh.sync();
    await fh.close();
    await writeFile(b, dataB);
    const before = await readStats(mnt);
    t.true(before.nr_dirty! > 0, 'b.bin is still dirty');
    await control(mnt, 'sync', '1');
    const after = await readStats(mnt);
    t.is(after.nr_dirty, 0, 'sync wrote everything back');
    await killDaemon(await mountPid(mnt), mnt);
    const fc = await fsck(ctx.store);
    t.is(fc.code, 0, describeFsck(fc));
    await ctx.mount();
    t.deepEqual(await readFile(a), dataA);
    t.deepEqual(await readFile(b), dataB);
  });
});

test('balance_dirty_pages: 24 MiB written through a 16 MiB cache with a 1 MiB dirty limit onto a slow device: writers wait, dirty + writeback never pass the limit, all of it reads back', async (t) => {
  const limitBytes = 1 * MiB;
  // 100 ms per write request: the flusher (at most ~5 MB/s) cannot keep up with the writer.
  await withMount(t, { size: '256M', mountArgs: ['--cache-size', '16M', '--dirty-bytes', String(limitBytes), '--delay-write-us', '100000'] }, async (mnt, ctx) => {
    t.is(await readControl(mnt, 'tunables/vm/dirty_bytes'), `${limitBytes}\n`);
    t.is(await readControl(mnt, 'tunables/vm/dirty_ratio'), '0\n', 'dirty_bytes set: dirty_ratio reads 0');
    const f = join(mnt, 'big.bin');
    const src = join(ctx.tmp, 'src.bin');
    const chunk = randomBytes(4 * MiB, 4);
    await writeFile(src, Buffer.concat(Array.from({ length: 6 }, () => chunk)));
    // dd writes 128 KiB requests back to back, as fast as the mount takes them.
    await sh(`dd if=${src} of=${f} bs=128k conv=fsync status=none`);
    const s = await readStats(mnt);
    t.true(s.dirty_throttle! > 0, `throttled writes: ${s.dirty_throttle}`);
    t.true(s.nr_dirty_peak! <= limitBytes / 4096, `nr_dirty_peak ${s.nr_dirty_peak} pages, limit ${limitBytes / 4096}`);
    t.true(s.wb_bytes! >= 24 * MiB, `written back: ${s.wb_bytes}`);
    const back = await readFile(f);
    t.is(back.length, 24 * MiB);
    for (let i = 0; i < 6; i++) t.true(back.subarray(i * chunk.length, (i + 1) * chunk.length).equals(chunk), `chunk ${i}`);
  });
});

test('tunables/vm: the kernel names and defaults, bytes and ratio exclude each other, bad values EINVAL; absent with --writeback off', async (t) => {
  await withMount(t, { size: '64M' }, async (mnt) => {
    const vm = async (n: string): Promise<string> => (await readControl(mnt, `tunables/vm/${n}`)).trim();
    t.is(await vm('dirty_ratio'), '20');
    t.is(await vm('dirty_background_ratio'), '10');
    t.is(await vm('dirty_expire_centisecs'), '3000');
    t.is(await vm('dirty_writeback_centisecs'), '500');
    await control(mnt, 'tunables/vm/dirty_background_bytes', '1048576');
    t.is(await vm('dirty_background_ratio'), '0');
    await control(mnt, 'tunables/vm/dirty_background_ratio', '5');
    t.is(await vm('dirty_background_bytes'), '0');
    await t.throwsAsync(control(mnt, 'tunables/vm/dirty_ratio', '101'), { code: 'EINVAL' });
    await t.throwsAsync(control(mnt, 'tunables/vm/dirty_bytes', '4096'), { code: 'EINVAL' });
    t.is(await vm('dirty_ratio'), '20', 'unchanged by the refused writes');
  });
  await withMount(t, { size: '64M', mountArgs: ['--writeback', 'off'] }, async (mnt) => {
    await t.throwsAsync(readControl(mnt, 'tunables/vm/dirty_ratio'), { code: 'ENOENT' });
    const f = join(mnt, 'w.bin');
    await writeFile(f, Buffer.alloc(MiB, 7));
    const s = await readStats(mnt);
    t.is(s.nr_dirty, 0);
    t.is(s.wb_pages, 0);
  });
});
