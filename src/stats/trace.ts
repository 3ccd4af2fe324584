/**
 * The trace: a ring buffer of recent events, one text line each, oldest first when read
 * (like ftrace's `trace` file). Writing anything to `.aheadfs/trace` clears it.
 *
 *      head (next write)
 *        v
 *   [ e5 | e6 | e2 | e3 | e4 ]      capacity 5, 6 events emitted: e1 was overwritten
 *               ^ oldest = head when full
 *
 * Every line gets ` t=<microseconds>` appended, from a monotonic clock started with the
 * trace. When tracing is off `emit` returns at once; callers on hot paths test `enabled`
 * first so that they do not even build the line.
 */

export const TRACE_CAPACITY = 65536;

export type TraceKind = 'read' | 'ra' | 'bio' | 'plug' | 'wait' | 'wake' | 'reclaim' | 'rq' | 'writeback' | 'balance_dirty_pages';

export class Trace {
  enabled = true;
  /**
   * Also record one `read` line per FUSE read (tunables/trace = 2). Off by default: it is
   * the only event on the cached read path, and formatting a line per read costs more
   * than the read itself (see README, Performance).
   */
  reads = false;
  private readonly lines: (string | undefined)[];
  private head = 0;
  private count = 0;
  private readonly t0 = performance.now();

  constructor(readonly capacity = TRACE_CAPACITY) {
    this.lines = new Array<string | undefined>(capacity);
  }

  /** Microseconds since the trace started (monotonic). */
  nowUs(): number {
    return Math.round((performance.now() - this.t0) * 1000);
  }

  emit(line: string): void {
    if (!this.enabled) return;
    this.lines[this.head] = `${line} t=${this.nowUs()}`;
    this.head = (this.head + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** All lines, oldest first. */
  read(): string[] {
    const out: string[] = [];
    const start = (this.head - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) out.push(this.lines[(start + i) % this.capacity]!);
    return out;
  }

  clear(): void {
    this.lines.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
