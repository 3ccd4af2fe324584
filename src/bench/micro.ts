/**
 * In-process micro-benchmark: the engine without FUSE serving cached reads.
 *
 *   mkfs (temp store) -> openFilesystem(--kernel K) -> write a file -> drop its cache ->
 *   read it once cold in 128 KiB reads (the kernel's own read loop and readahead fill the
 *   cache: order-0 folios under 4.18, 6.18's large folios under 6.18)
 *   -> time N cached `bs`-byte vfs.read calls (callback style: they complete synchronously)
 *
 * `kernel` picks the read loop timed: 4.18's do_generic_file_read (filemap-read.ts) or
 * 6.18's filemap_read (filemap-read-v6.ts). With `folioOrder` the cache is refilled with
 * folios of that one order (2^order pages each, read by filemapReadFolio) before the
 * timed loop instead, whatever the kernel's readahead would have made.
 *
 * Reports pages per second of wall time and per CPU second of the process (the machine
 * may be shared: wall time counts other processes' turns), the same for a plain copy
 * floor, and the folios timed over. Run:
 *   node dist/bench/micro.js [--mib 64] [--reads N] [--bs 4096] [--kernel 4.18|6.18] [--order N]
 * (without --kernel: both kernels, trace on and off).
 *
 * The bench times each loop in a process of its own (runMicroIsolated): V8 keeps what a
 * function has seen across loops in one process, so a loop timed after others ran through
 * the same functions (the other kernel, the other read size, trace on then off) ran up to
 * 25% slower than alone (1.9-2.1 M against 2.2-2.6 M pages/s for 6.18's 4 KiB loop on
 * 2026-12-01), and which loop lost depended on the order. A mount's daemon runs one kernel.
 */

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkfs } from '../fs/mkfs.js';
import { PAGE_SIZE, PG_uptodate } from '../mm/page.js';
import { filemapAddFolio, filemapReadFolio, mappingSetFolioOrderRange, type AddressSpace, type KernelVersion } from '../mm/pagecache.js';
import { folioWaitLockedAsync } from '../mm/wait.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem } from '../vfs/index.js';

export interface MicroResult {
  /** The process that ran the loop (runMicroIsolated: a child of the caller). */
  pid: number;
  /** Whose read loop was timed. */
  kernel: KernelVersion;
  trace: boolean;
  fileBytes: number;
  reads: number;
  /** Bytes per read. */
  bs: number;
  /** The order forced with `folioOrder`; undefined: the kernel's readahead chose. */
  folioOrder: number | undefined;
  /** Folios per order in the cache while timed. */
  folioOrders: Record<number, number>;
  seconds: number;
  /**
   * CPU time of the process (all threads) for the cold pass: 128 KiB reads through the
   * kernel's read loop and readahead, every page from the device. Trace on against off:
   * the trace's cost on the I/O path.
   */
  coldCpuSeconds: number;
  pagesPerSec: number;
  /**
   * Process CPU time (user + system, process.cpuUsage) of the timed loop, and pages per
   * CPU second: on a shared machine the wall time also counts the other processes'
   * turns; CPU time counts only ours (GC helper threads included).
   */
  cpuSeconds: number;
  pagesPerCpuSec: number;
  /**
   * The floor under it: the same number of 4 KiB copies from the same cached pages with no
   * engine code at all (TypedArray.set from the arena). Any read path must copy; on a
   * file larger than the CPU caches this is memory bandwidth.
   */
  copyPagesPerSec: number;
  /** The copy floor per CPU second (process.cpuUsage), as pagesPerCpuSec. */
  copyPagesPerCpuSec: number;
}

export interface MicroOptions {
  /** Temp directory parent (on a real disk). */
  tmpRoot: string;
  fileBytes: number;
  reads: number;
  /** The trace ring (`tunables/trace`, on by default): every read formats a line when on. */
  trace: boolean;
  /** Bytes per read: a multiple of 4096 dividing fileBytes (default 4096). */
  bs?: number;
  /** Whose read loop (and readahead, for the cold fill): default 6.18, as a mount's. */
  kernel?: KernelVersion;
  /** Cache the file in folios of this order instead of the kernel readahead's own. */
  folioOrder?: number;
}

/** Folios per order of a mapping. */
export function folioOrderCounts(mapping: AddressSpace): Record<number, number> {
  const out: Record<number, number> = {};
  for (const f of mapping.folios()) out[f.order] = (out[f.order] ?? 0) + 1;
  return out;
}

/** Drop the file's cache and read it back in folios of `order`. */
async function refillWithFolios(mapping: AddressSpace, dropCaches: () => void, fileBytes: number, order: number): Promise<void> {
  dropCaches();
  mappingSetFolioOrderRange(mapping, 0, order);
  for (let index = 0; index < fileBytes / PAGE_SIZE; index += 1 << order) {
    const r = filemapAddFolio(mapping, index, order);
    if (r.kind !== 'added') throw new Error(`micro: cannot add an order-${order} folio at ${index}: ${r.kind}`);
    filemapReadFolio(mapping, r.folio);
    await new Promise<void>((resolve) => folioWaitLockedAsync(r.folio, resolve));
    if (!r.folio.has(PG_uptodate)) throw new Error(`micro: reading the folio at ${index} failed`);
  }
}

function readOnce(vfs: { read(fh: number, buf: Uint8Array, len: number, pos: number, done: (err: unknown, n: number) => void): void }, fh: number, buf: Uint8Array, pos: number): Promise<number> {
  return new Promise((res, rej) => vfs.read(fh, buf, buf.length, pos, (err, n) => (err ? rej(err) : res(n))));
}

export async function runMicro(opts: MicroOptions): Promise<MicroResult> {
  const tmp = await mkdtemp(join(opts.tmpRoot, 'aheadfs-micro-'));
  const store = join(tmp, 'store');
  try {
    const storeBytes = Math.max(256 << 20, Math.ceil((opts.fileBytes * 2) / (64 << 20)) * (64 << 20));
    await mkfs(store, { sizeBytes: storeBytes, blockFileSize: 64 << 20 });
    const cacheBytes = Math.max(DEFAULT_MOUNT_OPTIONS.cacheBytes, opts.fileBytes + (32 << 20));
    const kernel = opts.kernel ?? '6.18';
    const fs = await openFilesystem(store, { ...DEFAULT_MOUNT_OPTIONS, cacheBytes, kernel, log: () => undefined });
    try {
      const { vfs } = fs;
      fs.trace.enabled = opts.trace;
      const caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      const fh = await vfs.create('/micro.bin', 0o644, 2 /* O_RDWR */, caller);
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
      for (let off = 0; off < opts.fileBytes; off += chunk.length) await vfs.write(fh, chunk, Math.min(chunk.length, opts.fileBytes - off), off);
      const mapping = vfs.files.get(fh)!.mapping;
      // Cold pass: the written pages dropped, the file read back by the kernel's own read
      // loop and readahead, so the cache holds the folios a mount of that kernel makes.
      // (Written back first: drop_caches leaves dirty pages, as the kernel's does.)
      await vfs.syncfs();
      fs.cache.dropCaches();
      const big = new Uint8Array(128 << 10);
      const cpu0 = process.cpuUsage();
      for (let off = 0; off < opts.fileBytes; off += big.length) await readOnce(vfs, fh, big, off);
      const cpu = process.cpuUsage(cpu0);
      const coldCpuSeconds = (cpu.user + cpu.system) / 1e6;
      const folioOrder = opts.folioOrder;
      if (folioOrder !== undefined) await refillWithFolios(mapping, () => fs.cache.dropCaches(), opts.fileBytes, folioOrder);
      const folioOrders = folioOrderCounts(mapping);

      const bs = opts.bs ?? PAGE_SIZE;
      if (bs <= 0 || bs % PAGE_SIZE !== 0 || opts.fileBytes % bs !== 0) throw new Error(`micro: bs ${bs} must be a multiple of ${PAGE_SIZE} dividing the file size`);
      const buf = new Uint8Array(bs);
      const pages = opts.fileBytes / bs; // reads per pass over the file
      let failed = 0;
      let sync = true;
      const done = (err: unknown, n: number): void => {
        if (err || n !== bs) failed++;
      };
      // Warm-up (JIT), then the timed loop: sequential 4 KiB reads wrapping around the file.
      for (let i = 0; i < Math.min(opts.reads, 200_000); i++) vfs.read(fh, buf, bs, (i % pages) * bs, done);
      let completed = 0;
      const count = (err: unknown, n: number): void => {
        completed++;
        done(err, n);
      };
      const u0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < opts.reads; i++) vfs.read(fh, buf, bs, (i % pages) * bs, count);
      const t1 = process.hrtime.bigint();
      const u1 = process.cpuUsage(u0);
      if (completed !== opts.reads) sync = false;
      if (failed > 0) throw new Error(`micro: ${failed} cached reads failed or were short`);
      if (!sync) throw new Error(`micro: only ${completed} of ${opts.reads} cached reads completed synchronously`);
      // The copy floor: the same copies with no lookup, no state, no callback (one copy
      // per folio when a read covers a folio exactly, else one per page).
      const folios = [...mapping.folios()].sort((a, b) => a.index - b.index);
      if (mapping.nrPages !== opts.fileBytes / PAGE_SIZE) throw new Error(`micro: ${mapping.nrPages} of ${opts.fileBytes / PAGE_SIZE} pages cached`);
      const chunks: Uint8Array[][] = [];
      if (folios.length === pages) for (const f of folios) chunks.push([f.data]);
      else {
        const views = folios.flatMap((f) => Array.from({ length: f.nrPages }, (_, i) => f.data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)));
        for (let r = 0; r < pages; r++) chunks.push(views.slice((r * bs) / PAGE_SIZE, ((r + 1) * bs) / PAGE_SIZE));
      }
      const cu0 = process.cpuUsage();
      const c0 = process.hrtime.bigint();
      for (let i = 0; i < opts.reads; i++) {
        const c = chunks[i % pages]!;
        for (let k = 0; k < c.length; k++) buf.set(c[k]!, k * PAGE_SIZE);
      }
      const c1 = process.hrtime.bigint();
      const cu1 = process.cpuUsage(cu0);
      await vfs.release(fh);
      const seconds = Number(t1 - t0) / 1e9;
      const pagesPerRead = bs / PAGE_SIZE;
      const cpuSeconds = (u1.user + u1.system) / 1e6;
      return {
        pid: process.pid,
        kernel,
        trace: opts.trace,
        fileBytes: opts.fileBytes,
        reads: opts.reads,
        bs,
        folioOrder,
        folioOrders,
        seconds,
        coldCpuSeconds,
        pagesPerSec: (opts.reads * pagesPerRead) / seconds,
        cpuSeconds,
        pagesPerCpuSec: (opts.reads * pagesPerRead) / cpuSeconds,
        copyPagesPerSec: (opts.reads * pagesPerRead) / (Number(c1 - c0) / 1e9),
        copyPagesPerCpuSec: (opts.reads * pagesPerRead) / ((cu1.user + cu1.system) / 1e6),
      };
    } finally {
      await fs.vfs.shutdown();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** This file, compiled (dist/bench/micro.js) or run by tsx (src/bench/micro.ts). */
const MICRO_SCRIPT = fileURLToPath(import.meta.url);

/**
 * runMicro in a fresh Node process (this file with `--one OPTIONS_JSON`), so that the loop
 * is timed with no other loop's JIT feedback in it; the child inherits the exec arguments
 * (tsx's loader under the tests).
 */
export function runMicroIsolated(opts: MicroOptions): Promise<MicroResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, MICRO_SCRIPT, '--one', JSON.stringify(opts)], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`micro child: ${stderr.trim().split('\n')[0] || err.message}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as MicroResult);
      } catch {
        reject(new Error(`micro child printed no result: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--one') {
    process.stdout.write(`${JSON.stringify(await runMicro(JSON.parse(args[1] ?? '') as MicroOptions))}\n`);
    return;
  }
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const get = (name: string, dflt: number): number => Number(arg(name) ?? dflt);
  const k = arg('--kernel');
  const kernels: KernelVersion[] = k === undefined ? ['4.18', '6.18'] : k === '4.18' || k === '6.18' ? [k] : [];
  if (kernels.length === 0) throw new Error(`--kernel must be 4.18 or 6.18 (got ${JSON.stringify(k)})`);
  const order = arg('--order');
  // Alternating kernels, so the host's load moves both alike.
  for (const trace of [true, false]) {
    for (const kernel of kernels) {
      const r = await runMicro({
        tmpRoot: process.env.AHEADFS_BENCH_TMP ?? '/var/tmp',
        fileBytes: get('--mib', 64) * (1 << 20),
        reads: get('--reads', 2_000_000),
        trace,
        kernel,
        bs: get('--bs', PAGE_SIZE),
        ...(order !== undefined ? { folioOrder: Number(order) } : {}),
      });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`micro: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
