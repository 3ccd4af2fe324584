/**
 * Fault injection and delay through real mounts: `.aheadfs/fail_make_request/` aimed at
 * a file's region gives its reader EIO (and shrinks the file's readahead) while the rest
 * of the store reads fine; an injected write error fails the write and the next fsync
 * (an injected flush error fails fsync too) and leaves nothing half-written after a remount; `--delay-read-us` shows in
 * `aheadfs iostat` as r_await; bad mount options are refused with one line.
 */

import test from 'ava';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findMount, pidAlive } from '../../src/fuse/mounts.js';
import { aheadfs, sh } from '../helpers/cli.js';
import { clearTrace, control, dropCaches, readControl, readStats, waitForIdleDevice } from '../helpers/control.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { withMount } from '../helpers/mount.js';

const KiB = 1024;
const MiB = 1 << 20;

interface WriteBio {
  sector: number;
  bytes: number;
}

/** The `bio submit op=write` lines of the trace, in order. */
async function writeBios(mnt: string): Promise<WriteBio[]> {
  const out: WriteBio[] = [];
  for (const line of (await readControl(mnt, 'trace')).split('\n')) {
    const m = /^bio submit op=write sector=(\d+) bytes=(\d+) /.exec(line);
    if (m) out.push({ sector: Number(m[1]), bytes: Number(m[2]) });
  }
  return out;
}

/** `.aheadfs/files` columns of the handle open on `path`. */
async function fileRow(mnt: string, path: string): Promise<Record<string, number>> {
  const lines = (await readControl(mnt, 'files')).trim().split('\n');
  const cols = lines[0]!.replace(/^# /, '').split(' ');
  const row = lines.slice(1).map((l) => l.split(' ')).find((f) => f[0] === path);
  if (!row) throw new Error(`${path} is not open:\n${lines.join('\n')}`);
  return Object.fromEntries(cols.map((c, i) => [c, Number(row[i])]));
}

function errno(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

// Both read loops: 4.18 gives the waiters of a failed readahead EIO at once; 6.18
// (filemap_get_pages) drops the folio, finds it not uptodate, reads it again with
// read_folio and only then shrinks ra_pages (shrink_readahead_size_eio) and fails.
for (const kernel of ['4.18', '6.18'] as const) {
test(`an injected read EIO on a region: the reader gets EIO, the window shrinks, nothing stays locked, the rest reads (--kernel ${kernel})`, async (t) => {
  await withMount(t, { size: '128M', mountArgs: ['--kernel', kernel] }, async (mnt, ctx) => {
    const a = join(mnt, 'a.bin');
    const b = join(mnt, 'b.bin');
    await clearTrace(mnt);
    const wantA = await writeRandomFile(a, 4 * MiB);
    await control(mnt, 'sync', '1'); // a writeback mount writes it now
    // Where a.bin lives: its write bios (a partial page is written twice) cover one run of
    // sectors; blocks are allocated in file order, so its second MiB is the run's second MiB.
    const covered = new Set<number>();
    for (const bio of await writeBios(mnt)) for (let s = bio.sector; s < bio.sector + bio.bytes / 512; s += 8) covered.add(s);
    const first = Math.min(...covered);
    t.is(covered.size, (4 * MiB) / 4096, 'a.bin has 1024 blocks');
    t.is(Math.max(...covered) - first + 8, (4 * MiB) / 512, 'in one run of sectors');
    const start = first + MiB / 512;
    const end = first + (2 * MiB) / 512 - 1;
    const wantB = await writeRandomFile(b, 2 * MiB);
    await waitForIdleDevice(mnt);
    await dropCaches(mnt);

    await control(mnt, 'fail_make_request/verbose', '1');
    await control(mnt, 'fail_make_request/times', '-1');
    await control(mnt, 'fail_make_request/ops', 'read');
    await control(mnt, 'fail_make_request/sectors', `${start}-${end}`);
    await control(mnt, 'fail_make_request/probability', '100');
    t.is(await readControl(mnt, 'fail_make_request/sectors'), `${start}-${end}\n`);
    const s0 = await readStats(mnt);

    const fh = await open(a, 'r');
    try {
      const before = await fileRow(mnt, '/a.bin');
      const buf = Buffer.alloc(128 * KiB);
      let pos = 0;
      let failure: unknown;
      for (; pos < 4 * MiB; pos += buf.length) {
        try {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead !== buf.length) break;
        } catch (err) {
          failure = err;
          break;
        }
      }
      t.is(errno(failure), 'EIO', `the reader got EIO (at ${pos})`);
      t.true(pos >= MiB - 128 * KiB && pos < 2 * MiB, `the error came at the region (byte ${pos})`);
      const s1 = await readStats(mnt);
      const shrinks = s1.ra_eio_shrink! - s0.ra_eio_shrink!;
      t.true(shrinks >= 1, 'ra_eio_shrink counts');
      t.true(s1.fail_injected! > s0.fail_injected!, 'fail_injected counts');
      const after = await fileRow(mnt, '/a.bin');
      let want = before.ra_pages!;
      for (let i = 0; i < shrinks; i++) want = Math.floor(want / 4);
      t.true(before.ra_pages! > 0);
      t.log(`EIO at byte ${pos}; ra_pages ${before.ra_pages} -> ${after.ra_pages} after ${shrinks} error(s)`);
      t.is(after.ra_pages, want, `ra_pages ${before.ra_pages} divided by 4 per error (${shrinks})`);
      if (kernel === '6.18') t.true(s1.readpage_ios! > s0.readpage_ios!, 'the failed readahead folio was read again with read_folio before EIO');
      // The same region fails again (the pages were left unlocked, not uptodate: retried).
      await t.throwsAsync(fh.read(buf, 0, buf.length, MiB + 256 * KiB), { code: 'EIO' });
      // Other regions still read: after the region, and another file.
      const tail = await fh.read(buf, 0, buf.length, 3 * MiB);
      t.is(tail.bytesRead, buf.length);
    } finally {
      await fh.close();
    }
    t.is(await sha256File(b), wantB, 'b.bin reads whole and right');
    const pid = Number((await readControl(mnt, 'pid')).trim());
    t.true(pidAlive(pid), 'the daemon is up');

    // No page stays locked: once the device is idle, drop_caches can drop all of a.bin.
    await waitForIdleDevice(mnt);
    await dropCaches(mnt);
    const probe = await open(a, 'r');
    try {
      t.is((await fileRow(mnt, '/a.bin')).cached_pages, 0, 'every page of a.bin was droppable (none locked)');
    } finally {
      await probe.close();
    }
    const log = await readFile(join(ctx.store, 'aheadfs.log'), 'utf8');
    t.regex(log, /fail_make_request: forcing a failure: read sector=\d+ bytes=\d+ \(interval 1, probability 100, space 0, times -1\)/, 'verbose 1 logs it');
    t.regex(await readControl(mnt, 'trace'), /^rq inject op=read sector=\d+ bytes=\d+ status=EIO(?: pid=\d+)? t=\d+$/m);

    // Off again: the whole file reads right.
    await control(mnt, 'fail_make_request/probability', '0');
    t.is(await sha256File(a), wantA);
  });
});
}

/**
 * The start of both write-EIO tests: f.bin holding 256 KiB of 'A' on the disk (synced),
 * the second request of the next write armed to fail, and the counters before it.
 */
async function armedFile(mnt: string): Promise<{ f: string; old: Buffer; s0: Awaited<ReturnType<typeof readStats>> }> {
  const f = join(mnt, 'f.bin');
  const old = Buffer.alloc(256 * KiB, 'A');
  await writeFile(f, old);
  await sh(`sync ${f}`);
  await failSecondWriteRequest(mnt);
  return { f, old, s0: await readStats(mnt) };
}

/** Two requests per 128 KiB write (max_sectors_kb 64); the second of the next write fails (interval 2, once). */
async function failSecondWriteRequest(mnt: string): Promise<void> {
  await control(mnt, 'tunables/max_sectors_kb', '64');
  await control(mnt, 'fail_make_request/verbose', '0');
  await control(mnt, 'fail_make_request/ops', 'write');
  await control(mnt, 'fail_make_request/interval', '2');
  await control(mnt, 'fail_make_request/times', '1');
  await control(mnt, 'fail_make_request/probability', '100');
}

test('an injected write EIO fails the write and the next fsync, a failed flush fails fsync, nothing half-written shows after a remount (--writeback off)', async (t) => {
  await withMount(t, { size: '128M', mountArgs: ['--writeback', 'off'] }, async (mnt, ctx) => {
    const { f, old, s0 } = await armedFile(mnt);

    const fh = await open(f, 'r+');
    try {
      // An append of 128 KiB: new blocks, half of them really written.
      await t.throwsAsync(fh.write(Buffer.alloc(128 * KiB, 'B'), 0, 128 * KiB, 256 * KiB), { code: 'EIO' });
      const s1 = await readStats(mnt);
      t.is(s1.fail_injected! - s0.fail_injected!, 1);
      t.is(s1.rq_dispatch! - s0.rq_dispatch!, 2, 'two write requests: one written, one failed');
      t.is((await fh.stat()).size, 256 * KiB, 'the size did not grow');
      // fsync reports the failed write (once), though its own flush works.
      await t.throwsAsync(fh.sync(), { code: 'EIO' });
      await fh.sync();
      // An injected flush error fails fsync too.
      await control(mnt, 'fail_make_request/ops', 'flush');
      await control(mnt, 'fail_make_request/interval', '1');
      await control(mnt, 'fail_make_request/times', '1');
      await t.throwsAsync(fh.sync(), { code: 'EIO' });
      t.is(await readControl(mnt, 'fail_make_request/times'), '0\n', 'used up');
      await fh.sync(); // times exhausted: the next fsync works
    } finally {
      await fh.close();
    }
    t.deepEqual(await readFile(f), old, 'before the remount: the old bytes only');
    await ctx.umount();
    await ctx.mount();
    t.is((await stat(f)).size, 256 * KiB, 'after the remount: the old size');
    t.deepEqual(await readFile(f), old, 'after the remount: the old bytes only');
    t.is(await readControl(mnt, 'fail_make_request/probability'), '0\n', 'a remount starts with injection off');
  });
});

test('writeback: an injected write EIO is reported by the next fsync of each open file (once), the write itself succeeded; after a remount the file has its synced bytes and at most whole pages of the new ones', async (t) => {
  await withMount(t, { size: '128M', mountArgs: ['--writeback', 'on', '--dirty-writeback-centisecs', '0'] }, async (mnt, ctx) => {
    const { f, old, s0 } = await armedFile(mnt);
    const fh = await open(f, 'r+');
    const other = await open(f, 'r');
    try {
      // The append only dirties pages: write(2) succeeds; the writeback fails at fsync.
      await fh.write(Buffer.alloc(128 * KiB, 'B'), 0, 128 * KiB, 256 * KiB);
      t.is((await readStats(mnt)).fail_injected! - s0.fail_injected!, 0, 'nothing was written yet');
      await t.throwsAsync(fh.sync(), { code: 'EIO' });
      const s1 = await readStats(mnt);
      t.is(s1.fail_injected! - s0.fail_injected!, 1);
      t.true(s1.wb_errors! - s0.wb_errors! > 0, 'wb_errors counts the failed pages');
      await fh.sync(); // reported once to this file
      await t.throwsAsync(other.sync(), { code: 'EIO' }); // and once to the other open file
      await other.sync();
    } finally {
      await fh.close();
      await other.close();
    }
    await ctx.umount();
    await ctx.mount();
    const back = await readFile(f);
    t.deepEqual(back.subarray(0, 256 * KiB), old, 'after the remount: the synced bytes');
    t.true(back.length >= 256 * KiB && back.length <= 384 * KiB && (back.length - 256 * KiB) % 4096 === 0, `size ${back.length}`);
    t.true(back.subarray(256 * KiB).every((b) => b === 0x42), 'past them only whole pages of the new bytes, never anything else');
  });
});

test('--delay-read-us raises r_await in aheadfs iostat; the control file reads it back', async (t) => {
  await withMount(t, { size: '128M', mountArgs: ['--delay-read-us', '20000'] }, async (mnt) => {
    t.is(await readControl(mnt, 'delay/read_us'), '20000\n');
    t.is(await readControl(mnt, 'delay/write_us'), '0\n');
    const file = join(mnt, 'r.bin');
    await writeRandomFile(file, 4 * MiB);
    let reading = true;
    const reader = (async () => {
      while (reading) {
        await dropCaches(mnt);
        await sh(`dd if=${file} of=/dev/null bs=128k status=none`);
      }
    })();
    let out: string;
    try {
      const r = await aheadfs(['iostat', mnt, '1', '2']);
      t.is(r.code, 0, r.stderr);
      out = r.stdout;
    } finally {
      reading = false;
      await reader;
    }
    const lines = out.trim().split('\n');
    const head = lines[0]!.trim().split(/\s+/);
    const rows = lines.slice(1).map((l) => l.trim().split(/\s+/));
    const col = (row: string[], name: string): number => Number(row[head.indexOf(name)]);
    const busy = rows.filter((r) => col(r, 'r/s') > 0);
    t.true(busy.length > 0, out);
    // Every read request took >= 20 ms; diskstats floors the summed ms, hence the 1 ms slack.
    for (const r of busy) t.true(col(r, 'r_await') >= 19, `r_await ${col(r, 'r_await')} ms >= the 20 ms delay:\n${out}`);
  });
});

test('bad fault and delay mount options: one line, exit 2, nothing mounted', async (t) => {
  await withMount(t, { size: '64M' }, async (mnt, ctx) => {
    await ctx.umount();
    for (const [opt, value] of [
      ['--fail-probability', '101'],
      ['--fail-times', '-3'],
      ['--fail-ops', 'read,trim'],
      ['--fail-sectors', '9-8'],
      ['--delay-read-us', 'x'],
      ['--delay-write-us', '-1'],
    ] as const) {
      const r = await aheadfs(['mount', ctx.store, mnt, opt, value]);
      t.is(r.code, 2, `${opt} ${value}: ${r.stderr}`);
      t.regex(r.stderr, new RegExp(`^aheadfs: bad ${opt} '${value}': [^\\n]+\\n$`));
    }
    t.is(await findMount(mnt), undefined, 'nothing mounted');
  });
});
