/**
 * Read the trace lines a readahead chart needs: the `ra` decisions and the FUSE `read`s
 * (src/stats/trace.ts; forms in the README's trace table). Other kinds are skipped.
 *
 *   ra async ino=12 fh=3 index=4 req=1 start=12 size=16 async=16 reason=sequential t=812
 *   read ino=12 fh=3 pos=16384 len=4096 t=810
 */

import type { RaReason } from '../mm/readahead.js';

export interface RaEvent {
  readonly trigger: 'sync' | 'async';
  readonly ino: number;
  readonly fh: number;
  /** The page the read was at when it decided (the miss, or the PG_readahead page). */
  readonly index: number;
  /** Pages the read asked for. */
  readonly req: number;
  readonly start: number;
  readonly size: number;
  readonly asyncSize: number;
  readonly reason: RaReason;
  /** µs on the trace clock. */
  readonly t: number;
}

export interface ReadEvent {
  readonly ino: number;
  readonly fh: number;
  /** Byte position and length of the FUSE read. */
  readonly pos: number;
  readonly len: number;
  readonly t: number;
}

export interface ParsedTrace {
  ra: RaEvent[];
  reads: ReadEvent[];
}

const RA_LINE = /^ra (sync|async) ino=(\d+) fh=(\d+) index=(\d+) req=(\d+) start=(\d+) size=(\d+) async=(\d+)(?: order=\d+)? reason=(\w+)(?: pid=\d+)? t=(\d+)$/;
const READ_LINE = /^read ino=(\d+) fh=(\d+) pos=(\d+) len=(\d+)(?: pid=\d+)? t=(\d+)$/;
const REASONS: ReadonlySet<string> = new Set<RaReason>(['initial', 'sequential', 'marker', 'oversize', 'context', 'random', 'window', 'forced']);

function isReason(s: string): s is RaReason {
  return REASONS.has(s);
}

/** Parse a trace's text. Lines of other kinds are ignored; a malformed `ra`/`read` line is an error. */
export function parseTrace(text: string): ParsedTrace {
  const ra: RaEvent[] = [];
  const reads: ReadEvent[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (line.startsWith('ra ')) {
      const m = RA_LINE.exec(line);
      if (!m || !isReason(m[9]!)) throw new Error(`trace line ${lineNo}: not an ra line of the known form: ${line.slice(0, 120)}`);
      ra.push({
        trigger: m[1] === 'async' ? 'async' : 'sync',
        ino: Number(m[2]),
        fh: Number(m[3]),
        index: Number(m[4]),
        req: Number(m[5]),
        start: Number(m[6]),
        size: Number(m[7]),
        asyncSize: Number(m[8]),
        reason: m[9],
        t: Number(m[10]),
      });
    } else if (line.startsWith('read ')) {
      const m = READ_LINE.exec(line);
      if (!m) throw new Error(`trace line ${lineNo}: not a read line of the known form: ${line.slice(0, 120)}`);
      reads.push({ ino: Number(m[1]), fh: Number(m[2]), pos: Number(m[3]), len: Number(m[4]), t: Number(m[5]) });
    }
  }
  return { ra, reads };
}

/** The inode with the most `ra` lines (the lowest one on a tie), or undefined if there are none. */
export function busiestInode(ra: readonly RaEvent[]): number | undefined {
  const counts = new Map<number, number>();
  for (const e of ra) counts.set(e.ino, (counts.get(e.ino) ?? 0) + 1);
  let best: number | undefined;
  for (const [ino, n] of counts) {
    if (best === undefined || n > counts.get(best)! || (n === counts.get(best)! && ino < best)) best = ino;
  }
  return best;
}
