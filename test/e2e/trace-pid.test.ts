/**
 * The trace through a real mount carries the reader's pid: a cold `dd` leaves `read` and
 * `ra` lines stamped ` pid=<dd's pid>` (fuse_get_context through the patched fuse-native),
 * and the lines are otherwise in the documented form.
 */

import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { clearTrace, control, dropCaches, readControl } from '../helpers/control.js';
import { writeRandomFile } from '../helpers/files.js';
import { withMount } from '../helpers/mount.js';

/** Run a command to its end; its pid. */
function runPid(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

test('trace lines of a read carry the reader pid', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const file = join(mnt, 'f.bin');
    await writeRandomFile(file, 1 << 20);
    await control(mnt, 'tunables/trace', '2');
    await dropCaches(mnt);
    await clearTrace(mnt);
    const pid = await runPid('dd', [`if=${file}`, 'of=/dev/null', 'bs=4k', 'status=none']);
    const lines = (await readControl(mnt, 'trace')).trimEnd().split('\n');
    const reads = lines.filter((l) => l.startsWith('read '));
    t.true(reads.length >= 256, `one read line per 4 KiB read (${reads.length})`);
    for (const l of reads) t.regex(l, new RegExp(`^read ino=\\d+ fh=\\d+ pos=\\d+ len=4096 pid=${pid} t=\\d+$`));
    const ra = lines.filter((l) => l.startsWith('ra '));
    t.true(ra.length > 0);
    t.true(
      ra.every((l) => l.includes(` pid=${pid} t=`)),
      'readahead decisions happen in the reader context',
    );
  });
});
