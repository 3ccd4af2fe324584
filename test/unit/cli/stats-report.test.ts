/**
 * statsReport / formatStatsReport (src/cli/stats-run.ts): deltas for counters, the end
 * value for peaks (the interval's) and gauges, rates over the elapsed time, derived figures
 * with null where the denominator is 0, and the exit status a shell would give.
 */
import test from 'ava';
import { formatStatsReport, shellStatus, statsReport } from '../../../src/cli/stats-run.js';

const run = { command: ['dd', 'if=f', 'bs=4k'], mountpoint: '/m', elapsedMs: 2000, exitStatus: 0, signal: null };

test('deltas, rates, the peak and gauges of the end sample, and the derived figures', (t) => {
  const before = new Map([['read_calls', 10], ['read_bytes', 4096], ['pgcache_hit', 5], ['rq_inflight_max', 9], ['pages_cached', 3]]);
  const after = new Map([
    ['read_calls', 30], ['read_bytes', 4096 + 81920], ['pgcache_hit', 20], ['pgcache_wait', 3], ['pgcache_miss', 2],
    ['disk_read_ios', 2], ['disk_read_bytes', 131072], ['ra_sync', 1], ['ra_async', 1], ['ra_initial', 1], ['ra_sequential', 1],
    ['ra_pages', 32], ['ra_hit', 16], ['rq_inflight_max', 2], ['pages_cached', 35],
  ]);
  const r = statsReport(before, after, run);
  t.is(r.counters.read_calls, 20);
  t.is(r.rates.read_calls, 10, 'per second over 2 s');
  t.is(r.peaks.rq_inflight_max, 2, "the interval's, not a delta");
  t.is(r.gauges.pages_cached, 35);
  t.false('rq_inflight_max' in r.counters);
  t.is(r.derived.pages_read, 15 + 3 + 2);
  t.is(r.derived.hit_ratio, 15 / 20);
  t.is(r.derived.wait_ratio, 3 / 20);
  t.is(r.derived.read_amplification, 131072 / 81920);
  t.is(r.derived.avg_read_bytes, 81920 / 20);
  t.is(r.derived.avg_disk_read_bytes, 65536);
  t.is(r.derived.ra_windows, 2);
  t.deepEqual(r.derived.ra_windows_by_reason, { initial: 1, sequential: 1, marker: 0, oversize: 0, context: 0, random: 0, forced: 0 });
  t.is(r.derived.ra_used_ratio, 0.5);
  const text = formatStatsReport(r);
  t.regex(text, /Counter stats for 'dd if=f bs=4k' on \/m:/);
  t.regex(text, /page cache hit ratio +75\.00 % +of 20 pages read: 15 hits, 3 waits, 2 misses/);
  t.regex(text, /readahead windows +2 +initial 1, sequential 1/);
  t.regex(text, /command exited with status 0\n$/);
});

test('nothing read: the ratios are null (shown as -), no division by zero', (t) => {
  const same = new Map([['read_calls', 4], ['rq_inflight_max', 0]]);
  const r = statsReport(same, same, { ...run, elapsedMs: 0 });
  t.is(r.derived.hit_ratio, null);
  t.is(r.derived.read_amplification, null);
  t.is(r.derived.avg_read_bytes, null);
  t.deepEqual(r.rates, {}, 'no rate over no time');
  t.regex(formatStatsReport(r), /\(no counter changed\)[\s\S]*page cache hit ratio +- /);
});

test('shellStatus: the code, or 128 + the signal number', (t) => {
  t.is(shellStatus(3, null), 3);
  t.is(shellStatus(null, 'SIGKILL'), 137);
  t.is(shellStatus(null, 'SIGINT'), 130);
});
