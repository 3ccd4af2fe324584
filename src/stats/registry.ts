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
const peak = (group: CounterGroup, unit: string, doc: string): CounterDef => ({ group, kind: 'peak', unit, doc });
const gauge = (group: CounterGroup, unit: string, doc: string): CounterDef => ({ group, kind: 'gauge', unit, doc });

export const COUNTERS = {
  // vfs: what applications asked for through the mount
  read_calls: counter('vfs', 'calls', 'read requests received from FUSE'),
  read_bytes: counter('vfs', 'bytes', 'bytes returned to readers'),
  write_calls: counter('vfs', 'calls', 'write requests received from FUSE'),
  write_bytes: counter('vfs', 'bytes', 'bytes accepted from writers'),
  open_files: gauge('vfs', 'files', 'files open now (FUSE handles)'),

  // page cache (mm/filemap.c, mm/swap.c, mm/vmscan.c)
  pgcache_hit: counter('pagecache', 'pages', 'page lookups in the read loop that found the page uptodate'),
  pgcache_miss: counter('pagecache', 'pages', 'page lookups in the read loop that found no page'),
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
  ra_context: counter('readahead', 'calls', 'context readahead decisions (cached history found)'),
  ra_random: counter('readahead', 'calls', 'small random reads read as is (ra state untouched)'),
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
  rq_inflight_max: peak('block', 'requests', 'most requests in flight on the device at once (a high-water mark)'),
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

type Values = { -readonly [K in CounterName]: number };

export class Stats {
  /** Counter values; increment directly (`stats.c.read_calls++`). Gauges read 0 here. */
  readonly c: Values;
  private readonly gauges = new Map<CounterName, () => number>();

  constructor() {
    this.c = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Values;
  }

  /** Register the function that reads a gauge. */
  gauge(name: CounterName, read: () => number): void {
    if (COUNTERS[name].kind !== 'gauge') throw new Error(`${name} is a counter, not a gauge`);
    this.gauges.set(name, read);
  }

  snapshot(): Record<CounterName, number> {
    const out = { ...this.c };
    for (const [name, read] of this.gauges) out[name] = read();
    return out;
  }

  /** `name value` per line, registry order, like /proc/vmstat. */
  format(): string {
    const snap = this.snapshot();
    return COUNTER_NAMES.map((n) => `${n} ${snap[n]}`).join('\n') + '\n';
  }

  reset(): void {
    for (const n of COUNTER_NAMES) this.c[n] = 0;
  }
}
