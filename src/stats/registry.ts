/**
 * The counter registry: every counter aheadfs keeps, in one place, with its unit and a
 * doc line (like /proc/vmstat's names, but documented). `stats`, `stats.json`, the CLI's
 * tables and the README table all come from this list; a test checks the README against it.
 *
 * A counter is a plain number field on `Stats.c`, so the hot path increments it with
 * `stats.c.pgcache_hit++` (no map lookup, no allocation). A gauge is a value read from
 * its owner when a snapshot is taken (`stats.gauge('pages_free', () => ...)`).
 */

export type CounterGroup = 'vfs' | 'pagecache' | 'readahead' | 'block' | 'device';

export interface CounterDef {
  readonly group: CounterGroup;
  /**
   * counter: only goes up, so a rate means something; peak: a high-water mark kept by the
   * code like a counter, but not a rate; gauge: read from a function when sampled.
   */
  readonly kind: 'counter' | 'peak' | 'gauge';
  readonly unit: string;
  readonly doc: string;
}

const counter = (group: CounterGroup, unit: string, doc: string): CounterDef => ({ group, kind: 'counter', unit, doc });
const peak = (group: CounterGroup, unit: string, doc: string): CounterDef & { readonly kind: 'peak' } => ({ group, kind: 'peak', unit, doc });
const gauge = (group: CounterGroup, unit: string, doc: string): CounterDef => ({ group, kind: 'gauge', unit, doc });

export const COUNTERS = {
  // vfs: what applications asked for through the mount
  read_calls: counter('vfs', 'calls', 'read requests received from FUSE'),
  read_bytes: counter('vfs', 'bytes', 'bytes returned to readers'),
  write_calls: counter('vfs', 'calls', 'write requests received from FUSE'),
  write_bytes: counter('vfs', 'bytes', 'bytes accepted from writers'),
  open_files: gauge('vfs', 'files', 'files open now (FUSE handles)'),
  aio_submit: counter('vfs', 'iocbs', 'iocbs taken by io_submit (in-process kioctx)'),
  aio_inline: counter('vfs', 'iocbs', 'kioctx reads done before io_submit returned (every page cached and uptodate)'),
  aio_queued: counter('vfs', 'iocbs', 'kioctx reads that started I/O and waited on the folio wait queues'),
  aio_eagain: counter('vfs', 'iocbs', 'kioctx reads with RWF_NOWAIT answered -EAGAIN (a page not cached; no I/O started)'),
  aio_cancel: counter('vfs', 'iocbs', 'kioctx reads cancelled while waiting for I/O (io_cancel, io_destroy)'),

  // page cache (mm/filemap.c, mm/swap.c, mm/vmscan.c)
  pgcache_hit: counter('pagecache', 'pages', 'pages of reads that the read loop found uptodate in the cache (hit + wait + miss = pages read, each counted once)'),
  pgcache_miss: counter('pagecache', 'pages', 'pages of reads that the read loop found missing from the cache'),
  pgcache_wait: counter('pagecache', 'pages', 'pages of reads that the read loop found cached but not uptodate (their read in flight: it waits)'),
  pages_cached: gauge('pagecache', 'pages', 'pages in the page cache now'),
  pages_free: gauge('pagecache', 'pages', 'free page frames now'),
  pages_total: gauge('pagecache', 'pages', 'page frames in the arena (cache size / 4 KiB)'),
  pgactivate: counter('pagecache', 'pages', 'pages promoted from the inactive to the active list'),
  pgdeactivate: counter('pagecache', 'pages', 'pages moved from the active to the inactive list'),
  pgsteal: counter('pagecache', 'pages', 'clean pages reclaimed to free a frame'),
  readpage_ios: counter('pagecache', 'pages', 'single pages read with readpage (no readahead)'),
  page_waits: counter('pagecache', 'waits', 'reads that had to wait on a locked page'),
  nr_dirty: gauge('pagecache', 'pages', 'dirty pages now, not yet being written back (writeback mounts)'),
  nr_writeback: gauge('pagecache', 'pages', 'pages being written back now (data or its metadata commit in flight)'),
  nr_dirty_peak: peak('pagecache', 'pages', 'most dirty + writeback pages at once (a high-water mark; never above the dirty limit)'),
  wb_pages: counter('pagecache', 'pages', 'pages written back (pgpgout-style; data and metadata done)'),
  wb_bytes: counter('pagecache', 'bytes', 'bytes written back (pages x 4 KiB)'),
  wb_batches: counter('pagecache', 'batches', 'writeback batches: one plug of bios, then one metadata commit'),
  wb_errors: counter('pagecache', 'pages', 'pages whose writeback failed (EIO, ENOSPC): reported by the next fsync'),
  dirty_throttle: counter('pagecache', 'events', 'writes that waited in balance_dirty_pages (dirty + writeback at the dirty limit)'),

  // readahead (mm/readahead.c)
  ra_sync: counter('readahead', 'calls', 'synchronous readahead decisions that submitted I/O'),
  ra_async: counter('readahead', 'calls', 'asynchronous readahead decisions (PG_readahead hit) that submitted I/O'),
  ra_pages: counter('readahead', 'pages', 'pages submitted by readahead'),
  ra_hit: counter('readahead', 'pages', 'readahead pages later read by someone'),
  ra_wasted: counter('readahead', 'pages', 'readahead pages reclaimed or dropped before anyone read them'),
  ra_initial: counter('readahead', 'windows', 'windows by reason (the reasons add up to ra_sync + ra_async): initial, at the start of the file or on a sequential miss'),
  ra_sequential: counter('readahead', 'windows', 'windows by reason: sequential, the expected marker reached (the window moves on and ramps up)'),
  ra_marker: counter('readahead', 'windows', 'windows by reason: marker, a PG_readahead page hit without matching state (interleaved streams)'),
  ra_oversize: counter('readahead', 'windows', 'windows by reason: oversize, a read larger than the readahead maximum'),
  ra_context: counter('readahead', 'windows', 'windows by reason: context, sized from the cached history before the read'),
  ra_random: counter('readahead', 'windows', 'windows by reason: random, a small random read read as is (ra state untouched)'),
  ra_forced: counter('readahead', 'windows', 'windows by reason: forced, 6.18 with read_ahead_kb 0 (force_page_cache_ra of the page the read needs)'),
  ra_marker_bail: counter('readahead', 'calls', 'PG_readahead hits that found no hole within ra_pages and did nothing'),
  ra_congested: counter('readahead', 'calls', 'async readahead skipped because the request queue was congested'),
  ra_eio_shrink: counter('readahead', 'calls', 'read errors that divided a file\'s ra_pages by 4'),

  // block layer (block/blk-core.c, block/mq-deadline.c)
  bio_submit: counter('block', 'bios', 'bios submitted'),
  bio_split: counter('block', 'bios', 'bios split at max_sectors_kb'),
  plug_merge: counter('block', 'bios', 'bios merged into a plugged request'),
  plug_flush: counter('block', 'flushes', 'plug flushes into the scheduler'),
  elv_merge: counter('block', 'bios', 'requests merged by the I/O scheduler'),
  rq_dispatch: counter('block', 'requests', 'requests dispatched to the device'),
  rq_complete: counter('block', 'requests', 'requests completed (by the device, or failed by fault injection)'),
  rq_inflight_max: peak('block', 'requests', 'most requests in flight on the device at once: since mount in `stats`, since the reader\'s previous read in `stats_interval` (a high-water mark)'),
  queue_congested: counter('block', 'events', 'times the queue reached 7/8 of nr_requests in flight'),
  fail_injected: counter('block', 'requests', 'requests failed with EIO by fail_make_request (fault injection) instead of reaching the device'),
  wait_page: counter('block', 'waits', 'entries added to the page wait table'),
  wake_page: counter('block', 'wakes', 'wait entries woken because their page and bit matched'),
  wake_spurious: counter('block', 'wakes', 'wait entries skipped on a wake because they wait for another page or bit'),

  // device: the block files on disk, or the NBD export
  disk_read_ios: counter('device', 'ios', 'read system calls on the block files, or NBD_CMD_READ commands sent (retries included)'),
  disk_read_bytes: counter('device', 'bytes', 'bytes read from the device'),
  disk_write_ios: counter('device', 'ios', 'write system calls on the block files, or NBD_CMD_WRITE commands sent (retries included)'),
  disk_write_bytes: counter('device', 'bytes', 'bytes written to the device'),
  disk_flushes: counter('device', 'flushes', 'fdatasync calls on block files, or NBD_CMD_FLUSH commands'),
  disk_errors: counter('device', 'ios', 'device I/Os that failed (surfaced as EIO)'),
  direct_io: gauge('device', 'bool', '1 when the block files are opened with O_DIRECT (always 1 over NBD: no client cache), 0 after fallback to buffered I/O'),
  nbd_reconnects: counter('device', 'events', 'NBD: times the connections were made again after one was lost'),
  nbd_retries: counter('device', 'commands', 'NBD: commands sent again after their connection was lost'),
} as const satisfies Record<string, CounterDef>;

export type CounterName = keyof typeof COUNTERS;
export const COUNTER_NAMES = Object.keys(COUNTERS) as CounterName[];
/** The high-water marks (kind 'peak'). */
export type PeakName = { [K in CounterName]: (typeof COUNTERS)[K]['kind'] extends 'peak' ? K : never }[CounterName];
export const PEAK_NAMES = COUNTER_NAMES.filter((n): n is PeakName => COUNTERS[n].kind === 'peak');

type Values = { -readonly [K in CounterName]: number };
type Peaks = Record<PeakName, number>;

/**
 * One reader's interval (see Stats.openInterval). `take()` returns a snapshot of every
 * counter in which each high-water mark is the highest level since this interval's
 * previous take (or its opening), and starts the next interval at the level of now.
 */
export interface StatsInterval {
  take(): Record<CounterName, number>;
  /** Stop tracking (the reader is gone). */
  close(): void;
}

export class Stats {
  /** Counter values; increment directly (`stats.c.read_calls++`). Gauges read 0 here. */
  readonly c: Values;
  private readonly gauges = new Map<CounterName, () => number>();
  /** The current level of each high-water mark (what a new interval starts from); 0 if none registered. */
  private readonly levels = new Map<PeakName, () => number>();
  /**
   * The open intervals' own high-water marks. Invariant: each value >= the level of its
   * mark at the interval's start; raised by peak(), never lowered but by take().
   */
  private intervals: Peaks[] = [];

  constructor() {
    this.c = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Values;
  }

  /** Register the function that reads a gauge. */
  gauge(name: CounterName, read: () => number): void {
    if (COUNTERS[name].kind !== 'gauge') throw new Error(`${name} is a counter, not a gauge`);
    this.gauges.set(name, read);
  }

  /** Register the function that reads the current level of a high-water mark (queue depth now). */
  peakLevel(name: PeakName, read: () => number): void {
    this.levels.set(name, read);
  }

  /**
   * The level of a high-water mark went to `level`: raise the since-mount mark and every
   * open interval's. Cheap: a compare, plus one per open interval (usually none).
   */
  peak(name: PeakName, level: number): void {
    if (level > this.c[name]) this.c[name] = level;
    const ivs = this.intervals;
    for (let i = 0; i < ivs.length; i++) if (level > ivs[i]![name]) ivs[i]![name] = level;
  }

  private levelsNow(): Peaks {
    return Object.fromEntries(PEAK_NAMES.map((n) => [n, this.levels.get(n)?.() ?? 0])) as Peaks;
  }

  /**
   * A reader's own interval for the high-water marks, so that `aheadfs stats -- cmd` and
   * `--watch` see the peaks of their own interval and two readers never reset each
   * other's (the since-mount marks in `stats` are not touched).
   */
  openInterval(): StatsInterval {
    let marks: Peaks | undefined = this.levelsNow();
    this.intervals.push(marks);
    return {
      take: () => {
        const out = this.snapshot();
        if (marks === undefined) return out;
        for (const n of PEAK_NAMES) {
          out[n] = marks[n];
          marks[n] = this.levels.get(n)?.() ?? 0;
        }
        return out;
      },
      close: () => {
        this.intervals = this.intervals.filter((m) => m !== marks);
        marks = undefined;
      },
    };
  }

  snapshot(): Record<CounterName, number> {
    const out = { ...this.c };
    for (const [name, read] of this.gauges) out[name] = read();
    return out;
  }

  /** `name value` per line, registry order, like /proc/vmstat. */
  format(values: Record<CounterName, number> = this.snapshot()): string {
    return COUNTER_NAMES.map((n) => `${n} ${values[n]}`).join('\n') + '\n';
  }

  reset(): void {
    for (const n of COUNTER_NAMES) this.c[n] = 0;
  }
}
