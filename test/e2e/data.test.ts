/**
 * Data comes back as it went in: through the page-cache-less FUSE path (direct_io), after
 * a remount, and to many readers at once.
 */

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { copyFile, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

const MiB = 1 << 20;

test('a 64 MiB random file copied in reads back with the same sha256, also after umount and mount', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt, ctx) => {
    const src = join(ctx.tmp, 'src.bin');
    const want = await writeRandomFile(src, 64 * MiB);
    await copyFile(src, join(mnt, 'big.bin'));
    t.is(await sha256File(join(mnt, 'big.bin')), want);
    t.is((await sh(`sha256sum ${JSON.stringify(join(mnt, 'big.bin'))}`)).split(' ')[0], want, 'sha256sum (4 KiB..128 KiB reads) agrees');

    await ctx.umount();
    t.is(await sh(`grep -c ${JSON.stringify(mnt)} /proc/mounts || true`), '0\n', 'unmounted');
    await ctx.mount();
    t.is(await sha256File(join(mnt, 'big.bin')), want, 'same content after a remount');
    t.is(await sha256File(join(mnt, 'big.bin'), 4096), want, 'and with 4 KiB reads');
  });
});

test('8 concurrent readers of one file all get the right hash', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const file = join(mnt, 'shared.bin');
    const want = await writeRandomFile(file, 32 * MiB);
    const sizes = [4096, 8192, 16384, 32768, 65536, 131072, 4096, 131072];
    const got = await Promise.all(sizes.map((hwm) => sha256File(file, hwm)));
    for (const h of got) t.is(h, want);
  });
});

test('overwrite in the middle, append, truncate: reads see exactly the model bytes', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const file = join(mnt, 'f');
    let model = randomBytes(3 * MiB + 123);
    await writeFile(file, model);
    const fh = await open(file, 'r+');
    try {
      const patch = Buffer.alloc(40960, 7);
      await fh.write(patch, 0, patch.length, 409600 + 5); // unaligned, spans pages
      patch.copy(model, 409600 + 5);
      const tail = Buffer.from('tail');
      await fh.write(tail, 0, tail.length, model.length);
      model = Buffer.concat([model, tail]);
      t.deepEqual(await readFile(file), model);

      await fh.truncate(MiB + 1);
      model = model.subarray(0, MiB + 1);
      t.deepEqual(await readFile(file), model);
      await fh.truncate(2 * MiB); // extending reads zeros
      model = Buffer.concat([model, Buffer.alloc(MiB - 1)]);
      t.is((await fh.stat()).size, 2 * MiB);
    } finally {
      await fh.close();
    }
    t.deepEqual(await readFile(file), model);
  });
});
