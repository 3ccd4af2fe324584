/**
 * fsx: a file exerciser at the mount level, in the spirit of xfstests' fsx (ltp/fsx.c).
 *
 * A few files in a real mount get random reads and read streams, writes, O_APPEND writes,
 * truncates (grow and shrink), fsyncs, close/reopens (also O_TRUNC), a move to a new hard
 * link, `drop_caches`, and reads racing a write or truncate elsewhere in the file (the
 * `Op` union below says each); an in-memory model (one byte array per file)
 * gets the same operations, and after EVERY step the touched file (all files after a
 * drop_caches) is read back in full through a second descriptor and compared byte for
 * byte with the model, and its size with fstat (after a `readseq`, a stream of reads
 * each compared on its own, only the size: the next operation races with the readahead
 * the stream left in flight, and the full compare follows that one).
 *
 *   fast-check (fc.commands, seeded)          regression tests (a literal Op[])
 *        |  each command resolves its offsets            |
 *        v  against the model's size -> an Op            v
 *   applyOp(state, op): real file + model, then checkFile(...) -> throws FsxMismatch
 *
 * An `Op` is fully resolved (absolute offsets and lengths, the seed of the written bytes),
 * so a failure's operation log is a JSON list that replays as a regression test:
 * `runOps(mnt, ops)`. fast-check prints the seed and path of a failing run and shrinks it;
 * `FSX_SEED=<seed> FSX_PATH=<path>` replays exactly that run (see test/e2e/fsx.test.ts).
 */

import { link, mkdir, open, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';

export const PAGE = 4096;
/** Largest file offset an operation reaches (a little over 1 MiB: several 128 KiB FUSE requests, 272 pages). */
export const MAX_FILE = (1 << 20) + 64 * 1024;
/** Largest single read or write (two FUSE requests of 128 KiB plus a partial one). */
export const MAX_LEN = 300 * 1024;
export const NR_FILES = 3;

/** One fully resolved operation: what happened, replayable as is. */
export type Op =
  | { op: 'write'; file: number; off: number; len: number; seed: number }
  | { op: 'read'; file: number; off: number; len: number }
  /** `count` consecutive reads of `len` from `off` on one descriptor: a stream readahead follows, leaving async readahead in flight for the next op. */
  | { op: 'readseq'; file: number; off: number; len: number; count: number }
  | { op: 'truncate'; file: number; size: number }
  /**
   * Reads below byte `cut` (on both descriptors) at the same time as one write or truncate
   * at or above it: the reads must see the bytes from before, whatever the order the
   * daemon serves them in (they may share a page with the write).
   */
  | { op: 'parallel'; file: number; cut: number; reads: { off: number; len: number }[]; write?: { off: number; len: number; seed: number }; truncate?: number }
  | { op: 'fsync'; file: number }
  /** Close the operation descriptor and open the file again, with O_TRUNC when `trunc`. */
  | { op: 'reopen'; file: number; trunc?: boolean }
  /** A write through a fresh O_APPEND descriptor: lands at the end of the file, whatever the offset. */
  | { op: 'append'; file: number; len: number; seed: number }
  /** link(2) the file to a new name, then unlink the old one while both descriptors stay open. */
  | { op: 'relink'; file: number }
  | { op: 'drop_caches' };

export function formatOp(o: Op): string {
  return JSON.stringify(o);
}

/** The bytes a write of `len` bytes with `seed` puts down (xorshift32: no two writes alike, no zero runs). */
export function pattern(seed: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = (seed | 0) === 0 ? 0x9e3779b9 : seed | 0;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** The model: the contents of each file. Invariant: `data[i].length >= size[i]`, bytes past size[i] are 0. */
export class FsxModel {
  readonly data: Uint8Array[] = [];
  readonly size: number[] = [];
  constructor(nrFiles: number) {
    for (let i = 0; i < nrFiles; i++) {
      this.data.push(new Uint8Array(MAX_FILE + MAX_LEN));
      this.size.push(0);
    }
  }
  write(file: number, off: number, bytes: Uint8Array): void {
    this.data[file]!.set(bytes, off);
    this.size[file] = Math.max(this.size[file]!, off + bytes.length);
  }
  truncate(file: number, size: number): void {
    const d = this.data[file]!;
    if (size < this.size[file]!) d.fill(0, size, this.size[file]);
    this.size[file] = size;
  }
  /** What pread(off, len) must return. */
  read(file: number, off: number, len: number): Uint8Array {
    const end = Math.min(this.size[file]!, off + len);
    return end <= off ? new Uint8Array(0) : this.data[file]!.subarray(off, end);
  }
}

/** The real side: per file an operation descriptor and a checker descriptor (both O_RDWR / O_RDONLY). */
export interface FsxReal {
  mnt: string;
  paths: string[];
  fds: FileHandle[];
  checkers: FileHandle[];
  /** Every operation applied in this run, in order. */
  log: Op[];
}

export class FsxMismatch extends Error {}

function describeLog(log: Op[]): string {
  const shown = log.slice(-300);
  const skipped = log.length - shown.length;
  return `${skipped > 0 ? `  (${skipped} earlier ops not shown)\n` : ''}${shown.map((o, i) => `  ${String(i + skipped + 1).padStart(4)} ${formatOp(o)}`).join(',\n')}`;
}

function fail(real: FsxReal, what: string): never {
  throw new FsxMismatch(`fsx: ${what}\noperation log (${real.log.length} ops, replay with runOps):\n[\n${describeLog(real.log)}\n]`);
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function describeDifference(got: Uint8Array, want: Uint8Array, base: number): string {
  const at = firstDifference(got, want);
  let last = at;
  for (let i = at; i < Math.min(got.length, want.length); i++) if (got[i] !== want[i]) last = i;
  const hex = (u: Uint8Array, i: number): string => Buffer.from(u.subarray(i, i + 16)).toString('hex');
  return `first difference at offset ${base + at} (page ${Math.floor((base + at) / PAGE)}), last at ${base + last}; got ${hex(got, at)} want ${hex(want, at)}`;
}

/** Read the whole file through its checker descriptor and compare size and bytes with the model. */
export async function checkFile(real: FsxReal, model: FsxModel, file: number): Promise<void> {
  const fh = real.checkers[file]!;
  const st = await fh.stat();
  const want = model.size[file]!;
  if (st.size !== want) fail(real, `file ${file}: fstat size ${st.size}, model ${want}`);
  const buf = Buffer.alloc(want + PAGE);
  let got = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, got, Math.min(128 * 1024, buf.length - got), got);
    if (bytesRead === 0) break;
    got += bytesRead;
    if (got === buf.length) break;
  }
  if (got !== want) fail(real, `file ${file}: read back ${got} bytes, model size ${want}`);
  const wantBytes = model.data[file]!.subarray(0, want);
  if (!buf.subarray(0, got).equals(wantBytes)) fail(real, `file ${file} differs from the model: ${describeDifference(buf.subarray(0, got), wantBytes, 0)}`);
}

/** Apply one operation to the real files and the model, then compare. */
export async function applyOp(real: FsxReal, model: FsxModel, o: Op): Promise<void> {
  real.log.push(o);
  const where = (): string => `op ${real.log.length} ${formatOp(o)}`;
  try {
    switch (o.op) {
      case 'write': {
        const bytes = pattern(o.seed, o.len);
        const { bytesWritten } = await real.fds[o.file]!.write(bytes, 0, o.len, o.off);
        if (bytesWritten !== o.len) fail(real, `${where()}: short write of ${bytesWritten} bytes`);
        model.write(o.file, o.off, bytes);
        break;
      }
      case 'read':
      case 'readseq': {
        const buf = Buffer.alloc(o.len);
        for (let i = 0; i < (o.op === 'readseq' ? o.count : 1); i++) {
          const off = o.off + i * o.len;
          // One pread each; a short count is only allowed at EOF (checked against the model).
          const got = (await real.fds[o.file]!.read(buf, 0, o.len, off)).bytesRead;
          const want = model.read(o.file, off, o.len);
          const which = o.op === 'readseq' ? ` read ${i + 1} at ${off}` : '';
          if (got !== want.length) fail(real, `${where()}${which}: pread returned ${got} bytes, model ${want.length}`);
          if (!buf.subarray(0, got).equals(want)) fail(real, `${where()}${which}: pread data differs: ${describeDifference(buf.subarray(0, got), want, off)}`);
        }
        break;
      }
      case 'parallel': {
        const want = o.reads.map((r) => Buffer.from(model.read(o.file, r.off, r.len)));
        const bytes = o.write ? pattern(o.write.seed, o.write.len) : undefined;
        const mutation = o.write
          ? real.fds[o.file]!.write(bytes!, 0, o.write.len, o.write.off).then(({ bytesWritten }) => {
              if (bytesWritten !== o.write!.len) fail(real, `${where()}: short write of ${bytesWritten} bytes`);
            })
          : o.truncate !== undefined
            ? real.fds[o.file]!.truncate(o.truncate)
            : Promise.resolve();
        const reads = o.reads.map(async (r, i) => {
          const buf = Buffer.alloc(r.len);
          const fh = i % 2 === 0 ? real.fds[o.file]! : real.checkers[o.file]!;
          const got = (await fh.read(buf, 0, r.len, r.off)).bytesRead;
          if (got !== want[i]!.length) fail(real, `${where()} read ${i + 1}: pread returned ${got} bytes, model ${want[i]!.length}`);
          if (!buf.subarray(0, got).equals(want[i]!)) fail(real, `${where()} read ${i + 1}: pread data differs: ${describeDifference(buf.subarray(0, got), want[i]!, r.off)}`);
        });
        const results = await Promise.allSettled([mutation, ...reads]);
        const bad = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
        if (bad) throw bad.reason;
        if (o.write) model.write(o.file, o.write.off, bytes!);
        else if (o.truncate !== undefined) model.truncate(o.file, o.truncate);
        break;
      }
      case 'truncate':
        await real.fds[o.file]!.truncate(o.size);
        model.truncate(o.file, o.size);
        break;
      case 'fsync':
        await real.fds[o.file]!.sync();
        break;
      case 'reopen':
        await real.fds[o.file]!.close();
        real.fds[o.file] = await open(real.paths[o.file]!, o.trunc ? 'w+' : 'r+');
        if (o.trunc) model.truncate(o.file, 0);
        break;
      case 'append': {
        const bytes = pattern(o.seed, o.len);
        const fh = await open(real.paths[o.file]!, 'a');
        try {
          const { bytesWritten } = await fh.write(bytes, 0, o.len);
          if (bytesWritten !== o.len) fail(real, `${where()}: short write of ${bytesWritten} bytes`);
        } finally {
          await fh.close();
        }
        model.write(o.file, model.size[o.file]!, bytes);
        break;
      }
      case 'relink': {
        const to = `${real.paths[o.file]!.replace(/\.\d+$/, '')}.${real.log.length}`;
        await link(real.paths[o.file]!, to);
        await unlink(real.paths[o.file]!);
        real.paths[o.file] = to;
        break;
      }
      case 'drop_caches':
        await writeFile(join(real.mnt, '.aheadfs', 'drop_caches'), '1');
        break;
    }
  } catch (err) {
    if (err instanceof FsxMismatch) throw err;
    fail(real, `${where()} failed: ${(err as Error).message}`);
  }
  if (o.op === 'drop_caches') {
    for (let f = 0; f < model.size.length; f++) await checkFile(real, model, f);
  } else if (o.op === 'readseq') {
    // Its reads were compared one by one. Reading the whole file now would wait for the
    // async readahead the stream left in flight; the next operation is meant to race with
    // it (and the file is compared in full after that one).
    const st = await real.checkers[o.file]!.stat();
    if (st.size !== model.size[o.file]) fail(real, `file ${o.file}: fstat size ${st.size}, model ${model.size[o.file]}`);
  } else {
    await checkFile(real, model, o.file);
  }
}

let runCounter = 0;

/** Fresh files (empty, in a new directory of the mount) for one run. */
export async function setupRun(mnt: string, nrFiles = NR_FILES): Promise<{ model: FsxModel; real: FsxReal }> {
  const dir = join(mnt, `fsx-${process.pid}-${++runCounter}`);
  await mkdir(dir);
  const real: FsxReal = { mnt, paths: [], fds: [], checkers: [], log: [] };
  for (let i = 0; i < nrFiles; i++) {
    const p = join(dir, `f${i}`);
    real.paths.push(p);
    real.fds.push(await open(p, 'w+'));
    real.checkers.push(await open(p, 'r'));
  }
  return { model: new FsxModel(nrFiles), real };
}

/** Close every descriptor and remove the run's files. */
export async function teardownRun(real: FsxReal): Promise<void> {
  for (const fh of [...real.fds, ...real.checkers]) await fh.close().catch(() => undefined);
  const dir = real.paths[0] ? join(real.paths[0], '..') : undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Replay a literal operation list (a regression test) on fresh files. */
export async function runOps(mnt: string, ops: Op[], nrFiles = NR_FILES): Promise<void> {
  const { model, real } = await setupRun(mnt, nrFiles);
  try {
    for (const o of ops) await applyOp(real, model, o);
  } finally {
    await teardownRun(real);
  }
}

// ---------------------------------------------------------------------------------------
// fast-check commands. Offsets are generated relative to something (the start, the model's
// EOF) and resolved against the model when the command runs, as fsx picks offsets from the
// current file size; the resolved Op is what the log shows.

/** Where an offset lands: absolute, or relative to the file's current size; optionally page aligned. */
interface Pos {
  anchor: 'abs' | 'eof';
  value: number;
  align: boolean;
}

const posArb: fc.Arbitrary<Pos> = fc.oneof(
  fc.record({ anchor: fc.constant<'abs'>('abs'), value: fc.integer({ min: 0, max: MAX_FILE }), align: fc.boolean() }),
  fc.record({ anchor: fc.constant<'eof'>('eof'), value: fc.integer({ min: -3 * PAGE, max: 2 * PAGE }), align: fc.boolean() }),
);
const lenArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2 * PAGE }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 40 * 1024 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: MAX_LEN }) },
);
const fileArb = fc.integer({ min: 0, max: NR_FILES - 1 });

function resolvePos(p: Pos, size: number, limit: number): number {
  let v = p.anchor === 'abs' ? p.value : size + p.value;
  if (p.align) v -= v % PAGE;
  return Math.max(0, Math.min(limit, v));
}

type Cmd = fc.AsyncCommand<FsxModel, FsxReal>;

/** A command that resolves itself against the model into an Op and applies it. */
class OpCommand implements Cmd {
  private resolved: Op | undefined;
  constructor(private readonly make: (m: FsxModel) => Op, private readonly label: string) {}
  check(): boolean {
    return true;
  }
  async run(m: FsxModel, r: FsxReal): Promise<void> {
    this.resolved = this.make(m);
    await applyOp(r, m, this.resolved);
  }
  toString(): string {
    return this.resolved ? formatOp(this.resolved) : this.label;
  }
}

export const fsxCommandArbs: fc.Arbitrary<Cmd>[] = [
  fc
    .oneof(
      { weight: 6, arbitrary: fc.tuple(fileArb, posArb, lenArb, fc.integer()).map(([file, pos, len, seed]) => new OpCommand((m) => ({ op: 'write', file, off: resolvePos(pos, m.size[file]!, MAX_FILE), len, seed }), `write(${file})`)) },
      { weight: 5, arbitrary: fc.tuple(fileArb, posArb, lenArb).map(([file, pos, len]) => new OpCommand((m) => ({ op: 'read', file, off: resolvePos(pos, m.size[file]!, MAX_FILE + PAGE), len }), `read(${file})`)) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fileArb, posArb, fc.constantFrom(4096, 16384, 32768, 131072), fc.integer({ min: 2, max: 16 }))
          .map(([file, pos, len, count]) => new OpCommand((m) => ({ op: 'readseq', file, off: resolvePos({ ...pos, align: true }, m.size[file]!, MAX_FILE), len, count }), `readseq(${file})`)),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fileArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), lenArb), { minLength: 1, maxLength: 4 }), fc.boolean(), posArb, lenArb, fc.integer())
          .map(
            ([file, cutFrac, readSpecs, isWrite, pos, len, seed]) =>
              new OpCommand((m) => {
                const size = m.size[file]!;
                const cut = Math.floor(cutFrac * size);
                // Reads inside [0, cut); the write or the new size at or above cut.
                const reads = readSpecs.map(([f, l]) => {
                  const off = Math.min(Math.floor(f * cut), Math.max(0, cut - 1));
                  return { off, len: Math.max(0, Math.min(l, cut - off)) };
                }).filter((r) => r.len > 0);
                const at = Math.max(cut, resolvePos(pos, size, MAX_FILE));
                return isWrite ? { op: 'parallel', file, cut, reads, write: { off: at, len, seed } } : { op: 'parallel', file, cut, reads, truncate: at };
              }, `parallel(${file})`),
          ),
      },
      { weight: 2, arbitrary: fc.tuple(fileArb, posArb).map(([file, pos]) => new OpCommand((m) => ({ op: 'truncate', file, size: resolvePos(pos, m.size[file]!, MAX_FILE) }), `truncate(${file})`)) },
      { weight: 1, arbitrary: fileArb.map((file) => new OpCommand(() => ({ op: 'fsync', file }), `fsync(${file})`)) },
      { weight: 1, arbitrary: fc.tuple(fileArb, fc.nat(3).map((n) => n === 0)).map(([file, t]) => new OpCommand((): Op => (t ? { op: 'reopen', file, trunc: true } : { op: 'reopen', file }), `reopen(${file})`)) },
      { weight: 1, arbitrary: fileArb.map((file) => new OpCommand(() => ({ op: 'relink', file }), `relink(${file})`)) },
      { weight: 1, arbitrary: fc.tuple(fileArb, lenArb, fc.integer()).map(([file, len, seed]) => new OpCommand((m) => ({ op: 'append', file, len: Math.min(len, MAX_FILE + MAX_LEN - m.size[file]!), seed }), `append(${file})`)) },
      { weight: 1, arbitrary: fc.constant(null).map(() => new OpCommand(() => ({ op: 'drop_caches' }), 'drop_caches')) },
    ),
];

export interface FsxRunOpts {
  seed: number;
  /** fast-check's replay path of a failing run (prints as `path` in the failure). */
  path?: string;
  /** fc.commands' own replay hint (prints as `replayPath="..."` after the counterexample). */
  replayPath?: string;
  numRuns: number;
  maxCommands: number;
}

/**
 * Run `numRuns` random command sequences (fresh files each) against the mount. Throws
 * fast-check's report on failure: seed, path, the shrunk counterexample, and the
 * operation log of the shrunk run.
 */
export async function runFsx(mnt: string, o: FsxRunOpts): Promise<number> {
  let ops = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(fsxCommandArbs, { maxCommands: o.maxCommands, size: 'max', replayPath: o.replayPath }), async (cmds) => {
      const s = await setupRun(mnt);
      try {
        await fc.asyncModelRun(() => s, cmds);
      } finally {
        ops += s.real.log.length;
        await teardownRun(s.real);
      }
    }),
    { seed: o.seed, path: o.path, numRuns: o.numRuns, includeErrorInReport: true },
  );
  return ops;
}
