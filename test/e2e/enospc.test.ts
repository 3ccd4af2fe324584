/** Filling the store gives ENOSPC, and what was written before is intact. */

import test from 'ava';
import { open, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { withMount } from '../helpers/mount.js';

const MiB = 1 << 20;

test('a full store answers ENOSPC and keeps the earlier files', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const kept = [];
    for (let i = 0; i < 4; i++) kept.push({ path: join(mnt, `keep${i}`), hash: await writeRandomFile(join(mnt, `keep${i}`), 16 * MiB) });

    const before = await statfs(mnt);
    t.true(before.bfree > 0 && before.bfree < before.blocks, 'statfs reports real figures');

    const fh = await open(join(mnt, 'filler'), 'w');
    const chunk = randomBytes(MiB);
    let err: NodeJS.ErrnoException | undefined;
    let written = 0;
    try {
      for (let i = 0; i < 512 && !err; i++) {
        try {
          written += (await fh.write(chunk, 0, chunk.length)).bytesWritten;
        } catch (e) {
          err = e as NodeJS.ErrnoException;
        }
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
    t.is(err?.code, 'ENOSPC', `got ${err?.code ?? 'no error'} after ${written} bytes`);
    t.true(written > 64 * MiB, 'the free space was usable before ENOSPC');

    for (const k of kept) t.is(await sha256File(k.path), k.hash, `${k.path} intact`);
  });
});
