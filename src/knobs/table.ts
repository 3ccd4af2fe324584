/**
 * Every knob of a mount, once: name, type, unit, range, default, mount flag, control file
 * and doc line. Derived from this table:
 *
 *   - the `aheadfs mount` options (src/cli/mount.ts `knobOptions`, parsed by `parseFlag`;
 *     the fault ones through src/cli/fault-options.ts) and what the CLI passes to the daemon (`format`),
 *   - the control files' parsing (src/vfs/tunables.ts, src/vfs/fault-files.ts: `parseControl`),
 *   - the defaults (DEFAULT_MOUNT_OPTIONS in src/vfs/index.ts),
 *   - the README's `### Knobs` table (scripts/gen-knob-table.ts; test/unit/readme-knobs.test.ts).
 *
 * A mount flag and a control file of the same knob go through the same `parse`, so they
 * accept and refuse the same values (test/unit/knobs-ranges.test.ts). The objects behind
 * (RequestQueue, BlkFaults) check their own invariants with the same constants (the
 * queue also takes nr_requests below BLKDEV_MIN_RQ, for tests; users cannot set it).
 *
 * To add a knob: one entry in KNOBS (the order is the README's; regenerate the README
 * table), then use it where the value acts: a MountOptions field (parseTunables and
 * tunableArgs in src/cli/mount.ts, DEFAULT_MOUNT_OPTIONS) and/or a control file's
 * read/write (`parseControl(KNOBS.x, text)`). The range test covers it by itself.
 *
 * Not here: the scheduler's own iosched/ files (src/block/mq-deadline.ts: they belong to
 * one elevator instance, parse an int and clamp, as the kernel's do), and the actions
 * `drop_caches` and `trace` clearing.
 */

import type { BioOp } from '../block/bio.js';
import {
  BLK_DEF_MAX_SECTORS_KB,
  BLK_DEF_NR_REQUESTS,
  BLK_MAX_MAX_SECTORS_KB,
  BLK_MAX_NR_REQUESTS,
  BLK_MIN_MAX_SECTORS_KB,
  BLKDEV_MIN_RQ,
} from '../block/queue.js';
import { ELEVATOR_NAMES } from '../block/elevator.js';
import { DEFAULT_NBD_OPTIONS } from '../block/open.js';
import {
  ATTR_EXPECT,
  DELAY_EXPECT,
  DELAY_US_MAX,
  FAULT_ATTR_DEFAULTS,
  FAULT_INTERVAL_MAX,
  FAULT_SPACE_MAX,
  FAULT_TIMES_MAX,
  formatOps,
  OPS_EXPECT,
  parseOps,
  parseSectors,
  SECTORS_EXPECT,
  type SectorRange,
} from '../block/fault-inject.js';
import { formatSize, parseSize } from './size.js';
import { fsError, isFsError, UsageError } from '../errors.js';
import { MAX_CACHE_BYTES } from '../mm/frames.js';
import { KERNEL_VERSIONS, RA_POLICIES, type KernelVersion, type RaPolicy } from '../mm/pagecache.js';
import { describeIntRule, parseInteger, type IntRule } from '../int.js';

/** A refused value; the message is the reason (`expected a whole number from 4 to 4096`). */
export class KnobError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'KnobError';
  }
}

/** The usual reason: what the knob takes. */
function expecting(expected: string): KnobError {
  return new KnobError(`expected ${expected}`);
}

export type KnobType = 'int' | 'size' | 'seconds' | 'enum' | 'bool' | 'list' | 'range';

export interface Knob<T> {
  /** The knob's name: its control file's path under `.aheadfs/tunables/` or `.aheadfs/`, or the flag's in snake_case. */
  readonly name: string;
  readonly type: KnobType;
  /** `KiB`, `bytes`, `s`, `us`, `%`, or '' (a count, a name). */
  readonly unit: string;
  /** What it takes, in words (the refusal message and the README say it). */
  readonly expected: string;
  /** An integer knob's rule (tests probe its edges). */
  readonly rule?: IntRule;
  readonly default: T;
  /** `aheadfs mount --<flag>`; undefined: no mount flag. */
  readonly flag?: string;
  /** Path under `.aheadfs/`; undefined: fixed at mount. */
  readonly control?: string;
  /** The control file exists but refuses writes (EPERM). */
  readonly readOnly?: boolean;
  /** Mount flag not given: the option is left out (the object's own default applies), not set to `default`. */
  readonly optional?: boolean;
  readonly doc: string;
  /** The value of `text`, or KnobError. */
  parse(text: string): T;
  /** The text that parses back to `v` (the daemon's command line, the README's default). */
  format(v: T): string;
}

type Meta = Pick<Knob<unknown>, 'name' | 'unit' | 'flag' | 'control' | 'readOnly' | 'optional' | 'doc'>;

function intKnob(meta: Meta & { default: number; rule: IntRule; expected?: string }): Knob<number> {
  const expected = meta.expected ?? describeIntRule(meta.rule);
  return {
    ...meta,
    type: 'int',
    expected,
    rule: meta.rule,
    parse(text) {
      const r = parseInteger(text, meta.rule);
      if (!r.ok) throw expecting(expected);
      return r.value;
    },
    format: String,
  };
}

function enumKnob<T extends string>(meta: Meta & { default: T; values: readonly T[]; show?: (v: T) => string }): Knob<T> {
  const expected = meta.values.join(' or ');
  return {
    ...meta,
    type: 'enum',
    expected,
    parse(text) {
      const v = meta.values.find((x) => x === text.trim());
      if (v === undefined) throw expecting(expected);
      return v;
    },
    format: (v) => v,
  };
}

/** on/off, 1/0 (the flag has always taken on/off, the file 1/0: both take both). */
function boolKnob(meta: Meta & { default: boolean }): Knob<boolean> {
  const expected = 'on or off (1 or 0)';
  return {
    ...meta,
    type: 'bool',
    expected,
    parse(text) {
      const s = text.trim();
      if (s === 'on' || s === '1') return true;
      if (s === 'off' || s === '0') return false;
      throw expecting(expected);
    },
    format: (v) => (v ? 'on' : 'off'),
  };
}

/** Largest vm.dirty_*_bytes (the cache is at most 4 GiB; the limit is clamped to it anyway). */
export const DIRTY_BYTES_MAX = 2 ** 40;

/** vm.dirty_*_bytes: 0 (use the ratio), or bytes from `min` (a size suffix is taken too). */
function dirtyBytesKnob(meta: Meta & { default: number; min: number }): Knob<number> {
  const expected = `0 (use the ratio), or a size from ${meta.min} bytes to 1 TiB (K, M, G suffixes)`;
  return {
    ...meta,
    type: 'size',
    expected,
    parse(text) {
      const s = text.trim();
      let n: number;
      if (/^[0-9]+$/.test(s)) n = Number(s);
      else {
        try {
          n = parseSize(s);
        } catch {
          throw expecting(expected);
        }
      }
      if (n !== 0 && (n < meta.min || n > DIRTY_BYTES_MAX || !Number.isSafeInteger(n))) throw expecting(expected);
      return n;
    },
    format: String,
  };
}

/** Seconds > 0 and at most `max`, fractions allowed; the value is in ms. */
function secondsKnob(meta: Meta & { default: number; max: number }): Knob<number> {
  const expected = `a number of seconds > 0, at most ${meta.max}`;
  return {
    ...meta,
    type: 'seconds',
    expected,
    parse(text) {
      const s = text.trim();
      const v = Number(s);
      if (!/^(\d+(\.\d*)?|\.\d+)$/.test(s) || !(v > 0 && v <= meta.max)) throw expecting(expected);
      return Math.round(v * 1000);
    },
    format: (ms) => String(ms / 1000),
  };
}

/** A parser that throws FsError `EINVAL: <file>: <reason>` (fault-inject's ops and sectors) as a knob parser. */
function viaFsError<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      if (isFsError(err, 'EINVAL')) throw new KnobError(err.message.replace(/^EINVAL: [a-z_]+: /, ''));
      throw err;
    }
  };
}

/** Smallest page cache. The arena is one WebAssembly.Memory: at most MAX_CACHE_BYTES (4 GiB). */
export const MIN_CACHE_BYTES = 1 << 20;
/** Largest read_ahead_kb accepted: 64 MiB windows (the kernel accepts more; no device here needs it). */
export const READ_AHEAD_KB_MAX = 65536;
/** The longest NBD timeout or reconnect time: an hour. */
const NBD_SECONDS_MAX = 3600;

const cacheRule: IntRule = { min: MIN_CACHE_BYTES, max: MAX_CACHE_BYTES, multipleOf: 4096 };
const cacheExpected = `a size from ${formatSize(MIN_CACHE_BYTES)} to ${formatSize(MAX_CACHE_BYTES)}, a multiple of 4 KiB (K, M, G suffixes)`;

export const KNOBS = {
  cacheSize: {
    name: 'cache_size',
    type: 'size',
    unit: 'bytes',
    expected: cacheExpected,
    default: 256 << 20,
    flag: 'cache-size',
    doc: 'page cache size (frames of one arena)',
    parse(text: string): number {
      let bytes: number;
      try {
        bytes = parseSize(text);
      } catch {
        throw expecting(cacheExpected);
      }
      if (!parseInteger(String(bytes), cacheRule).ok) throw expecting(cacheExpected);
      return bytes;
    },
    format: (v: number) => (v % 2 ** 20 === 0 ? `${v / 2 ** 20}M` : String(v)),
  } satisfies Knob<number>,
  readAheadKb: intKnob({
    name: 'read_ahead_kb',
    unit: 'KiB',
    default: 128,
    rule: { min: 0, max: READ_AHEAD_KB_MAX },
    flag: 'read-ahead-kb',
    control: 'tunables/read_ahead_kb',
    doc: 'maximum readahead window, for files opened from now on (0: readahead off; like /sys/block/*/queue/read_ahead_kb)',
  }),
  maxSectorsKb: intKnob({
    name: 'max_sectors_kb',
    unit: 'KiB',
    default: BLK_DEF_MAX_SECTORS_KB,
    rule: { min: BLK_MIN_MAX_SECTORS_KB, max: BLK_MAX_MAX_SECTORS_KB, multipleOf: 4 },
    flag: 'max-sectors-kb',
    control: 'tunables/max_sectors_kb',
    doc: 'largest request sent to the device; also the optimal I/O size (io_pages) readahead may use',
  }),
  nrRequests: intKnob({
    name: 'nr_requests',
    unit: '',
    default: BLK_DEF_NR_REQUESTS,
    rule: { min: BLKDEV_MIN_RQ, max: BLK_MAX_NR_REQUESTS },
    flag: 'nr-requests',
    control: 'tunables/nr_requests',
    doc: 'request tags of the queue: device requests in flight at most',
  }),
  scheduler: enumKnob({
    name: 'scheduler',
    unit: '',
    default: 'mq-deadline',
    values: ELEVATOR_NAMES,
    flag: 'scheduler',
    control: 'tunables/scheduler',
    doc: 'I/O scheduler (the file shows every one, the active one in brackets)',
  }),
  raPolicy: enumKnob<RaPolicy>({
    name: 'ra_policy',
    unit: '',
    default: 'ondemand',
    values: RA_POLICIES,
    flag: 'ra-policy',
    doc: 'readahead policy: ondemand (the kernel\'s), none (read_ahead_kb 0 at mount), or stride (ours: a stride detector in front of ondemand)',
  }),
  kernel: enumKnob<KernelVersion>({
    name: 'kernel',
    unit: '',
    default: '6.18',
    values: KERNEL_VERSIONS,
    flag: 'kernel',
    control: 'tunables/kernel',
    readOnly: true,
    doc: 'whose read path: 4.18 (do_generic_file_read, order-0 pages) or 6.18 (filemap_read, large folios); the file is read-only',
  }),
  readpages: boolKnob({
    name: 'readpages',
    unit: '',
    default: true,
    flag: 'readpages',
    control: 'tunables/readpages',
    doc: "on: readahead I/O in batches (the filesystem's multi-page readahead); off: page by page, merged by the plug",
  }),
  writeback: boolKnob({
    name: 'writeback',
    unit: '',
    default: true,
    flag: 'writeback',
    doc: 'on: a writeback page cache (a write replies once copied; a flusher writes back; fsync makes it durable); off: write-through, as before',
  }),
  dirtyBackgroundBytes: dirtyBytesKnob({
    name: 'dirty_background_bytes',
    unit: 'bytes',
    default: 0,
    min: 1,
    flag: 'dirty-background-bytes',
    control: 'tunables/vm/dirty_background_bytes',
    doc: 'vm.dirty_background_bytes: dirty bytes at which the flusher starts writing back (0: use dirty_background_ratio; setting it zeroes the ratio)',
  }),
  dirtyBackgroundRatio: intKnob({
    name: 'dirty_background_ratio',
    unit: '%',
    default: 10,
    rule: { min: 0, max: 100 },
    flag: 'dirty-background-ratio',
    control: 'tunables/vm/dirty_background_ratio',
    doc: 'vm.dirty_background_ratio: percent of the page cache dirty at which the flusher starts (setting it zeroes dirty_background_bytes)',
  }),
  dirtyBytes: dirtyBytesKnob({
    name: 'dirty_bytes',
    unit: 'bytes',
    default: 0,
    min: 2 * 4096,
    flag: 'dirty-bytes',
    control: 'tunables/vm/dirty_bytes',
    doc: 'vm.dirty_bytes: dirty + writeback bytes at which writers wait in balance_dirty_pages (0: use dirty_ratio; setting it zeroes the ratio)',
  }),
  dirtyRatio: intKnob({
    name: 'dirty_ratio',
    unit: '%',
    default: 20,
    rule: { min: 1, max: 100 },
    flag: 'dirty-ratio',
    control: 'tunables/vm/dirty_ratio',
    doc: 'vm.dirty_ratio: percent of the page cache dirty or under writeback at which writers wait (at most 7/8 of the cache is used; setting it zeroes dirty_bytes)',
  }),
  dirtyExpireCentisecs: intKnob({
    name: 'dirty_expire_centisecs',
    unit: 'cs',
    default: 3000,
    rule: { min: 0, max: 2 ** 31 - 1 },
    flag: 'dirty-expire-centisecs',
    control: 'tunables/vm/dirty_expire_centisecs',
    doc: 'vm.dirty_expire_centisecs: dirty data older than this is written back by the periodic flush',
  }),
  dirtyWritebackCentisecs: intKnob({
    name: 'dirty_writeback_centisecs',
    unit: 'cs',
    default: 500,
    rule: { min: 0, max: 2 ** 31 - 1 },
    flag: 'dirty-writeback-centisecs',
    control: 'tunables/vm/dirty_writeback_centisecs',
    doc: 'vm.dirty_writeback_centisecs: interval of the periodic flush (0: none)',
  }),
  trace: enumKnob({
    name: 'trace',
    unit: '',
    default: '1',
    values: ['0', '1', '2'] as const,
    control: 'tunables/trace',
    doc: '1: record events in .aheadfs/trace; 2: also one `read` line per FUSE read; 0: off (costs nothing)',
  }),
  nbdConnections: intKnob({
    name: 'nbd_connections',
    unit: '',
    default: DEFAULT_NBD_OPTIONS.connections,
    rule: { min: 1, max: 16 },
    flag: 'nbd-connections',
    doc: 'NBD stores: connections to the export (more than 1 only if the server allows multi-conn)',
  }),
  nbdTimeout: secondsKnob({
    name: 'nbd_timeout',
    unit: 's',
    default: DEFAULT_NBD_OPTIONS.timeoutMs,
    max: NBD_SECONDS_MAX,
    flag: 'nbd-timeout',
    doc: 'NBD stores: seconds without a reply before the connection is dropped and remade',
  }),
  nbdReconnect: secondsKnob({
    name: 'nbd_reconnect',
    unit: 's',
    default: DEFAULT_NBD_OPTIONS.reconnectMs,
    max: NBD_SECONDS_MAX,
    flag: 'nbd-reconnect',
    doc: 'NBD stores: seconds to keep reconnecting before I/O fails with EIO',
  }),
  failProbability: intKnob({
    name: 'fail_make_request/probability',
    unit: '%',
    default: FAULT_ATTR_DEFAULTS.probability,
    rule: { min: 0, max: 100, base0: true },
    expected: ATTR_EXPECT.probability,
    flag: 'fail-probability',
    control: 'fail_make_request/probability',
    optional: true,
    doc: 'fault injection: percent of eligible requests failed with EIO (0: off)',
  }),
  failInterval: intKnob({
    name: 'fail_make_request/interval',
    unit: '',
    default: FAULT_ATTR_DEFAULTS.interval,
    rule: { min: 0, max: FAULT_INTERVAL_MAX, base0: true },
    expected: ATTR_EXPECT.interval,
    flag: 'fail-interval',
    control: 'fail_make_request/interval',
    optional: true,
    doc: 'fault injection: fail only every interval-th request that passed the other tests',
  }),
  failTimes: intKnob({
    name: 'fail_make_request/times',
    unit: '',
    default: FAULT_ATTR_DEFAULTS.times,
    rule: { min: -1, max: FAULT_TIMES_MAX, base0: true },
    expected: ATTR_EXPECT.times,
    flag: 'fail-times',
    control: 'fail_make_request/times',
    optional: true,
    doc: 'fault injection: failures at most (-1: no limit); counts down as failures happen',
  }),
  failSpace: intKnob({
    name: 'fail_make_request/space',
    unit: 'bytes',
    default: FAULT_ATTR_DEFAULTS.space,
    rule: { min: 0, max: FAULT_SPACE_MAX, base0: true },
    expected: ATTR_EXPECT.space,
    flag: 'fail-space',
    control: 'fail_make_request/space',
    optional: true,
    doc: 'fault injection: bytes of I/O let through before failures may start; counts down',
  }),
  failVerbose: intKnob({
    name: 'fail_make_request/verbose',
    unit: '',
    default: FAULT_ATTR_DEFAULTS.verbose,
    rule: { min: 0, max: 2, base0: true },
    expected: ATTR_EXPECT.verbose,
    flag: 'fail-verbose',
    control: 'fail_make_request/verbose',
    optional: true,
    doc: 'fault injection: 0 quiet, 1 a kmsg and log line per failure, 2 also the call trace (log)',
  }),
  failOps: {
    name: 'fail_make_request/ops',
    type: 'list',
    unit: '',
    expected: OPS_EXPECT,
    default: ['read', 'write', 'flush'] as BioOp[],
    flag: 'fail-ops',
    control: 'fail_make_request/ops',
    optional: true,
    doc: 'fault injection: which requests may fail',
    parse: viaFsError(parseOps),
    format: formatOps,
  } satisfies Knob<BioOp[]>,
  failSectors: {
    name: 'fail_make_request/sectors',
    type: 'range',
    unit: 'sectors',
    expected: SECTORS_EXPECT,
    default: undefined as SectorRange | undefined,
    flag: 'fail-sectors',
    control: 'fail_make_request/sectors',
    optional: true,
    doc: 'fault injection: only requests overlapping START-END (512-byte sectors, inclusive; default the whole device; flushes are not filtered)',
    parse: viaFsError(parseSectors),
    format: (r: SectorRange | undefined) => (r === undefined ? 'the whole device' : `${r.start}-${r.end}`),
  } satisfies Knob<SectorRange | undefined>,
  delayReadUs: intKnob({
    name: 'delay/read_us',
    unit: 'us',
    default: 0,
    rule: { min: 0, max: DELAY_US_MAX, base0: true },
    expected: DELAY_EXPECT,
    flag: 'delay-read-us',
    control: 'delay/read_us',
    optional: true,
    doc: 'microseconds added to the completion of each read request (like dm-delay)',
  }),
  delayWriteUs: intKnob({
    name: 'delay/write_us',
    unit: 'us',
    default: 0,
    rule: { min: 0, max: DELAY_US_MAX, base0: true },
    expected: DELAY_EXPECT,
    flag: 'delay-write-us',
    control: 'delay/write_us',
    optional: true,
    doc: 'microseconds added to the completion of each write request',
  }),
} as const;

export type KnobKey = keyof typeof KNOBS;

/** The table's rows, in order. */
export const KNOB_LIST: readonly Knob<unknown>[] = Object.values(KNOBS) as readonly Knob<unknown>[];

/** The knob whose control file is `.aheadfs/<path>`, if any. */
export function knobByControl(path: string): Knob<unknown> | undefined {
  return KNOB_LIST.find((k) => k.control === path);
}

/** A mount flag's value; a refusal is a UsageError `bad --<flag> '<text>': <reason>` (one line, exit 2). */
export function parseFlag<T>(knob: Knob<T>, text: string): T {
  try {
    return knob.parse(text);
  } catch (err) {
    if (err instanceof KnobError) throw new UsageError(`bad --${knob.flag ?? knob.name} '${text}': ${err.message}`);
    throw err;
  }
}

/**
 * A write to a knob's control file; a refusal is FsError EINVAL `<name>: <reason>, not "<text>"`
 * (the write fails with EINVAL; the message goes to kmsg).
 */
export function parseControl<T>(knob: Knob<T>, text: string): T {
  try {
    return knob.parse(text);
  } catch (err) {
    if (err instanceof KnobError) throw fsError('EINVAL', `${knob.name}: ${err.message}, not ${JSON.stringify(text.trim())}`);
    throw err;
  }
}
