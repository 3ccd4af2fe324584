#!/usr/bin/env node
/**
 * npm run demo: the main job on the embedded default store, under both kernels.
 *
 *   mount ./data/store on ./mount (mkfs'd on first use), --kernel 4.18
 *   write a 128 MiB random file            (its sha256 computed while writing)
 *   then for --kernel 4.18 and --kernel 6.18 (a fresh mount each: cold cache):
 *     dd bs=4k count=1024, traced          (the readahead windows, and a chart)
 *     echo 1 > mount/.aheadfs/drop_caches  (cold cache)
 *     aheadfs stats mount -- dd bs=4k | sha256sum   (cold read: readahead at work, measured)
 *     aheadfs stats mount -- cat | sha256sum        (warm read: from the page cache)
 *   print the windows and counters of both side by side, unmount (always, also on failure)
 *
 * Run after scripts/setup.sh has built dist/ (npm run demo does both).
 */

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'aheadfs.js');
const MNT = join(ROOT, 'mount');
const FILE = join(MNT, 'demo.bin');
const SIZE = 128 << 20;
const MiB = 1 << 20;
// Written next to the store so a user can open them after the demo.
const traceFile = (kernel) => join(ROOT, 'data', `demo-trace-${kernel}.txt`);
const KERNELS = ['4.18', '6.18'];
const chartFile = (kernel, ext) => join(ROOT, 'data', `readahead-${kernel}.${ext}`);

const say = (s) => process.stdout.write(s + '\n');

async function aheadfs(...args) {
  try {
    const { stdout } = await run(process.execPath, [BIN, ...args], { cwd: ROOT });
    return stdout.trim();
  } catch (err) {
    throw new Error((err.stderr || err.message).trim());
  }
}

async function isMounted(path) {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === path);
}

/** The 17 fields of .aheadfs/diskstats (/sys/block/<dev>/stat order). */
async function diskstats() {
  return (await readFile(join(MNT, '.aheadfs', 'diskstats'), 'utf8')).trim().split(/\s+/).map(Number);
}

/**
 * `aheadfs stats <mnt> --json -o FILE -- bash -c '<cmd> | sha256sum'`: the command measured
 * as perf stat would; returns its sha256 and the report (deltas, peaks, derived figures).
 * The text report is kept next to the store for the user.
 */
async function measuredSha(cmd, name) {
  const json = join(ROOT, 'data', `demo-stats-${name}.json`);
  const words = ['bash', '-o', 'pipefail', '-c', `${cmd} | sha256sum`];
  const stdout = await aheadfs('stats', MNT, '--json', '-o', json, '--', ...words);
  const report = JSON.parse(await readFile(json, 'utf8'));
  if (report.exit_status !== 0) throw new Error(`${cmd} failed (status ${report.exit_status})`);
  return { hash: stdout.split(' ')[0], d: report.counters, derived: report.derived, peaks: report.peaks, ms: report.elapsed_seconds * 1000 };
}

function fmtBytes(n) {
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** The rows of a measured run: [label, value, note]. */
function rowsOf({ d, derived, peaks, ms }) {
  const reasons = Object.entries(derived.ra_windows_by_reason)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const rows = [
    ['time', ms ? `${(ms / 1000).toFixed(2)} s` : '', ''],
    ['read calls (FUSE)', d.read_calls, d.read_calls ? `avg ${fmtBytes(d.read_bytes / d.read_calls)}` : ''],
    ['bytes returned', fmtBytes(d.read_bytes), ms ? `${((d.read_bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s` : ''],
    ['disk reads', d.disk_read_ios, d.disk_read_ios ? `avg ${fmtBytes(d.disk_read_bytes / d.disk_read_ios)}` : ''],
    ['disk bytes read', fmtBytes(d.disk_read_bytes), ''],
    ['page cache hit / wait / miss', `${d.pgcache_hit} / ${d.pgcache_wait} / ${d.pgcache_miss}`, derived.hit_ratio === null ? 'pages' : `pages, hit ratio ${(derived.hit_ratio * 100).toFixed(1)} %`],
    ['read amplification', derived.read_amplification === null ? '-' : derived.read_amplification.toFixed(3), 'disk bytes / bytes read'],
    ['readahead sync / async', `${d.ra_sync} / ${d.ra_async}`, reasons || 'windows'],
    ['readahead pages', d.ra_pages, `${d.ra_hit ?? 0} read later, ${d.ra_wasted ?? 0} wasted`],
    ['reads that waited', d.page_waits, `at most ${peaks.rq_inflight_max} requests in flight`],
  ];
  return rows;
}

/** One table, a column per kernel: value and note side by side. */
function sideBySide(title, byKernel) {
  say(`\n${title}`);
  say(`  ${''.padEnd(26)} ${KERNELS.map((k) => `--kernel ${k}`.padEnd(44)).join(' ')}`);
  const rows = byKernel.map((r) => rowsOf(r));
  for (let i = 0; i < rows[0].length; i++) {
    const cells = rows.map((r) => `${String(r[i][1]).padStart(12)}  ${String(r[i][2]).padEnd(30)}`);
    say(`  ${rows[0][i][0].padEnd(26)} ${cells.join(' ')}`);
  }
}

/** One kernel: a fresh mount (cold cache), the traced windows, a cold dd and a warm cat. */
async function runKernel(kernel, want) {
  say(await aheadfs('mount', '--kernel', kernel));
  try {
    // The story: a cold dd bs=4k of the first 4 MiB, traced; its readahead windows and a chart.
    await writeFile(join(MNT, '.aheadfs', 'drop_caches'), '1\n');
    await writeFile(join(MNT, '.aheadfs', 'tunables', 'trace'), '2\n'); // the reads too, for the chart
    await writeFile(join(MNT, '.aheadfs', 'trace'), '0\n');
    await run('dd', [`if=${FILE}`, 'of=/dev/null', 'bs=4k', 'count=1024', 'status=none']);
    const traceText = await readFile(join(MNT, '.aheadfs', 'trace'), 'utf8');
    await writeFile(join(MNT, '.aheadfs', 'tunables', 'trace'), '1\n');
    await writeFile(traceFile(kernel), traceText);
    const windows = traceText
      .split('\n')
      .map((l) => /^ra (sync|async) .* index=(\d+) req=\d+ start=(\d+) size=(\d+) async=(\d+) order=(\d+) reason=(\w+)/.exec(l))
      .filter((m) => m !== null);
    for (const ext of ['svg', 'png']) await aheadfs('plot', traceFile(kernel), '-o', chartFile(kernel, ext));

    // Cold read of the whole file with dd bs=4k, then again with cat, each measured by
    // `aheadfs stats -- ...`.
    await writeFile(join(MNT, '.aheadfs', 'drop_caches'), '1\n');
    const d0 = await diskstats();
    const dd = await measuredSha(`dd if=${FILE} bs=4k status=none`, `dd-${kernel}`);
    const d1 = await diskstats();
    const cat = await measuredSha(`cat ${FILE}`, `cat-${kernel}`);
    if (dd.hash !== want || cat.hash !== want) throw new Error(`--kernel ${kernel}: the data read back differs from the data written`);
    const directIo = /^direct_io 1$/m.test(await readFile(join(MNT, '.aheadfs', 'stats'), 'utf8'));
    return { kernel, windows, cold: { ...dd, disk: [d0, d1] }, warm: cat, directIo };
  } finally {
    say(await aheadfs('umount', MNT));
  }
}

async function main() {
  if (await isMounted(MNT)) {
    say(`${MNT} is mounted from an earlier run: unmounting it first`);
    await aheadfs('umount', MNT);
  }
  // 1. write 128 MiB of random data (1 MiB writes -> 128 KiB FUSE writes with direct_io)
  say(await aheadfs('mount'));
  let want;
  try {
    const hash = createHash('sha256');
    const t0 = process.hrtime.bigint();
    const fh = await open(FILE, 'w');
    try {
      for (let done = 0; done < SIZE; done += MiB) {
        const chunk = randomBytes(MiB);
        hash.update(chunk);
        await fh.write(chunk, 0, MiB);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    want = hash.digest('hex');
    const wms = Number(process.hrtime.bigint() - t0) / 1e6;
    say(`wrote ${fmtBytes(SIZE)} to ${FILE} in ${(wms / 1000).toFixed(2)} s, sha256 ${want.slice(0, 16)}...`);
  } finally {
    say(await aheadfs('umount', MNT));
  }

  // 2. the same file, cold, under each kernel
  const results = [];
  for (const kernel of KERNELS) results.push(await runKernel(kernel, want));

  say(`\nreadahead windows of a cold dd bs=4k ({start,size,async} in pages, as the kernel's file_ra_state; order = ra->order):`);
  for (const r of results) {
    say(`  --kernel ${r.kernel}:`);
    for (const m of r.windows.slice(0, 7)) say(`    read of page ${m[2].padStart(3)} -> ${m[1].padEnd(5)} {${m[3]},${m[4]},${m[5]}} order=${m[6]}  ${m[7]}`);
    if (r.windows.length > 7) say(`    ... ${r.windows.length} windows for 4 MiB`);
    say(`    chart: ${chartFile(r.kernel, 'svg')} (and .png)`);
  }
  sideBySide('dd bs=4k after drop_caches (cold)', results.map((r) => r.cold));
  for (const r of results) {
    const [d0, d1] = r.cold.disk;
    const reads = d1[0] - d0[0];
    const kib = (d1[2] - d0[2]) / 2;
    say(`  device, --kernel ${r.kernel}: ${reads} reads, ${d1[1] - d0[1]} merges, avg request ${(kib / Math.max(reads, 1)).toFixed(1)} KiB, ${d1[3] - d0[3]} ms reading`);
  }
  sideBySide('cat afterwards (warm)', results.map((r) => r.warm));
  say(`\n  block files opened with O_DIRECT: ${results.every((r) => r.directIo) ? 'yes' : 'no (buffered fallback, see data/store/aheadfs.log)'}`);
  say(`\nsha256 written ${want}; dd and cat read it back under both kernels: ok`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`demo: ${err.message}\n`);
    if (await isMounted(MNT).catch(() => false)) {
      await run('fusermount', ['-uz', MNT]).catch(() => undefined);
    }
    process.exit(1);
  },
);
