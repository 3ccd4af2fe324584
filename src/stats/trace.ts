/**
 * The trace: a ring buffer of recent events, formatted as one text line each only when
 * read, oldest first (like ftrace's ring buffer behind its `trace` file). Writing anything
 * to `.aheadfs/trace` clears it.
 *
 * Each event is a fixed-size binary record in one preallocated Float64Array: the event id,
 * the time, the reader's pid and up to MAX_FIELDS numeric fields. String fields (ops,
 * reasons, statuses, scheduler names) are interned: the record holds the string's index in
 * `strings`. Emitting therefore allocates nothing and formats nothing; `read()` turns the
 * records into the text lines (FORMATS below, one per event id), byte for byte the lines
 * the trace printed when it stored text.
 *
 *      head (next record written)
 *        v
 *   [ e5 | e6 | e2 | e3 | e4 ]      capacity 5, 6 events emitted: e1 was overwritten
 *               ^ oldest = head when full
 *
 * A line is `<event text>[ pid=<pid>] t=<microseconds>`: the pid of the process whose
 * request was being served when the event happened (the FUSE caller, `pid`; left out when
 * 0: no request, or the binding gave none), then the time on a monotonic clock started
 * with the trace. When tracing is off `emit` returns at once.
 * `aheadfs replay` passes its simulated clock (`nowUs`), and with a `sink` every line is
 * formatted at once and goes to it instead of the ring (replay's `--trace FILE` keeps them all).
 */

export const TRACE_CAPACITY = 65536;

export type TraceKind = 'read' | 'ra' | 'bio' | 'plug' | 'wait' | 'wake' | 'reclaim' | 'rq' | 'writeback' | 'balance_dirty_pages';

/** Event ids: the record's first word. Fields are listed as the line prints them. */
export const TraceEvent = {
  /** ino fh pos len */
  read: 1,
  /** trigger(str) ino fh index req start size async order reason(str) */
  ra: 2,
  /** ino(hex) index req_count order size async_size ra_pages mmap_miss prev_pos */
  pageCacheSyncRa: 3,
  pageCacheAsyncRa: 4,
  /** ino(hex) index nr_to_read lookahead_size */
  pageCacheRaUnbounded: 5,
  /** ino(hex) index order size async_size ra_pages */
  pageCacheRaOrder: 6,
  /** op(str) sector bytes */
  bioSubmit: 7,
  /** sector bytes parts */
  bioSplit: 8,
  /** op(str) sector bytes status(str) */
  bioComplete: 9,
  /** requests reason(str) */
  plugFlush: 10,
  /** op(str) sector bytes inflight */
  rqDispatch: 11,
  /** op(str) sector bytes */
  rqInject: 12,
  /** op(str) sector bytes status(str) ms(float, 3 decimals) */
  rqComplete: 13,
  /** from(str) to(str) moved */
  rqScheduler: 14,
  /** ino index bit(str) */
  wait: 15,
  /** ino index woken spurious */
  wake: 16,
  /** ino index */
  reclaim: 17,
  /** dirty writeback thresh */
  balanceDirtyPages: 18,
  /** A rare event with a variable list (a writeback batch's inodes): its text is kept as formatted at emit (emitText). */
  text: 19,
} as const;
export type TraceEventId = (typeof TraceEvent)[keyof typeof TraceEvent];

/** A field as the emitter passes it: numbers stored as they are, strings interned. */
export type TraceArg = number | string;

/** Numeric fields per record (the widest events, `ra` and `page_cache_*_ra`, use 10 / 9). */
export const MAX_FIELDS = 10;
/** Record layout: [event id, t (µs), pid, field 0 .. field MAX_FIELDS-1]. */
const HEADER = 3;
const STRIDE = HEADER + MAX_FIELDS;

/** Reads one record's fields for a formatter: `n(i)` a number, `s(i)` an interned string. */
interface Fields {
  n(i: number): number;
  s(i: number): string;
}

type Format = (f: Fields) => string;

/** The text of each event (without pid and t), exactly as the emitters formatted it before the ring was binary. */
const FORMATS: Record<TraceEventId, Format> = {
  [TraceEvent.read]: (f) => `read ino=${f.n(0)} fh=${f.n(1)} pos=${f.n(2)} len=${f.n(3)}`,
  [TraceEvent.ra]: (f) =>
    `ra ${f.s(0)} ino=${f.n(1)} fh=${f.n(2)} index=${f.n(3)} req=${f.n(4)} ` + `start=${f.n(5)} size=${f.n(6)} async=${f.n(7)} order=${f.n(8)} reason=${f.s(9)}`,
  [TraceEvent.pageCacheSyncRa]: (f) => pageCacheRa('sync', f),
  [TraceEvent.pageCacheAsyncRa]: (f) => pageCacheRa('async', f),
  [TraceEvent.pageCacheRaUnbounded]: (f) => `page_cache_ra_unbounded: ino=${f.n(0).toString(16)} index=${f.n(1)} nr_to_read=${f.n(2)} lookahead_size=${f.n(3)}`,
  [TraceEvent.pageCacheRaOrder]: (f) =>
    `page_cache_ra_order: ino=${f.n(0).toString(16)} index=${f.n(1)} order=${f.n(2)} size=${f.n(3)} async_size=${f.n(4)} ra_pages=${f.n(5)}`,
  [TraceEvent.bioSubmit]: (f) => `bio submit op=${f.s(0)} sector=${f.n(1)} bytes=${f.n(2)}`,
  [TraceEvent.bioSplit]: (f) => `bio split sector=${f.n(0)} bytes=${f.n(1)} parts=${f.n(2)}`,
  [TraceEvent.bioComplete]: (f) => `bio complete op=${f.s(0)} sector=${f.n(1)} bytes=${f.n(2)} status=${f.s(3)}`,
  [TraceEvent.plugFlush]: (f) => `plug flush requests=${f.n(0)} reason=${f.s(1)}`,
  [TraceEvent.rqDispatch]: (f) => `rq dispatch op=${f.s(0)} sector=${f.n(1)} bytes=${f.n(2)} inflight=${f.n(3)}`,
  [TraceEvent.rqInject]: (f) => `rq inject op=${f.s(0)} sector=${f.n(1)} bytes=${f.n(2)} status=EIO`,
  [TraceEvent.rqComplete]: (f) => `rq complete op=${f.s(0)} sector=${f.n(1)} bytes=${f.n(2)} status=${f.s(3)} ms=${f.n(4).toFixed(3)}`,
  [TraceEvent.rqScheduler]: (f) => `rq scheduler from=${f.s(0)} to=${f.s(1)} moved=${f.n(2)}`,
  [TraceEvent.wait]: (f) => `wait ino=${f.n(0)} index=${f.n(1)} bit=${f.s(2)}`,
  [TraceEvent.wake]: (f) => `wake ino=${f.n(0)} index=${f.n(1)} woken=${f.n(2)} spurious=${f.n(3)}`,
  [TraceEvent.reclaim]: (f) => `reclaim ino=${f.n(0)} index=${f.n(1)}`,
  [TraceEvent.balanceDirtyPages]: (f) => `balance_dirty_pages dirty=${f.n(0)} writeback=${f.n(1)} thresh=${f.n(2)} throttled`,
  [TraceEvent.text]: () => '', // never formatted: emitText keeps the line
};

function pageCacheRa(kind: 'sync' | 'async', f: Fields): string {
  return (
    `page_cache_${kind}_ra: ino=${f.n(0).toString(16)} index=${f.n(1)} req_count=${f.n(2)} order=${f.n(3)} ` +
    `size=${f.n(4)} async_size=${f.n(5)} ra_pages=${f.n(6)} mmap_miss=${f.n(7)} prev_pos=${f.n(8)}`
  );
}

/** Interned strings: index <-> string, shared by every trace (the set is small and fixed by the code). */
const strings: string[] = [];
const stringIds = new Map<string, number>();

function intern(s: string): number {
  let id = stringIds.get(s);
  if (id === undefined) {
    id = strings.length;
    strings.push(s);
    stringIds.set(s, id);
  }
  return id;
}

function store(a: TraceArg): number {
  return typeof a === 'number' ? a : intern(a);
}

/** Format one event's text from its fields (the kernel-diff model formats its events with this too). */
export function formatEvent(ev: TraceEventId, args: readonly TraceArg[]): string {
  const nums = args.map(store);
  return FORMATS[ev]({ n: (i) => nums[i] ?? 0, s: (i) => strings[nums[i] ?? 0] ?? '' });
}

/** Where trace events go: the ring below, or anything that formats them (the kernel-diff model). */
export interface TraceSink {
  readonly enabled: boolean;
  emit(ev: TraceEventId, ...args: TraceArg[]): void;
}

export class Trace implements TraceSink {
  enabled = true;
  /**
   * Also record one `read` event per FUSE read (tunables/trace = 2). Off by default: it is
   * the only event on the cached read path.
   */
  reads = false;
  /**
   * The pid of the process whose request is being served (`current`): set by the FUSE
   * layer around a request's synchronous part, 0 outside one. Stamped on every record.
   */
  pid = 0;
  /** Invariant: records [head - count, head) mod capacity are valid, oldest first. */
  private readonly buf: Float64Array;
  /**
   * The line of each slot once a read has formatted it; undefined again when the slot is
   * overwritten. Repeated reads (`aheadfs trace --follow` polls) format only new records.
   */
  private readonly text: (string | undefined)[];
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
      /** Every line goes here, formatted at once, instead of the ring (which then stays empty). */
      sink?: (line: string) => void;
    } = {},
  ) {
    this.buf = new Float64Array(capacity * STRIDE);
    this.text = new Array<string | undefined>(capacity).fill(undefined);
    this.clockUs = opts.nowUs;
    this.sink = opts.sink;
  }

  /** Microseconds since the trace started (monotonic), or the given clock's. */
  nowUs(): number {
    if (this.clockUs !== undefined) return Math.round(this.clockUs());
    return Math.round((performance.now() - this.t0) * 1000);
  }

  /**
   * Record one event. Fixed arity (no rest array on the hot path): pass the event's fields
   * in the order FORMATS prints them; strings are interned.
   */
  emit(
    ev: TraceEventId,
    a0: TraceArg = 0,
    a1: TraceArg = 0,
    a2: TraceArg = 0,
    a3: TraceArg = 0,
    a4: TraceArg = 0,
    a5: TraceArg = 0,
    a6: TraceArg = 0,
    a7: TraceArg = 0,
    a8: TraceArg = 0,
    a9: TraceArg = 0,
  ): void {
    if (!this.enabled) return;
    const b = this.buf;
    const o = this.head * STRIDE;
    b[o] = ev;
    b[o + 1] = this.nowUs();
    b[o + 2] = this.pid;
    b[o + 3] = typeof a0 === 'number' ? a0 : intern(a0);
    b[o + 4] = typeof a1 === 'number' ? a1 : intern(a1);
    b[o + 5] = typeof a2 === 'number' ? a2 : intern(a2);
    b[o + 6] = typeof a3 === 'number' ? a3 : intern(a3);
    b[o + 7] = typeof a4 === 'number' ? a4 : intern(a4);
    b[o + 8] = typeof a5 === 'number' ? a5 : intern(a5);
    b[o + 9] = typeof a6 === 'number' ? a6 : intern(a6);
    b[o + 10] = typeof a7 === 'number' ? a7 : intern(a7);
    b[o + 11] = typeof a8 === 'number' ? a8 : intern(a8);
    b[o + 12] = typeof a9 === 'number' ? a9 : intern(a9);
    if (this.sink !== undefined) {
      // The record was built in the next slot; format it now and leave the ring empty.
      this.sink(this.formatSlot(this.head));
      return;
    }
    this.text[this.head] = undefined;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    if (this.count < this.capacity) this.count++;
  }

  /**
   * Record an event whose fields do not fit a record (a writeback batch's list of inodes),
   * formatted now and kept as text in its slot. Only for rare events: it allocates.
   */
  emitText(text: string): void {
    if (!this.enabled) return;
    const t = this.nowUs();
    const line = this.pid > 0 ? `${text} pid=${this.pid} t=${t}` : `${text} t=${t}`;
    if (this.sink !== undefined) {
      this.sink(line);
      return;
    }
    const o = this.head * STRIDE;
    this.buf[o] = TraceEvent.text;
    this.buf[o + 1] = t;
    this.buf[o + 2] = this.pid;
    this.text[this.head] = line;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    if (this.count < this.capacity) this.count++;
  }

  /** Records held (at most capacity). */
  get length(): number {
    return this.count;
  }

  /** All lines, oldest first, formatted now. */
  read(): string[] {
    const out: string[] = new Array<string>(this.count);
    const start = (this.head - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) {
      const slot = (start + i) % this.capacity;
      out[i] = this.text[slot] ??= this.formatSlot(slot);
    }
    return out;
  }

  /** The text line of the record in `slot`. */
  private formatSlot(slot: number): string {
    const b = this.buf;
    const o = slot * STRIDE;
    const fields: Fields = { n: (i) => b[o + HEADER + i]!, s: (i) => strings[b[o + HEADER + i]!] ?? '' };
    const text = FORMATS[b[o] as TraceEventId](fields);
    const pid = b[o + 2]!;
    return pid > 0 ? `${text} pid=${pid} t=${b[o + 1]}` : `${text} t=${b[o + 1]}`;
  }

  clear(): void {
    this.text.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
