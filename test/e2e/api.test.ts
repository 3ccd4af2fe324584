/**
 * The in-process API against a mounted store: openStore refuses it (read-write and
 * read-only alike: the daemon's page cache and metadata are not shared with another
 * process), and opens it once it is unmounted, seeing what was written through the mount;
 * and the other way round, `aheadfs mount` refuses a store a program holds open.
 */

import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/api/index.js';
import { isFsError } from '../../src/errors.js';
import { findMount } from '../../src/fuse/mounts.js';
import { aheadfs, expectOneLine } from '../helpers/cli.js';
import { forceCleanup, withMount } from '../helpers/mount.js';

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

test('aheadfs mount refuses a store a program holds open (read-write or read-only), with one line', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-e2e-api-'));
  const store = join(tmp, 'store');
  const mnt = join(tmp, 'mnt');
  t.teardown(async () => {
    if (await findMount(mnt)) await forceCleanup(store, mnt); // only if the refusal failed
    await rm(tmp, { recursive: true, force: true });
  });
  await mkdir(mnt);
  t.is((await aheadfs(['mkfs', store, '--size', '64M', '--block-file-size', '16M'])).code, 0);
  for (const readOnly of [false, true]) {
    const held = await openStore(store, { readOnly });
    try {
      const r = await aheadfs(['mount', store, mnt]);
      expectOneLine(t, r, 1, /already mounted|in use/);
      t.is(await findMount(mnt), undefined, `readOnly ${readOnly}: nothing mounted`);
    } finally {
      await held.close();
    }
  }
});
