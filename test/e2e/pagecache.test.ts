/**
 * The page cache through a real mount: re-reads come from memory, a file larger than the
 * cache still reads right, concurrent cold readers read each page once, drop_caches
 * empties the cache, and the cache never grows past its size.
 */

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { dropCaches, readStats } from '../helpers/control.js';
import { sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

const MiB = 1 << 20;

test('a second read of a cached file does not touch the disk; drop_caches makes it read again', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const file = join(mnt, 'f.bin');
    const want = await writeRandomFile(file, 16 * MiB);
    await dropCaches(mnt);
    const s0 = await readStats(mnt);
    t.is(await sha256File(file), want);
    const s1 = await readStats(mnt);
    t.is(s1.disk_read_bytes! - s0.disk_read_bytes!, 16 * MiB, 'cold read: every byte from the disk, once');
    t.is(await sha256File(file, 4096), want);
    const s2 = await readStats(mnt);
    t.is(s2.disk_read_bytes, s1.disk_read_bytes, 'warm read: nothing from the disk');
    t.true(s2.pgcache_hit! > s1.pgcache_hit!);
    await dropCaches(mnt);
    t.is(await sha256File(file), want);
    const s3 = await readStats(mnt);
    t.is(s3.disk_read_bytes! - s2.disk_read_bytes!, 16 * MiB, 'after drop_caches the disk is read again');
  });
});

test('a file 4x the cache size reads back right, and the cache stays within its size', async (t) => {
  await withMount(t, { size: '256M', mountArgs: ['--cache-size', '16M'] }, async (mnt, ctx) => {
    const file = join(mnt, 'big.bin');
    const want = await writeRandomFile(file, 64 * MiB);
    await dropCaches(mnt);
    t.is(await sha256File(file), want);
    t.is(await sha256File(file, 4096), want);
    // Memory stays bounded by the cache: the daemon's resident set < cache + 150 MiB.
    const pid = await ctx.daemonPid();
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    t.true(rssKiB > 0 && rssKiB * 1024 < 16 * MiB + 150 * MiB, `daemon RSS ${(rssKiB / 1024).toFixed(1)} MiB`);
    const s = await readStats(mnt);
    t.is(s.pages_total, (16 * MiB) / 4096);
    t.true(s.pages_cached! <= s.pages_total!, `pages_cached ${s.pages_cached} <= pages_total ${s.pages_total}`);
    t.is(s.pages_cached! + s.pages_free!, s.pages_total!);
    t.true(s.pgsteal! > 0, 'reclaim ran');
  });
});

test('8 concurrent cold readers read each page from the disk exactly once', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const file = join(mnt, 'shared.bin');
    const want = await writeRandomFile(file, 32 * MiB);
    await dropCaches(mnt);
    const s0 = await readStats(mnt);
    const got = await Promise.all([4096, 8192, 65536, 131072, 4096, 16384, 131072, 32768].map((hwm) => sha256File(file, hwm)));
    for (const h of got) t.is(h, want);
    const s1 = await readStats(mnt);
    t.is(s1.disk_read_bytes! - s0.disk_read_bytes!, 32 * MiB, 'disk_read_bytes == file size');
  });
});

test('dd and cat agree with the original through a small cache', async (t) => {
  await withMount(t, { size: '256M', mountArgs: ['--cache-size', '8M'] }, async (mnt, ctx) => {
    const src = join(ctx.tmp, 'src.bin');
    const want = await writeRandomFile(src, 24 * MiB);
    await sh(`dd if=${src} of=${join(mnt, 'dd.bin')} bs=1M status=none`);
    await dropCaches(mnt);
    t.is((await sh(`dd if=${join(mnt, 'dd.bin')} bs=4k status=none | sha256sum`)).split(' ')[0], want);
    t.is((await sh(`cat ${join(mnt, 'dd.bin')} | sha256sum`)).split(' ')[0], want);
  });
});
