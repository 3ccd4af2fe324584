/**
 * The access traces `aheadfs replay` reads, told apart by their content:
 *
 *   fio iolog v2 (write_iolog)   fio version 2 iolog
 *                                /data/a add | open | close
 *                                /data/a read 0 4096
 *   fio iolog v3                 fio version 3 iolog
 *                                <µs> /data/a read 0 4096       (the time is not used)
 *   aheadfs' own trace           read ino=I fh=F pos=P len=L t=T (tunables/trace = 2; every
 *                                other line, ra/bio/rq/..., is skipped)
 *   blkparse text (default fmt)  8,0  3  1  0.000000000  697  Q  R 223490 + 8 [proc]
 *                                (queued reads, `Q`; `D` lines when there is no Q; the
 *                                device is one file, sectors are 512 bytes)
 *
 * Writes, trims, syncs and waits are counted as skipped: replay replays reads. A file's
 * size is the end of its furthest read. fio's files get one open file (descriptor) each;
 * the own trace keeps its handles (fh) and inodes (ino) as they were, so the replayed
 * trace lines name the same ones. Anything else is bad input: one UsageError line.
 */

import { UsageError } from '../errors.js';

export type TraceFormat = 'fio-v2' | 'fio-v3' | 'aheadfs' | 'blkparse';

export interface TraceFile {
  readonly name: string;
  /** The inode number replay gives it (the trace's own for aheadfs traces, else 1, 2, ...). */
  readonly ino: number;
  /** Bytes: the end of the furthest read. */
  size: number;
}

/** One open file of the trace: a file and the handle number its lines carry. */
export interface TraceHandle {
  readonly file: number;
  readonly fh: number;
}

export interface ReplayTrace {
  readonly format: TraceFormat;
  readonly files: TraceFile[];
  readonly handles: TraceHandle[];
  /** The reads, in order: handle index, byte offset, length. */
  readonly handle: Uint32Array;
  readonly pos: Float64Array;
  readonly len: Uint32Array;
  readonly count: number;
  /** Lines of the trace that are not reads (writes, ...), skipped. */
  readonly skipped: number;
}

const MAX_LEN = 1 << 30;

class Builder {
  readonly files: TraceFile[] = [];
  readonly handles: TraceHandle[] = [];
  private readonly fileIds = new Map<string, number>();
  private readonly handleIds = new Map<string, number>();
  private h: number[] = [];
  private p: number[] = [];
  private l: number[] = [];
  skipped = 0;

  file(name: string, ino?: number): number {
    let id = this.fileIds.get(name);
    if (id === undefined) {
      id = this.files.length;
      this.fileIds.set(name, id);
      this.files.push({ name, ino: ino ?? id + 1, size: 0 });
    }
    return id;
  }

  handle(file: number, fh: number): number {
    const key = `${file}/${fh}`;
    let id = this.handleIds.get(key);
    if (id === undefined) {
      id = this.handles.length;
      this.handleIds.set(key, id);
      this.handles.push({ file, fh });
    }
    return id;
  }

  read(handle: number, pos: number, len: number): void {
    this.h.push(handle);
    this.p.push(pos);
    this.l.push(len);
    const f = this.files[this.handles[handle]!.file]!;
    if (pos + len > f.size) f.size = pos + len;
  }

  build(format: TraceFormat): ReplayTrace {
    if (this.p.length === 0) throw new UsageError(`the ${format} trace has no reads`);
    return {
      format,
      files: this.files,
      handles: this.handles,
      handle: Uint32Array.from(this.h),
      pos: Float64Array.from(this.p),
      len: Uint32Array.from(this.l),
      count: this.p.length,
      skipped: this.skipped,
    };
  }
}

function offsetLength(where: string, o: string | undefined, l: string | undefined): { pos: number; len: number } {
  const pos = Number(o);
  const len = Number(l);
  if (o === undefined || !/^\d+$/.test(o) || !Number.isSafeInteger(pos)) throw new UsageError(`${where}: bad offset ${JSON.stringify(o ?? '')}`);
  if (l === undefined || !/^\d+$/.test(l) || len <= 0 || len > MAX_LEN) throw new UsageError(`${where}: bad length ${JSON.stringify(l ?? '')}`);
  return { pos, len };
}

const FIO_SKIPPED = new Set(['write', 'sync', 'datasync', 'trim', 'wait']);

function parseFio(lines: string[], version: 2 | 3): ReplayTrace {
  const b = new Builder();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `iolog line ${i + 1}`;
    let words = line.split(/\s+/);
    if (version === 3) {
      if (!/^\d+$/.test(words[0]!)) throw new UsageError(`${where}: expected "<µs> <file> <action> ..." (fio iolog v3): ${JSON.stringify(line.slice(0, 80))}`);
      words = words.slice(1);
    }
    if (words.length < 2) throw new UsageError(`${where}: expected "<file> <action> ...": ${JSON.stringify(line.slice(0, 80))}`);
    const [path, action] = words as [string, string];
    if (action === 'add' || action === 'open' || action === 'close') {
      b.file(path);
      continue;
    }
    if (action === 'read') {
      if (words.length !== 4) throw new UsageError(`${where}: expected "<file> read <offset> <length>"`);
      const { pos, len } = offsetLength(where, words[2], words[3]);
      const f = b.file(path);
      b.read(b.handle(f, f + 1), pos, len);
      continue;
    }
    if (FIO_SKIPPED.has(action)) {
      b.skipped++;
      continue;
    }
    throw new UsageError(`${where}: unknown action ${JSON.stringify(action)}`);
  }
  return b.build(version === 2 ? 'fio-v2' : 'fio-v3');
}

const OWN_READ = /^read ino=(\d+) fh=(\d+) pos=(\d+) len=(\d+)(?: pid=\d+)?(?: t=\d+)?$/;
const OWN_KIND = /^(read|ra|bio|plug|wait|wake|reclaim|rq|page_cache_\w+:)\s/;

function parseOwn(lines: string[]): ReplayTrace {
  const b = new Builder();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = OWN_READ.exec(line);
    if (m) {
      const ino = Number(m[1]);
      const { pos, len } = offsetLength(`trace line ${i + 1}`, m[3], m[4]);
      if (len === 0) continue;
      const f = b.file(`ino${ino}`, ino);
      b.read(b.handle(f, Number(m[2])), pos, len);
      continue;
    }
    if (!OWN_KIND.test(line)) throw new UsageError(`trace line ${i + 1}: not an aheadfs trace line: ${JSON.stringify(line.slice(0, 80))}`);
    b.skipped++;
  }
  if (b.files.length === 0) throw new UsageError('the aheadfs trace has no `read` lines (record it with `echo 2 > .aheadfs/tunables/trace`)');
  return b.build('aheadfs');
}

/** dev cpu seq time pid action rwbs sector + n */
const BLK_EVENT = /^\s*(\d+,\d+)\s+\d+\s+\d+\s+\d+\.\d+\s+\d+\s+([A-Z]{1,2})\s+([A-Z]+)\s+(\d+)\s+\+\s+(\d+)/;
/** Lines blkparse prints besides events: per-CPU and total summaries. */
const BLK_OTHER = /^\s*(CPU\d+|Total|Reads|Writes|Read|Write|IO|Events|Skips|Throughput|Queued|Dispatches|Requeues|Completes|Merges|Timer|Plug|Unplug|\d+,\d+\s+\d+\s+\d+\s+\d+\.\d+\s+\d+\s+[A-Z])/;

function parseBlkparse(lines: string[]): ReplayTrace {
  const events: { action: string; dev: string; sector: number; n: number; line: number }[] = [];
  let skipped = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const m = BLK_EVENT.exec(line);
    if (!m) {
      if (!BLK_OTHER.test(line) && !/^\s/.test(line)) throw new UsageError(`blkparse line ${i + 1}: not a blkparse event: ${JSON.stringify(line.trim().slice(0, 80))}`);
      skipped++;
      continue;
    }
    const rwbs = m[3]!;
    if (!rwbs.includes('R') || rwbs.includes('W') || rwbs.includes('D')) {
      skipped++;
      continue;
    }
    events.push({ action: m[2]!, dev: m[1]!, sector: Number(m[4]), n: Number(m[5]), line: i + 1 });
  }
  const action = events.some((e) => e.action === 'Q') ? 'Q' : 'D';
  const b = new Builder();
  b.skipped = skipped;
  for (const e of events) {
    if (e.action !== action) {
      b.skipped++;
      continue;
    }
    if (e.n === 0) continue;
    const f = b.file(`dev${e.dev}`);
    b.read(b.handle(f, 1), e.sector * 512, e.n * 512);
  }
  return b.build('blkparse');
}

export function parseTrace(text: string): ReplayTrace {
  const lines = text.split('\n');
  // (replay's own --trace output starts each run with a `# replay ...` comment)
  const first = lines.find((l) => l.trim() !== '' && !l.startsWith('#'))?.trim();
  if (first === undefined) throw new UsageError('the trace is empty');
  const from = lines.findIndex((l) => l.trim() === first);
  if (first === 'fio version 2 iolog') return parseFio(lines.slice(from), 2);
  if (first === 'fio version 3 iolog') return parseFio(lines.slice(from), 3);
  if (/^fio version \d+ iolog$/.test(first)) throw new UsageError(`unsupported fio iolog version: ${JSON.stringify(first)} (2 and 3 are)`);
  if (BLK_EVENT.test(first)) return parseBlkparse(lines);
  if (OWN_KIND.test(first)) return parseOwn(lines);
  throw new UsageError(`not a trace replay knows (fio iolog v2/v3, aheadfs trace, blkparse): first line ${JSON.stringify(first.slice(0, 80))}`);
}
