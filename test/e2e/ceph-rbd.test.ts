/**
 * The distributed case: a store on a Ceph RBD image (a one-node cluster from Debian's
 * packages, scripts/ceph-rbd.sh, the image served by qemu-nbd's rbd: driver). Data written
 * with dd and fio reads back from the cluster (caches dropped) before and after a remount,
 * fsck finds the store clean, and after the cluster is stopped none of its daemons runs.
 * The slowest e2e test: about 15-25 s to bring the cluster up (longer the first time, when
 * the script installs the Ceph packages).
 */

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aheadfs, sh } from '../helpers/cli.js';
import { startCephRbd } from '../helpers/ceph.js';
import { dropCaches, readStats, waitForIdleDevice } from '../helpers/control.js';
import { sha256File } from '../helpers/files.js';
import { withMount } from '../helpers/mount.js';
import { pidAlive as alive } from '../../src/fuse/mounts.js';

const MiB = 1 << 20;

test('Ceph RBD over qemu-nbd: dd + sha256 and fio verify, remount, verify again, fsck clean, nothing left running', async (t) => {
  t.timeout(600_000, 'Ceph start (and the first-time package install) and the data checks');
  const ceph = await startCephRbd(t, { sizeMiB: 1024 });
  t.deepEqual([...ceph.pids.keys()].sort(), ['ceph-mon', 'ceph-osd', 'qemu-nbd']);

  await withMount(t, { size: '512M', device: { url: ceph.url } }, async (mnt, ctx) => {
    const src = join(ctx.tmp, 'src.bin');
    await sh(`dd if=/dev/urandom of=${src} bs=1M count=6 status=none`);
    const want = await sha256File(src);
    await sh(`dd if=${src} of=${join(mnt, 'a.bin')} bs=64k conv=fsync status=none`);
    const fio = `fio --name=v --directory=${mnt} --rw=randwrite --bs=4k --size=4m --verify=crc32c --verify_state_save=0 --ioengine=psync --randrepeat=1`;
    t.regex(await sh(`${fio} --output-format=normal`), /err= 0/, 'fio wrote and verified');

    await waitForIdleDevice(mnt);
    await dropCaches(mnt);
    const s0 = await readStats(mnt);
    t.is(await sha256File(join(mnt, 'a.bin')), want, 'dd data reads back from the cluster');
    t.true((await readStats(mnt)).disk_read_bytes! - s0.disk_read_bytes! >= 6 * MiB, 'read from the RBD image, not the cache');

    await ctx.umount();
    await ctx.mount();
    t.is(await sha256File(join(mnt, 'a.bin')), want, 'the same bytes after a remount');
    const v = await sh(`${fio} --verify_only --output-format=normal`);
    t.notRegex(v, /verify: bad|err=\s*[1-9]/);
    t.regex(v, /err= 0/, 'fio verify_only after the remount');
    const s = await readStats(mnt);
    t.is(s.disk_errors, 0);
    t.regex(await readFile(join(ctx.store, 'aheadfs.log'), 'utf8'), /device nbd:\/\/127\.0\.0\.1:\d+\/disk: 1073741824 bytes/);

    await ctx.umount();
    const fsck = await aheadfs(['fsck', ctx.store]);
    t.is(fsck.code, 0, fsck.stdout + fsck.stderr);
    t.regex(fsck.stdout, /: clean; /);
  });

  await ceph.stop();
  for (const [name, pid] of ceph.pids) t.false(alive(pid), `${name} (pid ${pid}) stopped`);
  const ps = await sh('ps -eo args=');
  t.false(ps.includes(ceph.stateDir), `no process of this cluster in ps:\n${ps.split('\n').filter((l) => l.includes(ceph.stateDir)).join('\n')}`);
});
