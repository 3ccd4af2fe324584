#!/usr/bin/env node
/**
 * npm run demo: the main job on the embedded default store, under both kernels.
 *
 *   mount ./data/store on ./mount (mkfs'd on first use), --kernel 4.18
 *   write a 128 MiB random file            (its sha256 computed while writing)
 *   then for --kernel 4.18 and --kernel 6.18 (a fresh mount each: cold cache):
 *     dd bs=4k count=1024, traced          (the readahead windows, and a chart)
 *     echo 1 > mount/.aheadfs/drop_caches  (cold cache)
 *     dd bs=4k | sha256sum                 (cold read: readahead at work)
 *     cat | sha256sum                      (warm read: from the page cache)
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

async function stats() {
  const text = await readFile(join(MNT, '.aheadfs', 'stats'), 'utf8');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k, Number(v)]),
  );
}

const delta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));

async function shaOf(cmd) {
  const t0 = process.hrtime.bigint();
  const { stdout } = await run('bash', ['-o', 'pipefail', '-c', `${cmd} | sha256sum`], { maxBuffer: 1 << 20 });
  return { hash: stdout.split(' ')[0], ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

function fmtBytes(n) {
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** The rows of a counters delta: [label, value, note]. */
function rowsOf(d, ms) {
  const rows = [
    ['time', ms ? `${(ms / 1000).toFixed(2)} s` : '', ''],
    ['read calls (FUSE)', d.read_calls, d.read_calls ? `avg ${fmtBytes(d.read_bytes / d.read_calls)}` : ''],
    ['bytes returned', fmtBytes(d.read_bytes), ms ? `${((d.read_bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s` : ''],
    ['disk reads', d.disk_read_ios, d.disk_read_ios ? `avg ${fmtBytes(d.disk_read_bytes / d.disk_read_ios)}` : ''],
    ['disk bytes read', fmtBytes(d.disk_read_bytes), ''],
    ['page cache hits / misses', `${d.pgcache_hit} / ${d.pgcache_miss}`, 'lookups'],
    ['readahead sync / async', `${d.ra_sync} / ${d.ra_async}`, 'decisions'],
    ['readahead pages', d.ra_pages, `${d.ra_hit ?? 0} read later, ${d.ra_wasted ?? 0} wasted`],
    ['waits on locked folios', d.page_waits, ''],
  ];
  return rows;
}

/** One table, a column per kernel: value and note side by side. */
function sideBySide(title, byKernel) {
  say(`\n${title}`);
  say(`  ${''.padEnd(26)} ${KERNELS.map((k) => `--kernel ${k}`.padEnd(44)).join(' ')}`);
  const rows = byKernel.map(({ d, ms }) => rowsOf(d, ms));
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

    // Cold read of the whole file with dd bs=4k, then again with cat.
    await writeFile(join(MNT, '.aheadfs', 'drop_caches'), '1\n');
    const s0 = await stats();
    const d0 = await diskstats();
    const dd = await shaOf(`dd if=${FILE} bs=4k status=none`);
    const s1 = await stats();
    const d1 = await diskstats();
    const cat = await shaOf(`cat ${FILE}`);
    const s2 = await stats();
    if (dd.hash !== want || cat.hash !== want) throw new Error(`--kernel ${kernel}: the data read back differs from the data written`);
    return { kernel, windows, cold: { d: delta(s0, s1), ms: dd.ms, disk: [d0, d1] }, warm: { d: delta(s1, s2), ms: cat.ms }, directIo: s2.direct_io };
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
