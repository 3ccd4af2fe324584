/**
 * Readahead through a real mount: dd bs=4k over a cold file shows the seed's window
 * sequence in `.aheadfs/trace`; with --ra-policy none every miss reads one page.
 * These assert the 4.18 windows (the seed's do_generic_file_read and ondemand_readahead):
 * every mount here is `--kernel 4.18` (the default is 6.18, checked against the running
 * kernel by test/e2e/kernel-diff.test.ts).
 */

import test from 'ava';
import { join } from 'node:path';
import { writeRandomFile } from '../helpers/files.js';
import { clearTrace, control, dropCaches, readControl, readStats, traceWindows } from '../helpers/control.js';
import { sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

const MiB = 1 << 20;

test('dd bs=4k over a cold file produces the seed window sequence', async (t) => {
  await withMount(t, { size: '256M', mountArgs: ['--kernel', '4.18'] }, async (mnt) => {
    const file = join(mnt, 'seq.bin');
    await writeRandomFile(file, 1 * MiB); // 256 pages
    await dropCaches(mnt);
    await clearTrace(mnt);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    const want = ['{0,4,3}', '{4,8,8}', '{12,16,16}', '{28,32,32}'];
    for (let start = 60; start < 256; start += 32) want.push(`{${start},32,32}`);
    t.deepEqual(await traceWindows(mnt), want);
    const trace = await readControl(mnt, 'trace');
    t.regex(trace, /^ra sync ino=\d+ fh=\d+ index=0 req=1 start=0 size=4 async=3 order=0 reason=initial(?: pid=\d+)? t=\d+$/m);
    t.regex(trace, /^ra async ino=\d+ fh=\d+ index=1 req=1 start=4 size=8 async=8 order=0 reason=sequential(?: pid=\d+)? t=\d+$/m);
  });
});

test('--ra-policy none: the same dd reads exactly one page per miss, and no ra lines', async (t) => {
  await withMount(t, { size: '256M', mountArgs: ['--kernel', '4.18', '--ra-policy', 'none'] }, async (mnt) => {
    const file = join(mnt, 'seq.bin');
    await writeRandomFile(file, 1 * MiB);
    await dropCaches(mnt);
    await clearTrace(mnt);
    const s0 = await readStats(mnt);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    const s1 = await readStats(mnt);
    t.deepEqual(await traceWindows(mnt), []);
    t.is(s1.readpage_ios! - s0.readpage_ios!, 256, 'one readpage per page');
    t.is(s1.disk_read_bytes! - s0.disk_read_bytes!, 1 * MiB, 'nothing read twice, nothing ahead');
    t.is(s1.ra_pages! - s0.ra_pages!, 0);
  });
});

test('read_ahead_kb set at run time applies to files opened afterwards; bad values get EINVAL', async (t) => {
  await withMount(t, { size: '256M', mountArgs: ['--kernel', '4.18'] }, async (mnt) => {
    const file = join(mnt, 'seq.bin');
    await writeRandomFile(file, 2 * MiB);
    await control(mnt, 'tunables/read_ahead_kb', '512');
    t.is((await readControl(mnt, 'tunables/read_ahead_kb')).trim(), '512');
    await dropCaches(mnt);
    await clearTrace(mnt);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    t.deepEqual((await traceWindows(mnt)).slice(0, 5), ['{0,4,3}', '{4,16,16}', '{20,32,32}', '{52,64,64}', '{116,128,128}']);
    for (const bad of ['-4', 'lots', '99999999']) {
      const err = await control(mnt, 'tunables/read_ahead_kb', bad).catch((e: NodeJS.ErrnoException) => e);
      t.is((err as NodeJS.ErrnoException | undefined)?.code, 'EINVAL', `read_ahead_kb=${bad}`);
    }
    t.is((await readControl(mnt, 'tunables/read_ahead_kb')).trim(), '512', 'unchanged by the refused writes');
  });
});
