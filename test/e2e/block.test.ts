/**
 * The block layer through a real mount: readahead becomes large requests (with the
 * filesystem's multi-page readahead, and with readpage per page merged by the plug),
 * libaio keeps several requests in flight, the scheduler can be switched during a read,
 * its iosched/ tunables work through the control files, and iostat prints sane rows.
 */

import test from 'ava';
import { join } from 'node:path';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { control, dropCaches, readControl, readDiskstats, readStats } from '../helpers/control.js';
import { DS } from '../../src/block/diskstats.js';
import { BIN, sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

const MiB = 1 << 20;
// /sys/block/<dev>/stat field indexes
const READS = 0;
const READ_MERGES = 1;
const READ_SECTORS = 2;

for (const readpages of ['on', 'off'] as const) {
  test(`cold dd bs=4k of 64 MiB: average read request >= 64 KiB (--readpages ${readpages})`, async (t) => {
    await withMount(t, { size: '256M', mountArgs: ['--readpages', readpages] }, async (mnt) => {
      const file = join(mnt, 'seq.bin');
      await writeRandomFile(file, 64 * MiB);
      await dropCaches(mnt);
      const d0 = await readDiskstats(mnt);
      await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
      const d1 = await readDiskstats(mnt);
      const reads = d1[READS]! - d0[READS]!;
      const kib = (d1[READ_SECTORS]! - d0[READ_SECTORS]!) / 2;
      t.is(kib, 64 * 1024, 'every byte read once');
      t.true(kib / reads >= 64, `average request ${(kib / reads).toFixed(1)} KiB over ${reads} reads`);
      if (readpages === 'off') t.true(d1[READ_MERGES]! - d0[READ_MERGES]! > 0, 'the plug merged the one-page bios');
    });
  });
}

test('fio libaio iodepth=16 randread keeps more than one request in flight and verifies', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const job = `--name=r --filename=${join(mnt, 'r.bin')} --bs=4k --size=32m --ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c --verify_state_save=0`;
    await sh(`fio ${job} --rw=randwrite --do_verify=0 --output-format=terse`, { timeoutMs: 300_000 });
    await dropCaches(mnt);
    const s0 = await readStats(mnt);
    const out = await sh(`fio ${job} --rw=randread --output-format=normal`, { timeoutMs: 300_000 });
    t.notRegex(out, /verify: bad|err=\s*[1-9]/);
    const s1 = await readStats(mnt);
    t.true(s1.disk_read_bytes! > s0.disk_read_bytes!, 'read from the disk');
    t.true(s1.rq_inflight_max! > 1, `requests in flight at once: ${s1.rq_inflight_max}`);
  });
});

test('switching the scheduler during a read keeps the data right', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const file = join(mnt, 'f.bin');
    const want = await writeRandomFile(file, 48 * MiB);
    await dropCaches(mnt);
    t.regex(await readControl(mnt, 'tunables/scheduler'), /^none \[mq-deadline\]\n$/);
    const reading = Promise.all([sha256File(file, 4096), sha256File(file, 131072)]);
    const names = ['none', 'mq-deadline', 'none', 'mq-deadline'];
    for (const name of names) {
      await control(mnt, 'tunables/scheduler', name);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const h of await reading) t.is(h, want);
    t.regex(await readControl(mnt, 'tunables/scheduler'), /^none \[mq-deadline\]\n$/);
    const err = await control(mnt, 'tunables/scheduler', 'cfq').catch((e: NodeJS.ErrnoException) => e);
    t.is((err as NodeJS.ErrnoException | undefined)?.code, 'EINVAL');
  });
});

test('tunables/iosched: front_merges through the control file; gone with none, defaults after a switch back', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const fm = 'tunables/iosched/front_merges';
    t.is(await readControl(mnt, fm), '1\n');
    await control(mnt, fm, '0');
    t.is(await readControl(mnt, fm), '0\n');
    const bad = await control(mnt, fm, 'yes').catch((e: NodeJS.ErrnoException) => e);
    t.is((bad as NodeJS.ErrnoException | undefined)?.code, 'EINVAL');
    t.is(await readControl(mnt, fm), '0\n', 'a bad value changes nothing');
    await control(mnt, 'tunables/scheduler', 'none');
    const gone = await readControl(mnt, fm).catch((e: NodeJS.ErrnoException) => e);
    t.is((gone as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
    await control(mnt, 'tunables/scheduler', 'mq-deadline');
    t.is(await readControl(mnt, fm), '1\n', 'a new elevator starts from the defaults');
  });
});

test('aheadfs iostat prints a header and sane rows while a read runs', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt, ctx) => {
    const file = join(mnt, 'f.bin');
    await writeRandomFile(file, 16 * MiB);
    // Keep cold reads going for as long as iostat samples, however slow the machine is.
    let stop = false;
    const reading = (async () => {
      while (!stop) {
        await dropCaches(mnt);
        await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
      }
    })();
    const r = await ctx.cli(['iostat', mnt, '0.5', '2']);
    stop = true;
    await reading;
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.is(lines.length, 3);
    t.regex(lines[0]!, /^Device\s+r\/s\s+rkB\/s\s+rrqm\/s\s+%rrqm\s+r_await\s+rareq-sz\s+w\/s.*aqu-sz\s+%util$/);
    for (const row of lines.slice(1)) {
      const f = row.trim().split(/\s+/);
      t.is(f[0], 'aheadfs');
      const nums = f.slice(1).map(Number);
      t.is(nums.length, 14);
      t.true(nums.every((v) => Number.isFinite(v) && v >= 0), row);
      t.true(nums[13]! <= 100, '%util <= 100');
    }
    for (const row of lines.slice(1)) t.true(Number(row.trim().split(/\s+/)[2]) > 0, `rkB/s > 0 while dd reads: ${row}`);
    const bad = await ctx.cli(['iostat', mnt, '0']);
    t.is(bad.code, 2);
    t.is(bad.stderr.trim().split('\n').length, 1);
    // A reader that stops early (| head) ends iostat quietly: exit 0, no stack trace.
    const piped = await sh(`set -o pipefail; ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} iostat ${JSON.stringify(mnt)} 0.05 200 2>&1 | head -2`);
    t.is(piped.trimEnd().split('\n').length, 2, piped);
    t.regex(piped, /^Device\s+r\/s/);
  });
});

test('fsync sends its flush through the request queue: diskstats counts it', async (t) => {
  await withMount(t, { size: '64M' }, async (mnt) => {
    const before = await readDiskstats(mnt);
    const flushesBefore = (await readStats(mnt)).disk_flushes ?? 0;
    await sh(`dd if=/dev/zero of=${JSON.stringify(join(mnt, 'synced.bin'))} bs=64k count=4 conv=fsync status=none`);
    const after = await readDiskstats(mnt);
    t.true(after[DS.flushIos]! > before[DS.flushIos]!, `flush I/Os ${before[DS.flushIos]} -> ${after[DS.flushIos]}`);
    t.true(after[DS.writeIos]! > before[DS.writeIos]!, 'the data was written first');
    t.true(((await readStats(mnt)).disk_flushes ?? 0) > flushesBefore, 'and the device synced a block file');
  });
});
