/**
 * The in-process API against a mounted store: openStore refuses it (read-write and
 * read-only alike: the daemon's page cache and metadata are not shared with another
 * process), and opens it once it is unmounted, seeing what was written through the mount.
 */

import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore } from '../../src/api/index.js';
import { isFsError } from '../../src/errors.js';
import { withMount } from '../helpers/mount.js';

test('openStore refuses a mounted store with EBUSY, and opens it after the unmount', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await writeFile(join(mnt, 'through-fuse'), 'written through the mount\n');
    for (const readOnly of [false, true]) {
      const err = await t.throwsAsync(() => openStore(ctx.store, { readOnly }));
      t.true(isFsError(err, 'EBUSY'), `readOnly ${readOnly}: ${String(err)}`);
      t.regex(err?.message ?? '', /already mounted/);
    }
    await ctx.umount();
    const store = await openStore(ctx.store, { readOnly: true });
    try {
      const f = await store.open('/through-fuse');
      const buf = new Uint8Array(64);
      const n = await f.read(buf, 0);
      t.is(new TextDecoder().decode(buf.subarray(0, n)), 'written through the mount\n');
    } finally {
      await store.close();
    }
    await ctx.mount(); // the store is free again: withMount unmounts it at the end
  });
});
