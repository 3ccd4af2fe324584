/**
 * `--kernel 4.18|6.18` on a real mount: the read-only `kernel` tunable, which read path
 * runs (6.18 prints the kernel's page_cache_* tracepoints and uses large folios; 4.18
 * prints only `ra` lines with order=0 and caches order-0 folios), the default (6.18), and
 * a bad value refused in one line.
 */

import test from 'ava';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aheadfs, sh } from '../helpers/cli.js';
import { clearTrace, dropCaches, readControl } from '../helpers/control.js';
import { writeRandomFile } from '../helpers/files.js';
import { withMount } from '../helpers/mount.js';

const MiB = 1 << 20;

for (const kernel of [undefined, '4.18', '6.18'] as const) {
  const name = kernel ?? 'default';
  test(`--kernel ${name}: the tunable says which, it is read-only, and the trace and the cache show that kernel's read path`, async (t) => {
    await withMount(t, { size: '256M', mountArgs: kernel ? ['--kernel', kernel] : [] }, async (mnt) => {
      const want = kernel ?? '6.18';
      t.is(await readControl(mnt, 'tunables/kernel'), `${want}\n`);
      await t.throwsAsync(writeFile(join(mnt, '.aheadfs', 'tunables', 'kernel'), '4.18\n'), { code: 'EPERM' });
      t.is(await readControl(mnt, 'tunables/kernel'), `${want}\n`, 'unchanged');

      const file = join(mnt, 'seq.bin');
      await writeRandomFile(file, 1 * MiB);
      await dropCaches(mnt);
      await clearTrace(mnt);
      // Hold the file open so `files` shows it after a cold sequential read of all of it.
      const out = await sh(`exec 3<${file}; dd bs=4k status=none <&3 >/dev/null; sed -n '1p;/seq.bin/p' ${join(mnt, '.aheadfs', 'files')}; exec 3<&-`);
      const trace = await readControl(mnt, 'trace');
      const raLines = trace.split('\n').filter((l) => l.startsWith('ra '));
      t.true(raLines.length > 3, 'readahead ran');
      const orders = raLines.map((l) => Number(/ order=(\d+) /.exec(l)![1]));
      const [header, row] = out.trimEnd().split('\n');
      const cols = header!.replace(/^# /, '').split(' ');
      const f = Object.fromEntries(cols.map((c, i) => [c, Number(row!.split(' ')[i])]));
      if (want === '6.18') {
        t.regex(trace, /^page_cache_sync_ra: ino=\w+ index=0 req_count=1 order=0 size=0 async_size=0 ra_pages=32 mmap_miss=0 prev_pos=-1(?: pid=\d+)? t=\d+$/m);
        t.regex(trace, /^page_cache_async_ra: /m);
        t.regex(trace, /^page_cache_ra_order: /m);
        t.true(Math.max(...orders) >= 2, `ra->order grew (${orders.join(',')})`);
        t.true(f.cached_folios! < f.cached_pages!, `large folios: ${f.cached_folios} folios for ${f.cached_pages} pages`);
        t.true(f.ra_order! >= 2);
      } else {
        t.notRegex(trace, /^page_cache_/m, 'no 6.18 tracepoints');
        t.deepEqual([...new Set(orders)], [0]);
        t.is(f.cached_folios, f.cached_pages, 'order-0 folios only');
        t.is(f.ra_order, 0);
      }
    });
  });
}

test('a bad --kernel: one line on stderr, exit 2, nothing mounted', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-kernels-'));
  try {
    const store = join(tmp, 'store');
    const mnt = join(tmp, 'mnt');
    await mkdir(mnt);
    t.is((await aheadfs(['mkfs', store, '--size', '64M', '--block-file-size', '16M'])).code, 0);
    const r = await aheadfs(['mount', store, mnt, '--kernel', '5.4']);
    t.is(r.code, 2);
    t.is(r.stderr, "aheadfs: bad --kernel '5.4': expected 4.18 or 6.18\n");
    t.deepEqual(await readdir(mnt), []);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
