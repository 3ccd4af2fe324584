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
 * trace (or the clock given: `aheadfs replay` passes its simulated clock). When tracing is
 * off `emit` returns at once; callers on hot paths test `enabled` first so that they do
 * not even build the line. With a `sink` every line goes to it instead of the ring
 * (replay's `--trace FILE` keeps them all).
 */

export const TRACE_CAPACITY = 65536;

export type TraceKind = 'read' | 'ra' | 'bio' | 'plug' | 'wait' | 'wake' | 'reclaim' | 'rq';

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
  private readonly clockUs: (() => number) | undefined;
  private readonly sink: ((line: string) => void) | undefined;

  constructor(
    readonly capacity = TRACE_CAPACITY,
    opts: {
      /** The clock of `t=` in µs; default: monotonic wall time since the trace started. */
      nowUs?: () => number;
      /** Every line goes here instead of the ring (which then stays empty). */
      sink?: (line: string) => void;
    } = {},
  ) {
    this.lines = new Array<string | undefined>(capacity);
    this.clockUs = opts.nowUs;
    this.sink = opts.sink;
  }

  /** Microseconds since the trace started (monotonic), or the given clock's. */
  nowUs(): number {
    if (this.clockUs !== undefined) return Math.round(this.clockUs());
    return Math.round((performance.now() - this.t0) * 1000);
  }

  emit(line: string): void {
    if (!this.enabled) return;
    if (this.sink !== undefined) {
      this.sink(`${line} t=${this.nowUs()}`);
      return;
    }
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
