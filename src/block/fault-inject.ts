/**
 * Fault injection and latency in the block layer, above the device (so it works for
 * every device type):
 *
 *   fail_make_request   the kernel's fault attribute (lib/fault-inject.c, should_fail_ex
 *                       as of Linux 6.6; the attributes of Documentation/fault-injection/
 *                       fault-injection.rst), plus our own `ops` and `sectors` filters
 *   delay               dm-delay-like: `read_us` / `write_us` added to each request's completion
 *
 * Where it acts (src/block/queue.ts):
 *
 *   runQueue -> startRequest(rq) -- matches ops/sectors and shouldFail(bytes)? --+
 *                    | no                                                       | yes: no device I/O,
 *                    v                                                          v  the I/O "fails" with EIO
 *              device read/write/flush  --------------------------------> I/O settled
 *                                                                               | + read_us / write_us
 *                                                                               v
 *                                                   completeRequest: account, trace, every bio's endIo
 *
 * An injected failure replaces the device I/O of one request and then travels the normal
 * completion path: the request is dispatched, accounted in diskstats, counted in
 * rq_complete and ends every one of its bios with EIO, as a failing disk would.
 * The kernel tests each bio in submit_bio_noacct (should_fail_bio) and fails it before it
 * becomes a request; here the test is per request, at dispatch, so `space` is
 * decremented by the request's bytes (a flush counts 0 bytes).
 *
 * shouldFail, in the kernel's order (each test only when the ones before passed):
 *   probability == 0                 -> no (nothing counted: off)
 *   times == 0                       -> no
 *   space > size                     -> space -= size; no
 *   interval > 1: ++count % interval -> no unless 0
 *   probability <= random 0..99      -> no
 *   fail: log (verbose), times-- unless -1
 * Note the kernel's `space` rule: once space <= size, space is no longer decremented and
 * every later call goes on to the interval and probability tests.
 *
 * Filters (ours, tested before shouldFail, like the kernel's per-device make-it-fail:
 * a request they do not select touches no counter): `ops` is any set of read, write,
 * flush; `sectors` START-END (inclusive, 512-byte sectors) selects read and write
 * requests that overlap it (a flush has no sectors and is selected by `ops` alone).
 */

import { fsError } from '../errors.js';
import type { BioOp, Sector } from './bio.js';
import { INT_MAX } from './elv-attrs.js';
import type { LayerLog } from '../stats/kmsg.js';

/** The largest `interval` accepted (the kernel's is an unsigned long). */
export const FAULT_INTERVAL_MAX = INT_MAX;
/** `times` and `space` are the kernel's atomic_t: at most INT_MAX. */
export const FAULT_TIMES_MAX = INT_MAX;
export const FAULT_SPACE_MAX = INT_MAX;
/** The largest delay accepted: 10 s per request. */
export const DELAY_US_MAX = 10_000_000;

export const BIO_OPS: readonly BioOp[] = ['read', 'write', 'flush'];

/** struct fault_attr, the attributes a user sets. */
export interface FaultAttrValues {
  /** Percent, 0..100; 0 turns injection off. */
  probability: number;
  /** 0..INT_MAX: fail only every interval-th call that passed the other tests (0 and 1: every). */
  interval: number;
  /** -1 (no limit) or 0..INT_MAX: failures left. */
  times: number;
  /** 0..INT_MAX bytes: a budget of I/O that is let through before failures may start. */
  space: number;
  /** 0 no message, 1 one log line per failure, 2 also the call trace. */
  verbose: number;
}

/** FAULT_ATTR_INITIALIZER: off, every call, once, no space, verbose 2. */
export const FAULT_ATTR_DEFAULTS: Readonly<FaultAttrValues> = { probability: 0, interval: 1, times: 1, space: 0, verbose: 2 };

/** Inclusive sector range. */
export interface SectorRange {
  start: Sector;
  end: Sector;
}

/** Everything `--fail-*` / `--delay-*` and the control files set. */
export interface FaultConfig extends FaultAttrValues {
  ops: BioOp[];
  /** undefined: the whole device. */
  sectors: SectorRange | undefined;
  readUs: number;
  writeUs: number;
}

export const FAULT_CONFIG_DEFAULTS: Readonly<FaultConfig> = {
  ...FAULT_ATTR_DEFAULTS,
  ops: [...BIO_OPS],
  sectors: undefined,
  readUs: 0,
  writeUs: 0,
};

/** A random number generator returning [0, 1) (Math.random, or a seeded one in tests). */
export type Rng = () => number;

/**
 * A seeded generator for reproducible runs (Marsaglia's xorshift32; the kernel uses its
 * prandom there). Not for anything secret.
 */
export function seededRng(seed: number): Rng {
  let x = seed >>> 0 || 0x9e3779b9; // xorshift never leaves 0
  return () => {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return x / 4294967296;
  };
}

/** One request as the filters see it. */
export interface FaultTarget {
  op: BioOp;
  sector: Sector;
  nrSectors: number;
}

/**
 * fail_make_request and delay for one request queue. Fields hold validated values only:
 * every setter checks and throws FsError EINVAL without changing anything.
 */
export class BlkFaults {
  private attr: FaultAttrValues = { ...FAULT_ATTR_DEFAULTS };
  /** Calls that reached the interval test (the kernel's attr->count); never reset. */
  private count = 0;
  private opSet = new Set<BioOp>(BIO_OPS);
  private range: SectorRange | undefined;
  private delay = { read: 0, write: 0 };
  private readonly rng: Rng;
  private readonly log: LayerLog;

  constructor(opts: { rng?: Rng; log?: LayerLog; config?: Partial<FaultConfig> } = {}) {
    this.rng = opts.rng ?? Math.random;
    this.log = opts.log ?? (() => undefined);
    if (opts.config) this.configure(opts.config);
  }

  /** Set several values at once (mount options); all are checked before any is applied. */
  configure(c: Partial<FaultConfig>): void {
    const apply: (() => void)[] = [];
    for (const name of ATTR_NAMES) {
      const v = c[name];
      if (v !== undefined) apply.push(this.prepare(name, v));
    }
    if (c.ops !== undefined) {
      const ops = checkOps(c.ops);
      apply.push(() => (this.opSet = ops));
    }
    if (c.sectors !== undefined) {
      const r = checkRange(c.sectors);
      apply.push(() => (this.range = r));
    }
    if (c.readUs !== undefined) {
      const us = checkDelay('read_us', c.readUs);
      apply.push(() => (this.delay.read = us));
    }
    if (c.writeUs !== undefined) {
      const us = checkDelay('write_us', c.writeUs);
      apply.push(() => (this.delay.write = us));
    }
    for (const f of apply) f();
  }

  config(): FaultConfig {
    return { ...this.attr, ops: this.ops(), sectors: this.range && { ...this.range }, readUs: this.delay.read, writeUs: this.delay.write };
  }

  get(name: keyof FaultAttrValues): number {
    return this.attr[name];
  }

  /** Set one fault attribute; EINVAL (nothing changed) when out of range. */
  set(name: keyof FaultAttrValues, value: number): void {
    this.prepare(name, value)();
  }

  /** The selected ops, in read, write, flush order. */
  ops(): BioOp[] {
    return BIO_OPS.filter((o) => this.opSet.has(o));
  }

  setOps(ops: readonly BioOp[]): void {
    this.opSet = checkOps(ops);
  }

  sectors(): SectorRange | undefined {
    return this.range && { ...this.range };
  }

  /** undefined: the whole device again. */
  setSectors(r: SectorRange | undefined): void {
    this.range = r === undefined ? undefined : checkRange(r);
  }

  /** Microseconds added to the completion of each request of `op` (0 for a flush). */
  delayUs(op: BioOp): number {
    return op === 'read' ? this.delay.read : op === 'write' ? this.delay.write : 0;
  }

  setDelayUs(op: 'read' | 'write', us: number): void {
    this.delay[op] = checkDelay(`${op}_us`, us);
  }

  /** Does `rq` fail? The filters, then shouldFail with the request's bytes. */
  shouldFailRequest(rq: FaultTarget): boolean {
    if (this.attr.probability === 0) return false; // off: the cheap test first, as should_fail_ex does
    if (!this.opSet.has(rq.op)) return false;
    const r = this.range;
    if (r !== undefined && rq.op !== 'flush' && (rq.sector > r.end || rq.sector + rq.nrSectors - 1 < r.start)) return false;
    return this.shouldFail(rq.nrSectors * 512, () => `${rq.op} sector=${rq.sector} bytes=${rq.nrSectors * 512}`);
  }

  /** should_fail_ex (lib/fault-inject.c, Linux 6.6) without fail-nth and the task and stack filters. */
  shouldFail(size: number, what: () => string = () => `${size} bytes`): boolean {
    const a = this.attr;
    if (a.probability === 0) return false;
    if (a.times === 0) return false;
    if (a.space > size) {
      a.space -= size;
      return false;
    }
    if (a.interval > 1) {
      this.count++;
      if (this.count % a.interval !== 0) return false;
    }
    if (a.probability <= Math.floor(this.rng() * 100)) return false;
    // fail_dump
    if (a.verbose > 0) {
      this.log(
        `fail_make_request: forcing a failure: ${what()} ` +
          `(interval ${a.interval}, probability ${a.probability}, space ${a.space}, times ${a.times})`,
        { level: 'notice', subsystem: 'fail_make_request', ratelimit: 'fail_make_request' },
      );
      if (a.verbose > 1) this.log(`fail_make_request: call trace:\n${callTrace()}`);
    }
    if (a.times !== -1 && a.times !== 0) a.times--;
    return true;
  }

  private prepare(name: keyof FaultAttrValues, value: number): () => void {
    const [min, max] = ATTR_RANGES[name];
    if (!Number.isInteger(value) || value < min || value > max || (name === 'times' && value < 0 && value !== -1)) {
      throw fsError('EINVAL', `${name}: expected ${ATTR_EXPECT[name]}, not ${value}`);
    }
    // As in the kernel, a new interval does not restart the count.
    return () => {
      this.attr[name] = value;
    };
  }
}

const ATTR_NAMES: readonly (keyof FaultAttrValues)[] = ['probability', 'interval', 'times', 'space', 'verbose'];

const ATTR_RANGES: Record<keyof FaultAttrValues, [number, number]> = {
  probability: [0, 100],
  interval: [0, FAULT_INTERVAL_MAX],
  times: [-1, FAULT_TIMES_MAX],
  space: [0, FAULT_SPACE_MAX],
  verbose: [0, 2],
};

/** What each attribute takes, for error messages (the CLI says the same). */
export const ATTR_EXPECT: Record<keyof FaultAttrValues, string> = {
  probability: 'a whole percentage from 0 to 100',
  interval: `a whole number from 0 to ${FAULT_INTERVAL_MAX}`,
  times: `-1 (no limit) or a whole number from 0 to ${FAULT_TIMES_MAX}`,
  space: `a whole number of bytes from 0 to ${FAULT_SPACE_MAX}`,
  verbose: '0, 1 or 2',
};

export const DELAY_EXPECT = `a whole number of microseconds from 0 to ${DELAY_US_MAX}`;
export const OPS_EXPECT = 'one or more of read, write, flush, separated by commas';
export const SECTORS_EXPECT = 'START-END, whole 512-byte sector numbers with START <= END';

function checkOps(ops: readonly BioOp[]): Set<BioOp> {
  if (ops.length === 0 || ops.some((o) => !BIO_OPS.includes(o))) throw fsError('EINVAL', `ops: expected ${OPS_EXPECT}`);
  return new Set(ops);
}

function checkRange(r: SectorRange): SectorRange {
  if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < 0 || r.start > r.end) {
    throw fsError('EINVAL', `sectors: expected ${SECTORS_EXPECT}, not ${r.start}-${r.end}`);
  }
  return { start: r.start, end: r.end };
}

function checkDelay(name: string, us: number): number {
  if (!Number.isInteger(us) || us < 0 || us > DELAY_US_MAX) throw fsError('EINVAL', `${name}: expected ${DELAY_EXPECT}, not ${us}`);
  return us;
}

/** dump_stack's counterpart: where the request was dispatched from. */
function callTrace(): string {
  const stack = new Error().stack ?? '';
  return stack.split('\n').slice(3).join('\n');
}

// --- text forms, shared by the control files and the mount options --------------------

/** `read,write` (commas and/or blanks) -> ops; EINVAL for an unknown or missing op. */
export function parseOps(text: string): BioOp[] {
  const words = text.trim().split(/[\s,]+/).filter((w) => w !== '');
  const ops: BioOp[] = [];
  for (const w of words) {
    if (!(BIO_OPS as readonly string[]).includes(w)) throw fsError('EINVAL', `ops: unknown op ${JSON.stringify(w)}: expected ${OPS_EXPECT}`);
    if (!ops.includes(w as BioOp)) ops.push(w as BioOp);
  }
  if (ops.length === 0) throw fsError('EINVAL', `ops: expected ${OPS_EXPECT}`);
  return ops;
}

export function formatOps(ops: readonly BioOp[]): string {
  return ops.join(',');
}

/** `START-END` -> range; EINVAL otherwise. */
export function parseSectors(text: string): SectorRange {
  const m = /^(0|[1-9]\d*)-(0|[1-9]\d*)$/.exec(text.trim());
  if (!m) throw fsError('EINVAL', `sectors: expected ${SECTORS_EXPECT}, not ${JSON.stringify(text.trim())}`);
  return checkRange({ start: Number(m[1]), end: Number(m[2]) });
}

/** The `sectors` file: the range, or the whole device `0-<last>` when none was set. */
export function formatSectors(r: SectorRange | undefined, nrSectors: number | undefined): string {
  if (r !== undefined) return `${r.start}-${r.end}`;
  return `0-${nrSectors === undefined ? Number.MAX_SAFE_INTEGER : nrSectors - 1}`;
}
