/**
 * `aheadfs replay` through the real binary: the readahead decisions of a replay equal a
 * real mount's for the same reads (the mount's own trace, `read` lines included, is the
 * replay's input); the JSON and chart outputs; bad input is one line and exit 2.
 */

import test from 'ava';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aheadfs, expectOneLine } from '../helpers/cli.js';
import { clearTrace, control, dropCaches, readControl, waitForIdleDevice } from '../helpers/control.js';
import { writeRandomFile } from '../helpers/files.js';
import { withMount } from '../helpers/mount.js';

const KiB = 1024;
const MiB = 1 << 20;

/** The lines that are readahead decisions, without their time. */
function decisions(trace: string): string[] {
  return trace
    .split('\n')
    .filter((l) => /^(ra |page_cache_)/.test(l))
    .map((l) => l.replace(/ (?:pid=\d+ )?t=\d+$/, ''));
}

/** pread the ranges, in order, through one descriptor per file. */
function preadAll(files: string[], reads: readonly [number, number, number][]): void {
  const fds = files.map((f) => openSync(f, 'r'));
  try {
    const buf = Buffer.alloc(256 * KiB);
    for (const [file, pos, len] of reads) readSync(fds[file]!, buf, 0, len, pos);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-replay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Sequential 4 KiB, then 16 KiB every 64 KiB, then two streams on one descriptor, and a read of 128 KiB. */
function pattern(): [number, number, number][] {
  const reads: [number, number, number][] = [];
  for (let off = 0; off < 512 * KiB; off += 4 * KiB) reads.push([0, off, 4 * KiB]);
  for (let i = 0; i < 24; i++) reads.push([1, i * 64 * KiB, 16 * KiB]);
  for (let i = 0; i < 64; i++) {
    reads.push([2, i * 8 * KiB, 8 * KiB]);
    reads.push([2, MiB + i * 8 * KiB, 8 * KiB]);
  }
  reads.push([0, MiB, 128 * KiB]);
  return reads;
}

for (const [kernel, policy] of [['4.18', 'ondemand'], ['6.18', 'ondemand'], ['6.18', 'stride']] as const) {
  test(`replay makes the readahead decisions a --kernel ${kernel} --ra-policy ${policy} mount made for the same reads`, async (t) => {
    const dir = await tempDir(t);
    const recorded = join(dir, 'mount.trace');
    await withMount(t, { size: '256M', mountArgs: ['--kernel', kernel, '--ra-policy', policy] }, async (mnt) => {
      const files = ['a.bin', 'b.bin', 'c.bin'].map((n) => join(mnt, n));
      // Each file ends where its furthest read ends: replay knows no other size.
      const sizes = [MiB + 128 * KiB, 23 * 64 * KiB + 16 * KiB, MiB + 512 * KiB];
      for (const [i, f] of files.entries()) await writeRandomFile(f, sizes[i]!);
      await waitForIdleDevice(mnt);
      await dropCaches(mnt);
      await control(mnt, 'tunables/trace', '2');
      await clearTrace(mnt);
      preadAll(files, pattern());
      await writeFile(recorded, await readControl(mnt, 'trace'));
    });
    const mountLines = decisions(await readFile(recorded, 'utf8'));
    t.true(mountLines.filter((l) => l.startsWith('ra ')).length >= 10, `the mount made decisions: ${mountLines.length}`);
    if (policy === 'stride') t.true(mountLines.some((l) => / reason=stride$/.test(l)), 'the mount prefetched the strided reads');
    const out = join(dir, 'replay.trace');
    const r = await aheadfs(['replay', recorded, '--kernel', kernel, '--ra-policy', policy, '--trace', out, '--device', 'nbd-2ms']);
    t.is(r.code, 0, r.stderr);
    const replayText = await readFile(out, 'utf8');
    t.deepEqual(decisions(replayText), mountLines);
    // The replayed trace is a mount's trace: read lines, bio and rq lines, simulated time.
    t.regex(replayText, /^read ino=\d+ fh=\d+ pos=0 len=4096 t=0$/m);
    t.regex(replayText, /^rq complete op=read sector=\d+ bytes=\d+ status=ok ms=[\d.]+ t=\d+$/m);
  });
}

test('--json: one object per configuration of the cross product, with its settings', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'seq.iolog');
  const lines = ['fio version 2 iolog', '/d/f add', '/d/f open'];
  for (let i = 0; i < 2048; i++) lines.push(`/d/f read ${i * 4096} 4096`);
  await writeFile(log, lines.join('\n') + '\n');
  const r = await aheadfs(['replay', log, '--kernel', '4.18,6.18', '--ra-policy', 'ondemand,none', '--read-ahead-kb', '128,1024', '--device', 'hdd', '--json', '--chart', join(dir, 'charts')]);
  t.is(r.code, 0, r.stderr);
  const results = JSON.parse(r.stdout) as { settings: { kernel: string; raPolicy: string; readAheadKb: number; device: string }; reads: number; deviceRequests: number; elapsedUs: number }[];
  t.is(results.length, 8);
  t.deepEqual(
    results.map((x) => `${x.settings.kernel} ${x.settings.raPolicy} ${x.settings.readAheadKb} ${x.settings.device}`),
    ['4.18 ondemand 128 hdd', '4.18 ondemand 1024 hdd', '4.18 none 128 hdd', '4.18 none 1024 hdd', '6.18 ondemand 128 hdd', '6.18 ondemand 1024 hdd', '6.18 none 128 hdd', '6.18 none 1024 hdd'],
  );
  for (const x of results) t.is(x.reads, 2048);
  const none = results.find((x) => x.settings.raPolicy === 'none' && x.settings.kernel === '6.18')!;
  const big = results.find((x) => x.settings.raPolicy === 'ondemand' && x.settings.kernel === '6.18' && x.settings.readAheadKb === 1024)!;
  t.is(none.deviceRequests, 2048, 'no readahead: one request per page');
  t.true(big.deviceRequests < 20, `1 MiB windows: ${big.deviceRequests} requests`);
  t.true(big.elapsedUs * 10 < none.elapsedUs, 'readahead saves the seeks on hdd');
  const charts = (await readdir(join(dir, 'charts'))).sort();
  t.deepEqual(charts, ['figures.png', 'figures.svg', 'windows.png', 'windows.svg']);
  t.true((await stat(join(dir, 'charts', 'windows.png'))).size > 1000);
});

test('bad input: one line, exit 2, nothing written', async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, 'good.iolog');
  await writeFile(good, 'fio version 2 iolog\n/d/f read 0 4096\n');
  const bad = join(dir, 'bad.iolog');
  await writeFile(bad, 'fio version 2 iolog\n/d/f read zero 4096\n');
  const out = join(dir, 'out.trace');
  const cases: [string[], RegExp][] = [
    [['replay', join(dir, 'missing')], /no such file/],
    [['replay', bad], /iolog line 2: bad offset "zero"/],
    [['replay', good, '--kernel', '5.4'], /bad --kernel '5.4': expected 4.18, 6.18/],
    [['replay', good, '--ra-policy', 'ondemand,magic'], /bad --ra-policy 'magic'/],
    [['replay', good, '--read-ahead-kb', '128,'], /bad --read-ahead-kb '128,': an empty item/],
    [['replay', good, '--device', 'floppy'], /bad --device 'floppy': expected ssd, nvme, nbd-2ms, hdd or a profile.json/],
    [['replay', good, '--device', join(dir, 'nope.json')], /bad --device/],
    [['replay', good, '--iodepth', '0'], /bad --iodepth '0'/],
    [['replay', good, '--seed', '-1'], /bad --seed '-1'/],
  ];
  for (const [args, re] of cases) {
    const r = await aheadfs([...args, '--trace', out]);
    expectOneLine(t, r, 2, re);
  }
  await t.throwsAsync(stat(out), { code: 'ENOENT' }, 'no trace file was made');
  const profile = join(dir, 'p.json');
  await writeFile(profile, JSON.stringify({ model: 'fixed', latencyUs: 100, bandwidthMBps: -1, parallelism: 4 }));
  expectOneLine(t, await aheadfs(['replay', good, '--device', profile]), 2, /"bandwidthMBps" must be a number/);
});
