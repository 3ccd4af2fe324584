/**
 * Readahead scenarios: drive the real page loop (filemapRead) in-process over a fake
 * filesystem, with recorded lists of reads, and compare the exact sequence of windows the
 * trace reports. Every expected window below was derived by hand from the v4.10–v4.18
 * code of ondemand_readahead; the comment beside each says which branch decides it.
 *
 * Notation: `async sequential i=1 r=1 {4,8,8}` is the trace line
 * `ra async ... index=1 req=1 start=4 size=8 async=8 order=0 reason=sequential`.
 */
import test from 'ava';
import { filemapReadAsync } from '../../../src/mm/filemap-read.js';
import type { Folio } from '../../../src/mm/folio.js';
import { PG_uptodate, PG_readahead } from '../../../src/mm/page.js';
import { PageCache, type AddressSpaceOperations } from '../../../src/mm/pagecache.js';
import { fileRaStateInit, type MmFile } from '../../../src/mm/types.js';
import { folioUnlock } from '../../../src/mm/wait.js';
import { Stats } from '../../../src/stats/registry.js';
import { Trace } from '../../../src/stats/trace.js';

const KiB = 1024;
const PAGE = 4096;

interface Env {
  cache: PageCache;
  stats: Stats;
  trace: Trace;
  mapping: ReturnType<PageCache['mapping']>;
  readpages: number[][];
}

function setup(opts: { size: number; raPages?: number; ioPages?: number; congested?: () => boolean }): Env {
  const stats = new Stats();
  const trace = new Trace();
  const bdi = { raPages: opts.raPages ?? 32, ioPages: opts.ioPages ?? 320, readCongested: opts.congested ?? (() => false) };
  const cache = new PageCache({ cacheBytes: 64 << 20, stats, trace, bdi });
  const readpages: number[][] = [];
  const fill = (p: Folio): void => {
    // Content: every byte of page i is (i & 255), so reads can be checked.
    p.data.fill(p.index & 255);
    p.set(PG_uptodate);
    folioUnlock(p);
  };
  const aops: AddressSpaceOperations = {
    readFolio(_m, page) {
      readpages.push([page.index]);
      fill(page);
    },
    readahead(_m, pages) {
      readpages.push(pages.map((p) => p.index));
      for (const p of pages) fill(p);
    },
    async writepages() {},
  };
  const mapping = cache.mapping({ ino: 7, size: opts.size }, aops);
  return { cache, stats, trace, mapping, readpages };
}

function open(env: Env, fh: number): MmFile {
  return { fh, ra: fileRaStateInit(env.cache.bdi.raPages) };
}

async function read(env: Env, file: MmFile, pos: number, len: number): Promise<number> {
  const buf = new Uint8Array(len);
  const n = await filemapReadAsync(env.mapping, file, buf, pos, len);
  // Check the data: byte at file offset o belongs to page o >> 12.
  for (let i = 0; i < n; i += 1024) {
    const want = Math.floor((pos + i) / PAGE) & 255;
    if (buf[i] !== want) throw new Error(`bad data at ${pos + i}: ${buf[i]} != ${want}`);
  }
  return n;
}

const RA_LINE = /^ra (sync|async) ino=(\d+) fh=(\d+) index=(\d+) req=(\d+) start=(\d+) size=(\d+) async=(\d+) order=0 reason=(\w+) t=\d+$/;

/** The `ra` lines of the trace, compactly: `async sequential i=1 r=1 {4,8,8}`. */
function windows(env: Env, fh?: number): string[] {
  const out: string[] = [];
  for (const line of env.trace.read()) {
    if (!line.startsWith('ra ')) continue;
    const m = RA_LINE.exec(line);
    if (!m) throw new Error(`malformed ra line: ${line}`);
    if (fh !== undefined && Number(m[3]) !== fh) continue;
    out.push(`${m[1]} ${m[9]} i=${m[4]} r=${m[5]} {${m[6]},${m[7]},${m[8]}}`);
  }
  return out;
}

async function seqRead(env: Env, file: MmFile, from: number, bs: number, count: number): Promise<void> {
  for (let k = 0; k < count; k++) await read(env, file, from + k * bs, bs);
}

test('seed worked example: 4 KiB sequential reads from 0 ramp {0,4,3} {4,8,8} {12,16,16} {28,32,32} then +32', async (t) => {
  const env = setup({ size: 1 << 20 }); // 256 pages
  const f = open(env, 1);
  await seqRead(env, f, 0, 4 * KiB, 256);
  t.deepEqual(windows(env), [
    'sync initial i=0 r=1 {0,4,3}', // start of file: init(1) = 4, async = 4 - 1
    'async sequential i=1 r=1 {4,8,8}', // marker on page 1 = start + size - async
    'async sequential i=4 r=1 {12,16,16}',
    'async sequential i=12 r=1 {28,32,32}',
    'async sequential i=28 r=1 {60,32,32}',
    'async sequential i=60 r=1 {92,32,32}',
    'async sequential i=92 r=1 {124,32,32}',
    'async sequential i=124 r=1 {156,32,32}',
    'async sequential i=156 r=1 {188,32,32}',
    'async sequential i=188 r=1 {220,32,32}',
    'async sequential i=220 r=1 {252,32,32}', // only pages 252..255 exist; at 252 the next window is past EOF: no I/O, no line
  ]);
  // Every page read once, by readahead; nothing read twice, nothing past EOF.
  const all = env.readpages.flat();
  t.is(all.length, 256);
  t.is(new Set(all).size, 256);
  t.is(env.stats.c.ra_pages, 256);
  t.is(env.stats.c.ra_sync, 1);
  t.is(env.stats.c.ra_async, 10);
});

test('128 KiB sequential reads: initial window merged with its own async window {0,64,32}', async (t) => {
  const env = setup({ size: 1 << 20 });
  const f = open(env, 1);
  await seqRead(env, f, 0, 128 * KiB, 8);
  t.deepEqual(windows(env), [
    // init(32) = 32 = async (size > req fails), offset == start and size == async: merge next(32) = 32
    'sync initial i=0 r=32 {0,64,32}',
    'async sequential i=32 r=32 {64,32,32}',
    'async sequential i=64 r=32 {96,32,32}',
    'async sequential i=96 r=32 {128,32,32}',
    'async sequential i=128 r=32 {160,32,32}',
    'async sequential i=160 r=32 {192,32,32}',
    'async sequential i=192 r=32 {224,32,32}',
  ]);
});

test('larger maximum (read_ahead_kb 512): x4 ramp while below max/16', async (t) => {
  const env = setup({ size: 4 << 20, raPages: 128 });
  const f = open(env, 1);
  await seqRead(env, f, 0, 4 * KiB, 200);
  t.deepEqual(windows(env), [
    'sync initial i=0 r=1 {0,4,3}',
    'async sequential i=1 r=1 {4,16,16}', // 4 < 128/16: x4
    'async sequential i=4 r=1 {20,32,32}', // 16 >= 8: x2
    'async sequential i=20 r=1 {52,64,64}',
    'async sequential i=52 r=1 {116,128,128}',
    'async sequential i=116 r=1 {244,128,128}',
  ]);
});

test('sequential cache miss: a read right after a random one starts an initial window', async (t) => {
  const env = setup({ size: 4 << 20 });
  const f = open(env, 1);
  await read(env, f, 50 * PAGE, PAGE); // fresh file, not page 0, no history: small random read
  t.deepEqual(f.ra, { start: 0, size: 0, asyncSize: 0, raPages: 32, prevPos: 50 * PAGE }, 'random read leaves the window untouched');
  await read(env, f, 51 * PAGE, PAGE); // offset - prev_index == 1
  t.deepEqual(windows(env), ['sync random i=50 r=1 {50,1,0}', 'sync initial i=51 r=1 {51,4,3}']);
  t.is(env.stats.c.ra_random, 1);
});

test('unaligned reads: req counts every page touched, marker hit in the middle of a read', async (t) => {
  const env = setup({ size: 1 << 20 });
  const f = open(env, 1);
  await read(env, f, 2048, 4096); // pages 0..1: req 2, init(2) = 4, async = 2: marker on page 2
  t.is(f.ra.prevPos, PAGE + 2048, 'prev_pos = prev_index << 12 | prev_offset');
  await read(env, f, 6144, 4096); // pages 1..2: marker on page 2, req = last - index = 1
  t.deepEqual(windows(env), ['sync initial i=0 r=2 {0,4,2}', 'async sequential i=2 r=1 {4,8,8}']);
});

test('stride 2: a sync miss at start + size takes the sequential branch and merges {4,24,16}', async (t) => {
  const env = setup({ size: 4 << 20 });
  const f = open(env, 1);
  for (let p = 0; p <= 14; p += 2) await read(env, f, p * PAGE, PAGE);
  t.deepEqual(windows(env), [
    'sync initial i=0 r=1 {0,4,3}',
    // page 4 missing; 4 == start + size: sequential {4,8,8}; offset == start and size == async: merge 16
    'sync sequential i=4 r=1 {4,24,16}',
    'async sequential i=12 r=1 {28,32,32}', // marker at 4 + 24 - 16
  ]);
});

test('stride 8: every read is a small random read after the first', async (t) => {
  const env = setup({ size: 4 << 20 });
  const f = open(env, 1);
  for (let p = 0; p <= 32; p += 8) await read(env, f, p * PAGE, PAGE);
  t.deepEqual(windows(env), [
    'sync initial i=0 r=1 {0,4,3}',
    'sync random i=8 r=1 {8,1,0}',
    'sync random i=16 r=1 {16,1,0}',
    'sync random i=24 r=1 {24,1,0}',
    'sync random i=32 r=1 {32,1,0}',
  ]);
  t.deepEqual([f.ra.start, f.ra.size, f.ra.asyncSize], [0, 4, 3], 'random reads do not touch the state');
});

test('backward reads are random reads: no amplification', async (t) => {
  const env = setup({ size: 4 << 20 });
  const f = open(env, 1);
  for (let p = 100; p > 95; p--) await read(env, f, p * PAGE, PAGE);
  t.deepEqual(windows(env), [
    'sync random i=100 r=1 {100,1,0}',
    'sync random i=99 r=1 {99,1,0}', // offset - prev_index wraps (unsigned): not sequential
    'sync random i=98 r=1 {98,1,0}',
    'sync random i=97 r=1 {97,1,0}',
    'sync random i=96 r=1 {96,1,0}',
  ]);
  t.is(env.stats.c.ra_pages, 5);
});

test('context readahead: a fresh open that continues a cached stream', async (t) => {
  const env = setup({ size: 4 << 20 });
  const a = open(env, 1);
  await read(env, a, 0, 40 * KiB); // req 10: init(10) = 32, async 22: pages 0..31, marker on 10
  const b = open(env, 2);
  await read(env, b, 32 * PAGE, PAGE); // history 32 pages back to page 0: doubled, capped {32,32,1}
  await read(env, b, 33 * PAGE, PAGE); // cached, no marker
  await read(env, b, 63 * PAGE, PAGE); // marker at 32 + 32 - 1: sequential
  t.deepEqual(windows(env), [
    'sync initial i=0 r=10 {0,32,22}',
    'sync context i=32 r=1 {32,32,1}',
    'async sequential i=63 r=1 {64,32,32}',
  ]);
  t.is(env.stats.c.ra_context, 1);
});

test('context readahead without reaching page 0: history is not doubled', async (t) => {
  const env = setup({ size: 4 << 20 });
  const a = open(env, 1);
  await read(env, a, 100 * PAGE, 20 * PAGE); // fresh, req 20 <= 32, no history: random, pages 100..119
  const b = open(env, 2);
  await read(env, b, 120 * PAGE, 2 * PAGE); // history 20 > req 2, 20 < 120: size min(20 + 2, 32) = 22
  t.deepEqual(windows(env), ['sync random i=100 r=20 {100,20,0}', 'sync context i=120 r=2 {120,22,1}']);
});

test('interleaved streams on one descriptor: random, context and marker cases', async (t) => {
  const env = setup({ size: 8 << 20 });
  const f = open(env, 1);
  const A = (p: number): Promise<number> => read(env, f, p * PAGE, PAGE);
  const B = (p: number): Promise<number> => read(env, f, (1000 + p) * PAGE, PAGE);
  for (let k = 0; k < 5; k++) {
    await A(k);
    await B(k);
  }
  t.deepEqual(windows(env), [
    'sync initial i=0 r=1 {0,4,3}', // A0
    'sync random i=1000 r=1 {1000,1,0}', // B0: no state, no history
    'async sequential i=1 r=1 {4,8,8}', // A1: marker, state still A's
    'sync random i=1001 r=1 {1001,1,0}', // B1: history 1 <= req 1
    'sync context i=1002 r=1 {1002,3,1}', // B2: history 2 > 1
    // A4: marker on page 4 but the state is B's: next hole after 4 is 12 (window 4..11)
    'async marker i=4 r=1 {12,18,18}', // size = next(12 - 4 + 1) = 18
    // B4: marker on 1004 (1002 + 3 - 1), state is A's: next hole 1005
    'async marker i=1004 r=1 {1005,4,4}', // size = next(1 + 1) = 4
  ]);
});

test('marker hit with no hole within ra_pages: nothing is read, the marker is cleared', async (t) => {
  const env = setup({ size: 4 << 20 });
  const a = open(env, 1);
  await read(env, a, 0, PAGE); // {0,4,3}: pages 0..3, marker on page 1
  const b = open(env, 2);
  await read(env, b, 4 * PAGE, 128 * KiB); // fresh, req 32, history 4 <= 32: random, pages 4..35
  const c = open(env, 3);
  const before = env.readpages.length;
  await read(env, c, PAGE, PAGE); // page 1 has the marker; next hole after it is beyond 1 + 32
  t.is(env.readpages.length, before, 'no I/O');
  t.is(env.stats.c.ra_marker_bail, 1);
  t.false(env.mapping.pages.get(1)!.has(PG_readahead), 'PG_readahead cleared');
  t.deepEqual(windows(env), ['sync initial i=0 r=1 {0,4,3}', 'sync random i=4 r=32 {4,32,0}']);
});

test('oversize read with a small io_pages: initial window, and the marker inside the same read', async (t) => {
  // read_ahead_kb 64 (16 pages), max_sectors_kb 32 (io_pages 8): a 128 KiB read (32 pages) is oversize
  const env = setup({ size: 4 << 20, raPages: 16, ioPages: 8 });
  const f = open(env, 1);
  await read(env, f, 100 * PAGE, 128 * KiB);
  await read(env, f, 132 * PAGE, 128 * KiB);
  t.deepEqual(windows(env), [
    // init(32, 16) = 16 = async; offset == start, size == async: merge next(16) = 16 -> {100,32,16}
    'sync oversize i=100 r=32 {100,32,16}',
    // the same read reaches the marker on page 116 with 16 pages left to read
    'async sequential i=116 r=16 {132,16,16}',
    'async sequential i=132 r=32 {148,16,16}',
    'async sequential i=148 r=16 {164,16,16}',
  ]);
});

test('a request above ra_pages may read up to io_pages', async (t) => {
  // read_ahead_kb 64 (16 pages), io_pages 320: a 32-page read raises the maximum to 32
  const env = setup({ size: 4 << 20, raPages: 16 });
  const f = open(env, 1);
  await read(env, f, 0, 128 * KiB);
  t.deepEqual(windows(env), ['sync initial i=0 r=32 {0,64,32}']);
});

test('readahead off (ra_pages 0): every miss reads exactly the missing page, no ra lines', async (t) => {
  const env = setup({ size: 1 << 20, raPages: 0 });
  const f = open(env, 1);
  await seqRead(env, f, 0, 4 * KiB, 64);
  t.deepEqual(windows(env), []);
  t.is(env.readpages.length, 64);
  t.true(env.readpages.every((b) => b.length === 1));
  t.is(env.stats.c.ra_pages, 0);
});

test('async readahead is skipped on a congested queue and counted; the marker is gone', async (t) => {
  let congested = false;
  const env = setup({ size: 1 << 20, congested: () => congested });
  const f = open(env, 1);
  await read(env, f, 0, PAGE); // {0,4,3}
  congested = true;
  await read(env, f, PAGE, PAGE); // marker on page 1: skipped
  t.is(env.stats.c.ra_congested, 1);
  t.false(env.mapping.pages.get(1)!.has(PG_readahead));
  congested = false;
  await read(env, f, 2 * PAGE, PAGE);
  await read(env, f, 3 * PAGE, PAGE);
  await read(env, f, 4 * PAGE, PAGE); // page 4 missing, 4 == start + size: sync sequential, merged
  t.deepEqual(windows(env), ['sync initial i=0 r=1 {0,4,3}', 'sync sequential i=4 r=1 {4,24,16}']);
});

test('the window stops at EOF and is trimmed, never reading past the last page', async (t) => {
  const env = setup({ size: 10 * PAGE + 100 }); // pages 0..10
  const f = open(env, 1);
  const n = await read(env, f, 0, 128 * KiB);
  t.is(n, 10 * PAGE + 100);
  t.deepEqual(windows(env), ['sync initial i=0 r=32 {0,64,32}']);
  t.deepEqual(env.readpages.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('ra_hit and ra_wasted: pages read ahead and then read count as hits, dropped ones as waste', async (t) => {
  const env = setup({ size: 1 << 20 });
  const f = open(env, 1);
  await read(env, f, 0, PAGE); // {0,4,3}: page 0 is the demand page, 1..3 read ahead
  await read(env, f, PAGE, PAGE); // hit on 1; {4,8,8} read ahead
  t.is(env.stats.c.ra_hit, 1);
  env.cache.dropCaches();
  t.is(env.stats.c.ra_wasted, 2 + 8, 'pages 2, 3 and 4..11 never read');
});

test('a read at EOF still moves the window, as in the kernel (no I/O, no line)', async (t) => {
  const env = setup({ size: 64 * PAGE });
  const f = open(env, 1);
  await read(env, f, 0, 128 * KiB); // {0,64,32}: the whole file (pages 0..63), marker past EOF
  t.is(await read(env, f, 64 * PAGE, 128 * KiB), 0, 'EOF');
  // page 64 missing: 64 == start + size: sequential {64,32,32}; offset == start and
  // size == async: readit merges next(32) -> {64,64,32}; all past EOF, nothing to read
  t.deepEqual([f.ra.start, f.ra.size, f.ra.asyncSize], [64, 64, 32]);
  t.deepEqual(windows(env), ['sync initial i=0 r=32 {0,64,32}']);
  t.is(env.readpages.flat().length, 64);
});
