/**
 * Access patterns for `aheadfs kernel-diff`: which files exist (name, size) and the reads
 * made on them, in order, by one process with one descriptor per file (pread).
 *
 * A pattern comes from a preset (`--pattern seq4k`) or from a fio iolog v2 file, of which
 * only the lines that matter to buffered reads are used:
 *
 *   fio version 2 iolog
 *   /data/a add            (a file; its size is the end of its furthest read unless given)
 *   /data/a open
 *   /data/a read 0 4096    (offset and length in bytes)
 *   /data/a close
 *
 * `write`, `sync`, `datasync`, `trim` and `wait` lines are bad input here (a read-only
 * oracle); so is any line that is not of the format.
 */

import { UsageError } from '../errors.js';
import { xorshift32 } from '../prng.js';

export interface PatternFile {
  /** A plain file name (no slashes): the test file's name on both sides. */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
}

export interface ReadOp {
  /** Index into `files`. */
  readonly file: number;
  readonly offset: number;
  readonly length: number;
}

export interface Pattern {
  readonly name: string;
  readonly files: readonly PatternFile[];
  readonly ops: readonly ReadOp[];
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Sequential reads of `len` bytes from `start` to `end` (exclusive) of file 0. */
function sequential(start: number, end: number, len: number): ReadOp[] {
  const ops: ReadOp[] = [];
  for (let off = start; off < end; off += len) ops.push({ file: 0, offset: off, length: len });
  return ops;
}

type PresetBuilder = () => Pattern;

/**
 * A seeded mix: one file of a random odd size, one to three streams on one descriptor,
 * reads of 4 KiB to 1 MiB (and unaligned 5000 bytes), occasional jumps and backward steps.
 * The same seed gives the same pattern everywhere.
 */
export function mixedPattern(seed: number): Pattern {
  const next = xorshift32(seed);
  const rnd = (n: number): number => next() % n;
  const size = (rnd(4096) + 1) * 4096 - rnd(4096);
  const streams = Array.from({ length: rnd(3) + 1 }, () => rnd(size));
  const ops: ReadOp[] = [];
  const n = rnd(150) + 20;
  for (let i = 0; i < n; i++) {
    const s = rnd(streams.length);
    const length = [4096, 4096, 8192, 16384, 131072, 5000, 1 << 20][rnd(7)]!;
    if (rnd(10) === 0) streams[s] = rnd(size);
    ops.push({ file: 0, offset: streams[s]!, length });
    streams[s] = rnd(6) === 0 ? Math.max(0, streams[s]! - length) : streams[s]! + length;
    if (streams[s]! >= size) streams[s] = rnd(size);
  }
  return { name: `mixed:${seed}`, files: [{ name: 'f0', size }], ops };
}

const one = (name: string, size: number, ops: ReadOp[]): Pattern => ({ name, files: [{ name: 'f0', size }], ops });

/** The presets, each a pattern the kernel's decisions are checked on. */
export const PRESETS: Record<string, PresetBuilder> = {
  /** 4 KiB sequential reads of a whole 4 MiB file: the ramp-up and the steady state. */
  seq4k: () => one('seq4k', 4 * MiB, sequential(0, 4 * MiB, 4 * KiB)),
  /** 16 KiB sequential reads (4 pages a read). */
  seq16k: () => one('seq16k', 4 * MiB, sequential(0, 4 * MiB, 16 * KiB)),
  /** 128 KiB sequential reads (the size FUSE sends). */
  seq128k: () => one('seq128k', 4 * MiB, sequential(0, 4 * MiB, 128 * KiB)),
  /** 4 KiB sequential reads starting in the middle of the file (not at page 0). */
  mid: () => one('mid', 4 * MiB, sequential(1 * MiB + 12 * KiB, 2 * MiB + 12 * KiB, 4 * KiB)),
  /** 4 KiB reads every 8 KiB: a one-page gap (prev_pos says sequential). */
  stride8k: () => one('stride8k', 4 * MiB, sequential(0, 2 * MiB, 8 * KiB).map((op) => ({ ...op, length: 4 * KiB }))),
  /** 4 KiB reads every 64 KiB: a real stride. */
  stride64k: () => one('stride64k', 4 * MiB, sequential(0, 4 * MiB, 64 * KiB).map((op) => ({ ...op, length: 4 * KiB }))),
  /** 4 KiB reads walking backward from the end of the file. */
  backward: () =>
    one(
      'backward',
      1 * MiB,
      sequential(0, 1 * MiB, 4 * KiB).reverse(),
    ),
  /** Two sequential 4 KiB streams interleaved on one descriptor (0 MiB and 2 MiB). */
  twostreams: () => {
    const ops: ReadOp[] = [];
    for (let i = 0; i < 256; i++) {
      ops.push({ file: 0, offset: i * 4 * KiB, length: 4 * KiB });
      ops.push({ file: 0, offset: 2 * MiB + i * 4 * KiB, length: 4 * KiB });
    }
    return one('twostreams', 4 * MiB, ops);
  },
  /** 1 MiB reads, larger than the window: oversize (io_pages from max_sectors_kb). */
  oversize: () => one('oversize', 8 * MiB, sequential(0, 8 * MiB, 1 * MiB)),
  /** 200 random 4 KiB reads in a 16 MiB file (seeded). */
  random: () => {
    const next = xorshift32(0x5eed);
    const pages = (16 * MiB) / (4 * KiB);
    const ops: ReadOp[] = [];
    for (let i = 0; i < 200; i++) ops.push({ file: 0, offset: (next() % pages) * 4 * KiB, length: 4 * KiB });
    return one('random', 16 * MiB, ops);
  },
  /** 5000-byte sequential reads from byte 100: reads straddle pages. */
  unaligned: () => one('unaligned', 2 * MiB, sequential(100, 2 * MiB - 5000, 5000)),
  /** 4 KiB sequential reads of an odd-sized file, to its end and one read past it. */
  eof: () => one('eof', 300_001, sequential(0, 300_001 + 4 * KiB, 4 * KiB)),
};

export const PRESET_NAMES = Object.keys(PRESETS);

export function presetPattern(name: string): Pattern {
  const mixed = /^mixed:(\d{1,9})$/.exec(name);
  if (mixed && Number(mixed[1]) > 0) return mixedPattern(Number(mixed[1]));
  const build = PRESETS[name];
  if (!build) throw new UsageError(`unknown pattern ${JSON.stringify(name)} (presets: ${PRESET_NAMES.join(', ')}, mixed:SEED)`);
  return build();
}

/** The largest offset + length of any read of a file: its default size in an iolog. */
function furthestRead(ops: readonly ReadOp[], file: number): number {
  let end = 0;
  for (const op of ops) if (op.file === file) end = Math.max(end, op.offset + op.length);
  return end;
}

/**
 * Parse a fio iolog v2 file (see the header). Files are named f0, f1, ... in the order of
 * their first appearance; `fileSize` (bytes) overrides the size of every file.
 */
export function parseIolog(text: string, opts: { name?: string; fileSize?: number } = {}): Pattern {
  const lines = text.split('\n').map((l) => l.trim());
  if (lines[0] !== 'fio version 2 iolog') throw new UsageError('not a fio iolog v2 file (first line must be "fio version 2 iolog")');
  const ids = new Map<string, number>();
  const ops: ReadOp[] = [];
  const fileOf = (path: string): number => {
    let id = ids.get(path);
    if (id === undefined) {
      id = ids.size;
      ids.set(path, id);
    }
    return id;
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const words = line.split(/\s+/);
    const where = `iolog line ${i + 1}`;
    if (words.length < 2) throw new UsageError(`${where}: expected "<file> <action> ...": ${JSON.stringify(line)}`);
    const [path, action] = words as [string, string];
    switch (action) {
      case 'add':
      case 'open':
      case 'close':
        if (words.length !== 2) throw new UsageError(`${where}: "${action}" takes no arguments`);
        fileOf(path);
        break;
      case 'read': {
        if (words.length !== 4) throw new UsageError(`${where}: expected "<file> read <offset> <length>"`);
        const offset = Number(words[2]);
        const length = Number(words[3]);
        if (!Number.isSafeInteger(offset) || offset < 0) throw new UsageError(`${where}: bad offset ${JSON.stringify(words[2])}`);
        if (!Number.isSafeInteger(length) || length <= 0) throw new UsageError(`${where}: bad length ${JSON.stringify(words[3])}`);
        ops.push({ file: fileOf(path), offset, length });
        break;
      }
      case 'write':
      case 'sync':
      case 'datasync':
      case 'trim':
      case 'wait':
        throw new UsageError(`${where}: "${action}" is not supported (kernel-diff replays reads only)`);
      default:
        throw new UsageError(`${where}: unknown action ${JSON.stringify(action)}`);
    }
  }
  if (ops.length === 0) throw new UsageError('the iolog has no read lines');
  const files: PatternFile[] = [...ids.keys()].map((_, id) => ({ name: `f${id}`, size: opts.fileSize ?? furthestRead(ops, id) }));
  return { name: opts.name ?? 'iolog', files, ops };
}
