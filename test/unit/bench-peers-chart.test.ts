/**
 * The bench's new parts that need no mount: the bdi of a FUSE mount from mountinfo (bindfs'
 * readahead window is set there), and the nbd-delay chart from a small fixture result.
 */

import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countLayerMarks, renderSvg } from '../../src/plot/chart.js';
import { nbdChartSpec, nbdGroup, parseNbdDelayDoc, renderNbdChartFile } from '../../src/bench/nbd-chart.js';
import { bdiOfMount, diskReadAheadKb, mountBindfs, readReadAheadKb, unmountBindfs } from '../../src/bench/peers.js';
import { findMount } from '../../src/fuse/mounts.js';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { UsageError } from '../../src/errors.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/nbd-delay-small.json', import.meta.url));

const MOUNTINFO = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '45 27 0:41 / /var/tmp/b/mnt-bindfs rw,nosuid,nodev,relatime - fuse /var/tmp/b/plain rw,user_id=0,group_id=0',
  '46 27 0:43 / /var/tmp/with\\040space rw - fuse bindfs rw',
  '47 45 0:44 / /var/tmp/b/mnt-bindfs rw - fuse /other rw',
  '',
].join('\n');

test('bdiOfMount: the major:minor of the mount at a path; the last of stacked mounts; escaped names', (t) => {
  t.is(bdiOfMount(MOUNTINFO, '/'), '254:0');
  t.is(bdiOfMount(MOUNTINFO, '/var/tmp/b/mnt-bindfs'), '0:44', 'stacked: the top mount');
  t.is(bdiOfMount(MOUNTINFO, '/var/tmp/with space'), '0:43');
  t.is(bdiOfMount(MOUNTINFO, '/var/tmp/b'), undefined);
});

const hasBindfs = ((): boolean => {
  try {
    execFileSync('bindfs', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(hasBindfs && process.getuid?.() === 0 ? test : test.skip)('mountBindfs: serves the directory, sets its FUSE bdi window, and unmountBindfs leaves no mount', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-bench-bindfs-'));
  const src = join(dir, 'plain');
  const mnt = join(dir, 'mnt');
  try {
    await mkdir(src);
    await mkdir(mnt);
    await writeFile(join(src, 'f0'), 'peer\n');
    const b = await mountBindfs(src, mnt, 1028);
    t.is((await findMount(mnt))?.fstype.startsWith('fuse'), true);
    t.is(bdiOfMount(await readFile('/proc/self/mountinfo', 'utf8'), mnt), b.bdi as string | undefined);
    t.is(await readReadAheadKb(b.bdi), 1028, 'the window the bench asked for, not the FUSE default');
    t.is(await readFile(join(mnt, 'f0'), 'utf8'), 'peer\n');
    t.true(b.child.pid !== undefined && b.child.exitCode === null, 'bindfs runs as our child (its CPU time is counted)');
    await unmountBindfs(mnt, b.child);
    t.is(await findMount(mnt), undefined);
    t.not(b.child.exitCode ?? b.child.signalCode, null, 'and has exited');
    await unmountBindfs(mnt); // quiet when already gone
  } finally {
    await unmountBindfs(mnt).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

(hasBindfs ? test : test.skip)('mountBindfs: a bindfs that cannot mount is an error and leaves nothing behind', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-bench-bindfs-'));
  try {
    await mkdir(join(dir, 'mnt'));
    await t.throwsAsync(mountBindfs(join(dir, 'missing'), join(dir, 'mnt'), 128), { message: /bindfs/ });
    t.is(await findMount(join(dir, 'mnt')), undefined);
  } finally {
    await unmountBindfs(join(dir, 'mnt')).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

test('diskReadAheadKb: the window of the block device under the bench directory', async (t) => {
  const d = await diskReadAheadKb(process.env.AHEADFS_BENCH_TMP ?? '/var/tmp');
  t.regex(d.bdi, /^\d+:\d+$/);
  t.is(d.kb, await readReadAheadKb(d.bdi));
  t.true(d.kb >= 0);
});

test('diskReadAheadKb: a directory on no block device (tmpfs) is refused with a message that says what to do', async (t) => {
  const err = await t.throwsAsync(diskReadAheadKb('/dev/shm'));
  t.regex(err?.message ?? '', /^\/dev\/shm is not on a block device \(no bdi \d+:\d+\); set AHEADFS_BENCH_TMP to a directory on a disk$/);
});

test('nbdGroup: each case of nbd-delay.ts gets its colour group', (t) => {
  t.is(nbdGroup('delay seq 4k ra off'), 'readahead off');
  t.is(nbdGroup('delay seq 128k ra 128'), 'readahead 128 KiB');
  t.is(nbdGroup('delay rand 4k ra 128'), 'readahead 128 KiB');
  t.is(nbdGroup('delay seq 4k ra 1024'), 'readahead 1024 KiB');
  t.is(nbdGroup('delay seq 128k fio nbd engine qd 2'), "fio's nbd engine");
  t.is(nbdGroup('files seq 128k ra 128'), 'no delay (ra 128 KiB)');
});

test('the nbd-delay chart of a small result is an SVG with one bar and one figure per case', async (t) => {
  const doc = parseNbdDelayDoc(JSON.parse(await readFile(FIXTURE, 'utf8')));
  const svg = await renderSvg(nbdChartSpec(doc));
  t.true(svg.startsWith('<svg'));
  t.true(svg.trimEnd().endsWith('</svg>'));
  t.is(countLayerMarks(svg, 'bars'), doc.results.length);
  t.false(svg.includes('NaN'), 'every bar and label has a place (a log axis from 0 has none)');
  // Each bar's width (the `h` of its path), in the order of the cases: drawn, and growing with MB/s.
  const group = /<g class="mark-rect role-mark bars_marks"[^>]*>(.*?)<\/g>/s.exec(svg)?.[1] ?? '';
  const widths = [...group.matchAll(/d="M[-\d.]+,[-\d.]+h([-\d.]+)/g)].map((m) => Number(m[1]));
  t.is(widths.length, doc.results.length);
  t.true(widths.every((w) => w > 0), `bar widths ${widths.join(' ')}`);
  const byMbps = doc.results.map((r, i) => [r.mbps, widths[i]!] as const).sort((p, q) => p[0] - q[0]);
  t.true(byMbps.every((p, i) => i === 0 || p[1] > byMbps[i - 1]![1]), 'a larger figure is a longer bar');
  // The case names are the axis labels, the figures the text marks.
  for (const r of doc.results) t.true(svg.includes(`>${r.id}</text>`), r.id);
  t.true(svg.includes('>40.5</text>') || svg.includes('>41</text>'));
});

test('--chart: writes the SVG and a PNG next to the result or into --out', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-nbd-chart-'));
  try {
    const json = join(dir, 'r-nbd-delay.json');
    await writeFile(json, await readFile(FIXTURE));
    t.deepEqual(await renderNbdChartFile(json, undefined), [join(dir, 'r-nbd-delay.svg'), join(dir, 'r-nbd-delay.png')]);
    const png = await readFile(join(dir, 'r-nbd-delay.png'));
    t.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const out = join(dir, 'docs');
    await renderNbdChartFile(json, out);
    t.is(countLayerMarks(await readFile(join(out, 'nbd-delay.svg'), 'utf8'), 'bars'), 5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file that is not an nbd-delay result is a usage error, one line', (t) => {
  for (const bad of [{}, { results: [] }, { results: [{ id: 'x' }] }, { results: [{ id: 'x', mbps: -1 }] }, [1]]) {
    const err = t.throws(() => parseNbdDelayDoc(bad), { instanceOf: UsageError });
    t.false(err?.message.includes('\n'));
  }
});
