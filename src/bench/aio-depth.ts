/**
 * The kioctx figure (issue 17): in-process, one submitter, cold random 4 KiB reads through
 * the kioctx against the block-files device (O_DIRECT), at iodepth 1 and iodepth 16,
 * alternating in one run (1, 16, 1, 16, ...) so that the host's load moves both alike.
 *
 *   mkfs (temp store under /var/tmp) -> openStore -> write a file whose every 4 KiB page
 *   starts with its page number -> close, reopen (nothing cached)
 *   per round, per depth (1, 16, 1, 16, ...):
 *     raw:    `reads` random 4 KiB O_DIRECT preads of the store's block files straight from
 *             Node, `depth` at a time: the floor, what the disk gives this process
 *     engine: drop the store's cache -> snapshot diskstats -> read `reads` distinct random
 *             pages of the file (a fresh seed per run, so that the host's own cache of the
 *             disk cannot serve one run what another read), keeping `depth` iocbs in
 *             flight (io_submit, io_getevents(1, depth), resubmit) -> diskstats again;
 *             every page read is checked
 *
 * Per run: reads/s, and from the diskstats deltas the average requests in flight,
 * time_in_queue / io_ticks (iostat's aqu-sz; time_in_queue counts from a request's
 * creation, plug and scheduler time included), device reads and bytes per read (readahead
 * reads more than asked: `--ra-policy none` reads exactly the pages asked for).
 * Summary: medians over the rounds with min..max, CPU time per read (the whole process),
 * and per target the median of the per-round ratio of iodepth 16 to iodepth 1.
 *
 * The disk under /var/tmp may be a virtual disk whose host caches it (recently written
 * data is read from the host's memory): the raw rows say what the disk gave in the same
 * minutes.
 *
 * Run (after scripts/setup.sh): npm run bench:aio [-- --rounds 5 --reads 4000 --file-mib 1024
 *   --ra-policy ondemand|none --kernel 6.18|4.18 --trace on|off --depths 1,16 --seed N --json]
 * scripts/bench-aio.js sizes the libuv thread pool as bin/aheadfs.js does (72): the
 * device's reads run there, so it bounds the reads the disk sees at once.
 */

import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DISKSTATS, IOCB_CMD_PREAD, openStore, type Iocb, type Store } from '../api/index.js';
import { allocAligned } from '../block/aligned.js';
import { blockFileName } from '../block/device.js';
import { seededRng } from '../block/fault-inject.js';
import { mkfs } from '../fs/mkfs.js';
import type { KernelVersion } from '../mm/pagecache.js';
import { PAGE_SIZE } from '../mm/page.js';

const MiB = 1 << 20;
const BLOCK_FILE_BYTES = 64 * MiB;

export interface AioDepthOptions {
  /** Where the temp store goes (a real disk). */
  tmpRoot: string;
  fileBytes: number;
  /** Random 4 KiB reads per run. */
  reads: number;
  rounds: number;
  depths: number[];
  raPolicy: 'ondemand' | 'none';
  kernel: KernelVersion;
  /** The trace ring (on by default, as at a mount). */
  trace: boolean;
  seed: number;
  /** Progress lines (default: none). */
  say?: (msg: string) => void;
}

/**
 * engine: the kioctx over the store (page cache, readahead, block queue, device);
 * raw: the floor, the same number of random 4 KiB O_DIRECT preads of the store's block
 * files straight from Node (fs.readv on the libuv pool, `depth` at a time): what the disk
 * gives this process at that depth, with no engine at all.
 */
export type AioDepthTarget = 'engine' | 'raw';

export interface AioDepthRun {
  target: AioDepthTarget;
  round: number;
  depth: number;
  seconds: number;
  readsPerSec: number;
  /** time_in_queue / io_ticks over the run (iostat's aqu-sz). */
  avgInFlight: number;
  ioTicksMs: number;
  timeInQueueMs: number;
  /** Device read requests and bytes over the run, per 4 KiB read asked for. */
  deviceReadsPerRead: number;
  deviceBytesPerRead: number;
  /** CPU time of the whole process (main thread and the libuv pool) per read, in us. */
  cpuUsPerRead: number;
  /** Of the reads, those that waited for I/O (aio_queued): 1 when every read was cold. */
  queuedFraction: number;
}

export interface DepthSummary {
  target: AioDepthTarget;
  depth: number;
  readsPerSec: { median: number; min: number; max: number };
  avgInFlight: { median: number; min: number; max: number };
  deviceBytesPerRead: number;
  cpuUsPerRead: number;
}

export interface AioDepthResult {
  options: Omit<AioDepthOptions, 'say' | 'tmpRoot'>;
  directIo: boolean;
  runs: AioDepthRun[];
  summary: DepthSummary[];
  /** Per round and target: readsPerSec at the last depth / at the first; median, min, max. */
  speedup: Record<AioDepthTarget, { median: number; min: number; max: number }>;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** `count` distinct random page numbers below `pages` (a partial Fisher-Yates shuffle). */
function randomPages(pages: number, count: number, seed: number): number[] {
  const rng = seededRng(seed);
  const picked = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng() * (pages - i));
    const vj = picked.get(j) ?? j;
    picked.set(j, picked.get(i) ?? i);
    out.push(vj);
  }
  return out;
}

/** One run: `pages` read at `depth` through one kioctx. Returns seconds. */
async function readAtDepth(store: Store, fd: number, pages: readonly number[], depth: number): Promise<number> {
  const ctx = store.ioSetup(depth);
  try {
    const free: Uint8Array[] = Array.from({ length: depth }, () => new Uint8Array(PAGE_SIZE));
    const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, 4);
    let submitted = 0;
    let completed = 0;
    const t0 = process.hrtime.bigint();
    while (completed < pages.length) {
      const batch: Iocb[] = [];
      while (free.length > 0 && submitted + batch.length < pages.length) {
        const page = pages[submitted + batch.length]!;
        batch.push({ opcode: IOCB_CMD_PREAD, fd, buf: free.pop()!, nbytes: PAGE_SIZE, offset: page * PAGE_SIZE, data: page });
      }
      if (batch.length > 0) {
        const n = store.ioSubmit(ctx, batch);
        if (n !== batch.length) throw new Error(`aio-depth: io_submit took ${n} of ${batch.length}`);
        submitted += n;
      }
      for (const e of await store.ioGetevents(ctx, 1, depth)) {
        if (e.res !== PAGE_SIZE) throw new Error(`aio-depth: read of page ${String(e.data)} returned ${e.res}`);
        if (view(e.obj.buf).getUint32(0, true) !== e.data) throw new Error(`aio-depth: page ${String(e.data)} read the wrong bytes`);
        free.push(e.obj.buf);
        completed++;
      }
    }
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    await store.ioDestroy(ctx);
  }
}

/** The raw floor: random 4 KiB O_DIRECT preads of the block files, `depth` at a time. Returns seconds. */
async function rawAtDepth(fds: readonly number[], fileBytes: number, count: number, depth: number, seed: number): Promise<number> {
  const rng = seededRng(seed);
  const mem = allocAligned(depth * PAGE_SIZE);
  const perFile = fileBytes / PAGE_SIZE;
  let issued = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const issue = (slot: number): void => {
      if (issued >= count) return;
      issued++;
      const block = Math.floor(rng() * perFile * fds.length);
      const fd = fds[Math.floor(block / perFile)]!;
      fs.readv(fd, [mem.subarray(slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE)], (block % perFile) * PAGE_SIZE, (err, n) => {
        if (err || n !== PAGE_SIZE) return reject(err ?? new Error(`aio-depth: raw read returned ${n}`));
        if (++done === count) resolve();
        else issue(slot);
      });
    };
    for (let i = 0; i < depth; i++) issue(i);
  });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function runAioDepth(opts: AioDepthOptions): Promise<AioDepthResult> {
  const say = opts.say ?? (() => undefined);
  const pagesInFile = Math.floor(opts.fileBytes / PAGE_SIZE);
  if (opts.reads * opts.rounds * opts.depths.length > pagesInFile) say(`note: ${opts.reads * opts.rounds * opts.depths.length} reads in all over ${pagesInFile} pages: runs share pages`);
  const tmp = await mkdtemp(join(opts.tmpRoot, 'aheadfs-aio-depth-'));
  const dir = join(tmp, 'store');
  try {
    const storeBytes = Math.ceil((opts.fileBytes + BLOCK_FILE_BYTES) / BLOCK_FILE_BYTES) * BLOCK_FILE_BYTES;
    await mkfs(dir, { sizeBytes: storeBytes, blockFileSize: BLOCK_FILE_BYTES });
    say(`writing a ${opts.fileBytes / MiB} MiB file`);
    await writeDataFile(dir, opts.fileBytes);
    const store = await openStore(dir, { readOnly: true, raPolicy: opts.raPolicy, kernel: opts.kernel, trace: opts.trace });
    // The floor reads the block files that hold the file's data (mkfs lays it out from block 0).
    let fds: number[] = [];
    try {
      const directIo = store.counters().direct_io === 1;
      const f = await store.open('/data');
      const blockFiles = Math.ceil(opts.fileBytes / BLOCK_FILE_BYTES);
      const direct = directIo ? fs.constants.O_DIRECT : 0;
      fds = Array.from({ length: blockFiles }, (_, i) => fs.openSync(join(dir, 'blocks', blockFileName(i)), fs.constants.O_RDONLY | direct));
      const runs: AioDepthRun[] = [];
      let seed = opts.seed;
      for (let round = 1; round <= opts.rounds; round++) {
        for (const depth of opts.depths) {
          const raw = await measureRaw(fds, Math.min(BLOCK_FILE_BYTES, opts.fileBytes), opts.reads, depth, seed++);
          runs.push({ ...raw, round });
          say(`round ${round} raw    iodepth ${depth}: ${Math.round(raw.readsPerSec)} reads/s, ${raw.cpuUsPerRead.toFixed(0)} us CPU per read`);
          const run = await measureEngine(store, f.fd, randomPages(pagesInFile, opts.reads, seed++), depth);
          runs.push({ ...run, round });
          say(
            `round ${round} engine iodepth ${depth}: ${Math.round(run.readsPerSec)} reads/s, ${run.avgInFlight.toFixed(1)} in flight, ` +
              `${(run.deviceBytesPerRead / 1024).toFixed(1)} KiB from disk per read, ${(run.queuedFraction * 100).toFixed(0)}% waited for I/O, ${run.cpuUsPerRead.toFixed(0)} us CPU per read`,
          );
        }
      }
      const { say: _say, tmpRoot: _tmp, ...options } = opts;
      return { options, directIo, runs, summary: summarize(runs, opts.depths), speedup: { engine: speedup(runs, 'engine', opts.depths), raw: speedup(runs, 'raw', opts.depths) } };
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      await store.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The data file: every 4 KiB page starts with its page number (u32 LE). */
async function writeDataFile(dir: string, fileBytes: number): Promise<void> {
  const store = await openStore(dir);
  try {
    const f = await store.open('/data', { write: true, create: true });
    const chunk = new Uint8Array(4 * MiB);
    const dv = new DataView(chunk.buffer);
    for (let off = 0; off < fileBytes; off += chunk.length) {
      const len = Math.min(chunk.length, fileBytes - off);
      for (let p = 0; p < len; p += PAGE_SIZE) dv.setUint32(p, (off + p) / PAGE_SIZE, true);
      await f.write(chunk, off, len);
    }
    await f.close();
  } finally {
    await store.close();
  }
}

type Measured = Omit<AioDepthRun, 'round'>;

async function measureRaw(fds: readonly number[], perFileBytes: number, reads: number, depth: number, seed: number): Promise<Measured> {
  const c0 = process.cpuUsage();
  const seconds = await rawAtDepth(fds, perFileBytes, reads, depth, seed);
  const cpu = process.cpuUsage(c0);
  return {
    target: 'raw',
    depth,
    seconds,
    readsPerSec: reads / seconds,
    avgInFlight: depth,
    ioTicksMs: 0,
    timeInQueueMs: 0,
    deviceReadsPerRead: 1,
    deviceBytesPerRead: PAGE_SIZE,
    cpuUsPerRead: (cpu.user + cpu.system) / reads,
    queuedFraction: 1,
  };
}

async function measureEngine(store: Store, fd: number, pages: readonly number[], depth: number): Promise<Measured> {
  store.dropCaches();
  const q0 = store.counters().aio_queued;
  const d0 = store.diskstats();
  const c0 = process.cpuUsage();
  const seconds = await readAtDepth(store, fd, pages, depth);
  const cpu = process.cpuUsage(c0);
  const d1 = store.diskstats();
  const delta = (i: number): number => d1[i]! - d0[i]!;
  const ioTicksMs = delta(DISKSTATS.ioTicks);
  const timeInQueueMs = delta(DISKSTATS.timeInQueue);
  const reads = pages.length;
  return {
    target: 'engine',
    depth,
    seconds,
    readsPerSec: reads / seconds,
    avgInFlight: ioTicksMs > 0 ? timeInQueueMs / ioTicksMs : 0,
    ioTicksMs,
    timeInQueueMs,
    deviceReadsPerRead: delta(DISKSTATS.readIos) / reads,
    deviceBytesPerRead: (delta(DISKSTATS.readSectors) * 512) / reads,
    cpuUsPerRead: (cpu.user + cpu.system) / reads,
    queuedFraction: (store.counters().aio_queued - q0) / reads,
  };
}

function summarize(runs: readonly AioDepthRun[], depths: readonly number[]): DepthSummary[] {
  return (['engine', 'raw'] as const).flatMap((target) =>
    depths.map((depth): DepthSummary => {
      const mine = runs.filter((r) => r.target === target && r.depth === depth);
      return {
        target,
        depth,
        readsPerSec: spread(mine.map((r) => r.readsPerSec)),
        avgInFlight: spread(mine.map((r) => r.avgInFlight)),
        deviceBytesPerRead: median(mine.map((r) => r.deviceBytesPerRead)),
        cpuUsPerRead: median(mine.map((r) => r.cpuUsPerRead)),
      };
    }),
  );
}

/** Per round, reads/s at the last depth over reads/s at the first. */
function speedup(runs: readonly AioDepthRun[], target: AioDepthTarget, depths: readonly number[]): { median: number; min: number; max: number } {
  const at = (round: number, depth: number): number => runs.find((r) => r.target === target && r.round === round && r.depth === depth)!.readsPerSec;
  const rounds = [...new Set(runs.map((r) => r.round))];
  return spread(rounds.map((round) => at(round, depths[depths.length - 1]!) / at(round, depths[0]!)));
}

export function formatAioDepth(r: AioDepthResult): string {
  const o = r.options;
  const fmt = (s: { median: number; min: number; max: number }, digits: number): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}..${s.max.toFixed(digits)})`;
  const lines = [
    `kioctx: cold random 4 KiB reads, one submitter, ${o.reads} reads per run, ${o.rounds} rounds, ${(o.fileBytes / MiB).toFixed(0)} MiB file, ` +
      `--kernel ${o.kernel} --ra-policy ${o.raPolicy} --trace ${o.trace ? 'on' : 'off'}, block files ${r.directIo ? 'O_DIRECT' : 'BUFFERED (O_DIRECT refused: the host cache serves reads)'}`,
    'target  iodepth  reads/s median (min..max)   in flight median (min..max)   KiB from disk/read  CPU us/read',
  ];
  for (const s of r.summary) {
    const inflight = s.target === 'raw' ? '-' : fmt(s.avgInFlight, 2);
    lines.push(`${s.target.padEnd(6)}  ${String(s.depth).padStart(7)}  ${fmt(s.readsPerSec, 0).padEnd(26)}  ${inflight.padEnd(28)}  ${(s.deviceBytesPerRead / 1024).toFixed(1).padStart(18)}  ${s.cpuUsPerRead.toFixed(0).padStart(11)}`);
  }
  for (const target of ['engine', 'raw'] as const) lines.push(`${target}: iodepth ${o.depths[o.depths.length - 1]} / iodepth ${o.depths[0]} = ${fmt(r.speedup[target], 2)}x (per-round ratios)`);
  return lines.join('\n');
}

/** The command line (scripts/bench-aio.js): one line on stderr and exit 1 on failure. */
export async function aioDepthMain(): Promise<void> {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`aheadfs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = Number(arg(name) ?? dflt);
    if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
    return v;
  };
  const ra = arg('--ra-policy') ?? 'ondemand';
  if (ra !== 'ondemand' && ra !== 'none') throw new Error('--ra-policy must be ondemand or none');
  const kernel = arg('--kernel') ?? '6.18';
  if (kernel !== '6.18' && kernel !== '4.18') throw new Error('--kernel must be 6.18 or 4.18');
  const depths = (arg('--depths') ?? '1,16').split(',').map(Number);
  if (depths.length < 2 || depths.some((d) => !Number.isSafeInteger(d) || d <= 0)) throw new Error('--depths must be two or more positive integers, like 1,16');
  const trace = arg('--trace') ?? 'on';
  if (trace !== 'on' && trace !== 'off') throw new Error('--trace must be on or off');
  const json = args.includes('--json');
  const r = await runAioDepth({
    tmpRoot: process.env.AHEADFS_BENCH_TMP ?? '/var/tmp',
    fileBytes: num('--file-mib', 1024) * MiB,
    reads: num('--reads', 4000),
    rounds: num('--rounds', 5),
    depths,
    raPolicy: ra,
    kernel,
    trace: trace === 'on',
    seed: num('--seed', 1),
    say: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${formatAioDepth(r)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await aioDepthMain();
