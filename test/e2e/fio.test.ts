/** fio writes with crc32c verification headers, then a verify-only pass reads them back. */

import test from 'ava';
import { sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

test('fio write --verify=crc32c, then --verify_only', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const common = `--name=w --directory=${mnt} --rw=write --bs=64k --size=64m --verify=crc32c --verify_state_save=0 --ioengine=psync`;
    const w = await sh(`fio ${common} --output-format=terse`);
    t.truthy(w.trim(), 'fio ran');
    // A fresh fio process reading and checking every block header written above.
    const v = await sh(`fio ${common} --verify_only --output-format=normal`);
    t.notRegex(v, /verify: bad|err=\s*[1-9]/);
    t.regex(v, /err= 0/);
  });
});
