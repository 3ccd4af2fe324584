/**
 * Numeric and missing option values through the real binary: one line naming the option
 * and what it expects, exit 2, nothing changed on disk, never "NaN" echoed back. And the
 * file-size edges through a mount: a read at or past 2^53 is EOF, a truncate there EFBIG.
 */

import test from 'ava';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aheadfs, sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

test('bad or missing option values: one line naming the option, exit 2, nothing created', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-cli-values-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const store = join(tmp, 'store');
  const mnt = join(tmp, 'mnt');
  await mkdir(mnt);
  const cases: [string[], RegExp][] = [
    [['mkfs', store, '--size'], /^aheadfs: --size needs a value \(aheadfs mkfs --help says what it takes\)$/m],
    [['mkfs', store, '--block-file-size'], /--block-file-size needs a value/],
    [['mkfs', store, '--size', '1G', '--size', '2G'], /--size is given more than once/],
    [['mkfs', store, '--size', '-1G'], /bad --size '-1G': expected a number of bytes/],
    [['mkfs', ''], /bad store path '': expected a directory path/],
    [['mount', store, mnt, '--read-ahead-kb', 'lots'], /bad --read-ahead-kb 'lots': expected a whole number from 0 to \d+/],
    [['mount', store, mnt, '--read-ahead-kb'], /--read-ahead-kb needs a value \(aheadfs mount --help/],
    [['mount', store, mnt, '--max-sectors-kb', '1e3'], /bad --max-sectors-kb '1e3': expected a whole number/],
    [['mount', store, mnt, '--nr-requests', '64x'], /bad --nr-requests '64x'/],
    [['mount', store, mnt, '--cache-size'], /--cache-size needs a value/],
    [['umount', mnt, '--timeout', 'soon'], /bad --timeout 'soon': expected a number of seconds > 0/],
    [['umount', mnt, '--timeout', '-3'], /bad --timeout '-3'/],
    [['plot', join(tmp, 'trace.txt'), '-o', join(tmp, 'x.svg'), '--ino', 'abc'], /bad --ino 'abc': expected a whole number from 1/],
    [['plot', join(tmp, 'trace.txt'), '-o', join(tmp, 'x.svg'), '--windows', 'many'], /bad --windows 'many'/],
    [['plot', join(tmp, 'trace.txt'), '-o', join(tmp, 'x.svg'), '--from', 'soon'], /bad --from 'soon': expected a number on the x axis, a time/],
    [['iostat', mnt, 'x'], /bad interval 'x': expected a number of seconds/],
    [['iostat', mnt, '1', 'y'], /bad count 'y': expected a whole number/],
    [['stats', mnt, '--watch', 'often'], /bad --watch 'often'/],
  ];
  for (const [args, re] of cases) {
    const r = await aheadfs(args);
    const what = `aheadfs ${args.join(' ')}`;
    t.is(r.code, 2, `${what}: exit code (stderr: ${r.stderr.trim()})`);
    t.is(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
    t.regex(r.stderr, /^aheadfs: /, what);
    t.regex(r.stderr, re, what);
    t.notRegex(r.stderr, /NaN|ENOENT|Unknown argument/, what);
    t.deepEqual((await readdir(tmp)).sort(), ['mnt'], `${what}: nothing created`);
  }
});

test('through a mount: a read at or past 2^53 is EOF (0 bytes), a truncate there is EFBIG', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const f = join(mnt, 'f');
    await writeFile(f, 'data');
    // dd seeks there (lseek) and reads: pread(2) at that offset, as the kernel hands it to us.
    for (const pos of ['9007199254740992', '9007199254745088', '4611686018427387904']) {
      t.is(await sh(`set -o pipefail; dd if=${f} iflag=skip_bytes skip=${pos} bs=16 count=1 status=none | wc -c`), '0\n', `pread at ${pos}`);
    }
    t.is(await sh(`dd if=${f} iflag=skip_bytes skip=1 bs=16 count=1 status=none`), 'ata', 'an ordinary pread still reads');
    for (const size of ['9007199254740992', '9223372036854775807']) {
      const err = await t.throwsAsync(sh(`truncate -s ${size} ${f}`));
      t.regex(err!.message, /File too large/, size);
    }
    t.is((await stat(f)).size, 4, 'the file is as it was');
  });
});
