/**
 * In-process micro-benchmark: the engine without FUSE serving cached 4 KiB page reads.
 *
 *   mkfs (temp store) -> openFilesystem -> write a file -> read it once (cold, fills the cache)
 *   -> time N cached 4 KiB vfs.read calls (callback style: they complete synchronously)
 *
 * Reports pages per second. Run: node dist/bench/micro.js [--mib 64] [--reads N]
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mkfs } from '../fs/mkfs.js';
import { PAGE_SIZE } from '../mm/page.js';
import { DEFAULT_MOUNT_OPTIONS, openFilesystem } from '../vfs/index.js';

export interface MicroResult {
  trace: boolean;
  fileBytes: number;
  reads: number;
  seconds: number;
  pagesPerSec: number;
  /**
   * The floor under it: the same number of 4 KiB copies from the same cached pages with no
   * engine code at all (TypedArray.set from the arena). Any read path must copy; on a
   * file larger than the CPU caches this is memory bandwidth.
   */
  copyPagesPerSec: number;
}

export interface MicroOptions {
  /** Temp directory parent (on a real disk). */
  tmpRoot: string;
  fileBytes: number;
  reads: number;
  /** The trace ring (`tunables/trace`, on by default): every read formats a line when on. */
  trace: boolean;
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
    const fs = await openFilesystem(store, { ...DEFAULT_MOUNT_OPTIONS, cacheBytes, log: () => undefined });
    try {
      const { vfs } = fs;
      fs.trace.enabled = opts.trace;
      const caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      const fh = await vfs.create('/micro.bin', 0o644, 2 /* O_RDWR */, caller);
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
      for (let off = 0; off < opts.fileBytes; off += chunk.length) await vfs.write(fh, chunk, Math.min(chunk.length, opts.fileBytes - off), off);
      // Cold pass: fill the cache (writes went through the cache already; this makes sure).
      const big = new Uint8Array(128 << 10);
      for (let off = 0; off < opts.fileBytes; off += big.length) await readOnce(vfs, fh, big, off);

      const buf = new Uint8Array(PAGE_SIZE);
      const pages = opts.fileBytes / PAGE_SIZE;
      let failed = 0;
      let sync = true;
      const done = (err: unknown, n: number): void => {
        if (err || n !== PAGE_SIZE) failed++;
      };
      // Warm-up (JIT), then the timed loop: sequential 4 KiB reads wrapping around the file.
      for (let i = 0; i < Math.min(opts.reads, 200_000); i++) vfs.read(fh, buf, PAGE_SIZE, (i % pages) * PAGE_SIZE, done);
      let completed = 0;
      const count = (err: unknown, n: number): void => {
        completed++;
        done(err, n);
      };
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < opts.reads; i++) vfs.read(fh, buf, PAGE_SIZE, (i % pages) * PAGE_SIZE, count);
      const t1 = process.hrtime.bigint();
      if (completed !== opts.reads) sync = false;
      if (failed > 0) throw new Error(`micro: ${failed} cached reads failed or were short`);
      if (!sync) throw new Error(`micro: only ${completed} of ${opts.reads} cached reads completed synchronously`);
      // The copy floor: the same copies with no lookup, no state, no callback.
      const frames = [...(vfs.files.get(fh)?.mapping.pages.values() ?? [])].sort((a, b) => a.index - b.index).map((p) => p.data);
      if (frames.length !== pages) throw new Error(`micro: ${frames.length} of ${pages} pages cached`);
      const c0 = process.hrtime.bigint();
      for (let i = 0; i < opts.reads; i++) buf.set(frames[i % pages]!, 0);
      const c1 = process.hrtime.bigint();
      await vfs.release(fh);
      const seconds = Number(t1 - t0) / 1e9;
      return { trace: opts.trace, fileBytes: opts.fileBytes, reads: opts.reads, seconds, pagesPerSec: opts.reads / seconds, copyPagesPerSec: opts.reads / (Number(c1 - c0) / 1e9) };
    } finally {
      await fs.vfs.shutdown();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const get = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : dflt;
  };
  for (const trace of [true, false]) {
    const r = await runMicro({ tmpRoot: process.env.AHEADFS_BENCH_TMP ?? '/var/tmp', fileBytes: get('--mib', 64) * (1 << 20), reads: get('--reads', 2_000_000), trace });
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`micro: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
