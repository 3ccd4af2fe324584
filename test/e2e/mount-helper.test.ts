/**
 * withMount (test/helpers/mount.ts) leaves nothing behind when a test body crashes the
 * daemon and then fails: the crash cycles and the fault tests rely on it.
 */

import test from 'ava';
import { stat } from 'node:fs/promises';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { killDaemon, mountPid } from '../helpers/crash.js';
import { withMount } from '../helpers/mount.js';

test('a body that SIGKILLs the daemon and throws: the dead mount is cleared, the temp dir removed', async (t) => {
  let seen: { mnt: string; tmp: string; pid: number } | undefined;
  await t.throwsAsync(
    withMount(t, {}, async (mnt, ctx) => {
      seen = { mnt, tmp: ctx.tmp, pid: await mountPid(mnt) };
      process.kill(seen.pid, 'SIGKILL');
      throw new Error('the body failed after the crash');
    }),
    { message: 'the body failed after the crash' },
  );
  t.truthy(seen);
  t.false(pidAlive(seen!.pid), 'the daemon is gone');
  t.is(await findMount(seen!.mnt), undefined, 'nothing mounted');
  await t.throwsAsync(stat(seen!.tmp), { code: 'ENOENT' }, 'temp dir removed');
});

test('killDaemon: SIGKILL, then the dead mount is cleared and the store mounts again', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    const pid = await mountPid(mnt);
    await killDaemon(pid, mnt);
    t.false(pidAlive(pid));
    t.is(await findMount(mnt), undefined);
    await ctx.mount();
    t.not(await mountPid(mnt), pid);
  });
});
