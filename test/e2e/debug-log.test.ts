/**
 * DEBUG=aheadfs:* turns on one debug namespace per layer in the daemon's log, and does
 * NOT turn on libfuse's own request trace (fuse-native would add `-o debug` for any
 * $DEBUG containing '*'). The log says when the daemon mounted, with which options, and
 * why it stopped.
 */

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sh } from '../helpers/cli.js';
import { writeRandomFile } from '../helpers/files.js';
import { dropCaches } from '../helpers/control.js';
import { withMount } from '../helpers/mount.js';

test('DEBUG=aheadfs:* logs each layer without libfuse debug output; the log tells mount and stop', async (t) => {
  await withMount(t, { size: '256M', env: { DEBUG: 'aheadfs:*' } }, async (mnt, ctx) => {
    await writeRandomFile(join(mnt, 'f.bin'), 1 << 20);
    await dropCaches(mnt);
    await sh(`dd if=${join(mnt, 'f.bin')} of=/dev/null bs=4k status=none`);
    await ctx.umount();
    const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
    for (const ns of ['aheadfs:ra', 'aheadfs:block', 'aheadfs:fs', 'aheadfs:vfs', 'aheadfs:fuse']) t.true(log.includes(ns), `a ${ns} line`);
    t.regex(log, /aheadfs:ra sync ino=\d+ index=0 req=1 -> \{0,4,3\} (initial|window order=0)/); // 4.18 or 6.18 (the default)
    // libfuse's debug mode prints every request as "unique: N, opcode: ..." and "INIT: 7.x".
    t.notRegex(log, /unique: \d+|opcode: |^INIT: /m, 'no libfuse debug output');
    t.regex(log, /mounted .* on .*read_ahead_kb|mounted .* on .*\(uuid/);
    t.regex(log, /stopping: /);
    t.regex(log, /\bstopped\b/);
  });
});
