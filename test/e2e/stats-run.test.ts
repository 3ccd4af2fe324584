/**
 * `aheadfs stats <mnt> -- <command...>` through the real binary on real mounts: the
 * report's deltas and derived figures over a cold dd under both kernels (the page
 * counters add up to the pages read, the windows by reason to ra_sync + ra_async), its
 * high-water marks are those of the run (not since mount), and the command's exit
 * status, stdout and refusals are passed on as a shell user expects.
 */
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StatsReport } from '../../src/cli/stats-run.js';
import { expectOneLine } from '../helpers/cli.js';
import { control, dropCaches, readStats, waitForIdleDevice } from '../helpers/control.js';
import { withMount } from '../helpers/mount.js';

const FILE_BYTES = 8 << 20;

async function report(path: string): Promise<StatsReport> {
  return JSON.parse(await readFile(path, 'utf8')) as StatsReport;
}

for (const kernel of ['4.18', '6.18']) {
  test(`--kernel ${kernel}: a cold dd: hit + wait + miss = the pages read, windows by reason add up, peaks of the run`, async (t) => {
    await withMount(t, { mountArgs: ['--kernel', kernel] }, async (mnt, ctx) => {
      const file = join(mnt, 'data');
      await writeFile(file, Buffer.alloc(FILE_BYTES, 7));
      // Several readers at once fill the device queue: a since-mount rq_inflight_max > 1.
      await dropCaches(mnt); // syncs first: the file's writeback may set a since-mount peak of its own
      const before = (await readStats(mnt)).rq_inflight_max!;
      const par = await ctx.cli(['stats', mnt, '-o', join(ctx.tmp, 'par.json'), '--json', '--', 'sh', '-c', `for i in 1 2 3 4 5 6; do dd if=${file} of=/dev/null bs=128k skip=$((i*8)) count=8 status=none & done; wait`]);
      t.is(par.code, 0, par.stderr);
      const sinceMount = (await readStats(mnt)).rq_inflight_max!;
      const parPeak = (await report(join(ctx.tmp, 'par.json'))).peaks.rq_inflight_max!;
      t.true(parPeak > 1, `requests in flight at once in the parallel run: ${parPeak}`);
      t.is(sinceMount, Math.max(before, parPeak), `the since-mount mark is the larger of the run's (${parPeak}) and the one before it (${before})`);

      // A cold dd bs=4k, 2 ms per device read so that the reader meets pages in flight.
      await waitForIdleDevice(mnt);
      await dropCaches(mnt);
      await control(mnt, 'delay/read_us', '2000');
      const out = join(ctx.tmp, 'dd.json');
      const r = await ctx.cli(['stats', mnt, '--json', '--output', out, '--', 'dd', `if=${file}`, 'of=/dev/null', 'bs=4k']);
      t.is(r.code, 0, r.stderr);
      const rep = await report(out);
      const c = rep.counters;
      t.deepEqual(rep.command, ['dd', `if=${file}`, 'of=/dev/null', 'bs=4k']);
      t.is(rep.exit_status, 0);
      t.is(c.read_bytes, FILE_BYTES, 'what dd read, and nothing else');
      t.is(c.pgcache_hit! + c.pgcache_wait! + c.pgcache_miss!, FILE_BYTES / 4096, `hit ${c.pgcache_hit} + wait ${c.pgcache_wait} + miss ${c.pgcache_miss}`);
      t.true(c.pgcache_wait! > 0, 'the reader caught up with readahead in flight');
      t.is(rep.derived.pages_read, FILE_BYTES / 4096);
      t.is(rep.derived.hit_ratio, c.pgcache_hit! / rep.derived.pages_read);
      const byReason = Object.values(rep.derived.ra_windows_by_reason).reduce((a, b) => a + b, 0);
      t.is(byReason, c.ra_sync! + c.ra_async!, JSON.stringify(rep.derived.ra_windows_by_reason));
      t.true(rep.derived.ra_windows_by_reason.initial >= 1 && rep.derived.ra_windows_by_reason.sequential >= 1);
      t.is(rep.derived.read_amplification, c.disk_read_bytes! / c.read_bytes!);
      t.is(c.read_calls, FILE_BYTES / 4096 + 1, "dd's reads, and the one that met EOF");
      t.is(rep.derived.avg_read_bytes, c.read_bytes! / c.read_calls!);
      // One sequential reader: at most a few requests at once, fewer than the parallel run's.
      t.true(rep.peaks.rq_inflight_max! >= 1 && rep.peaks.rq_inflight_max! <= sinceMount, `peak of the run ${rep.peaks.rq_inflight_max}`);

      // Nothing happens during `true`: no counter moves, and the peak is this run's, 0.
      await control(mnt, 'delay/read_us', '0');
      await waitForIdleDevice(mnt);
      const idle = await ctx.cli(['stats', mnt, '--json', '-o', join(ctx.tmp, 'idle.json'), '--', 'true']);
      t.is(idle.code, 0, idle.stderr);
      const quiet = await report(join(ctx.tmp, 'idle.json'));
      t.is(quiet.peaks.rq_inflight_max, 0, 'not the since-mount mark');
      t.is(quiet.counters.rq_dispatch, 0);
      t.is((await readStats(mnt)).rq_inflight_max, sinceMount, 'the since-mount mark is untouched');
    });
  });
}

test('the text report on stderr, the command keeps stdout; its exit status is ours; bad input is refused before anything runs', async (t) => {
  await withMount(t, {}, async (mnt, ctx) => {
    await writeFile(join(mnt, 'f'), Buffer.alloc(64 << 10, 1));
    const r = await ctx.cli(['stats', mnt, '--', 'sh', '-c', `cat ${join(mnt, 'f')} | wc -c; exit 3`]);
    t.is(r.code, 3, 'the command exit status');
    t.is(r.stdout, '65536\n', "the command's own output, alone");
    t.regex(r.stderr, /Counter stats for 'sh -c .*' on /);
    t.regex(r.stderr, /^ +read_bytes +65536 +bytes/m);
    t.regex(r.stderr, /^ +rq_inflight_max +\d+ +requests$/m);
    t.regex(r.stderr, /^ +page cache hit ratio +[\d.]+ % +of 16 pages read: \d+ hits, \d+ waits, \d+ misses$/m);
    t.regex(r.stderr, /seconds time elapsed/);
    t.regex(r.stderr, /command exited with status 3\n$/);

    const killed = await ctx.cli(['stats', mnt, '--', 'sh', '-c', 'kill -TERM $$']);
    t.is(killed.code, 128 + 15);
    t.regex(killed.stderr, /command killed by SIGTERM\n$/);

    expectOneLine(t, await ctx.cli(['stats', mnt, '--', 'no-such-command-here']), 127, /cannot run 'no-such-command-here': command not found/);

    const marker = join(ctx.tmp, 'ran');
    const notMounted = await ctx.cli(['stats', ctx.tmp, '--', 'touch', marker]);
    expectOneLine(t, notMounted, 2, /is not a mounted aheadfs/);
    await t.throwsAsync(readFile(marker), { code: 'ENOENT' }, 'the command did not run');
    expectOneLine(t, await ctx.cli(['stats', mnt, '--watch', '1', '--', 'true']), 2, /--watch and a command do not go together/);
    expectOneLine(t, await ctx.cli(['stats', mnt, '--']), 2, /give the command to measure after --/);
    expectOneLine(t, await ctx.cli(['stats', mnt, '-o', join(ctx.tmp, 'x')]), 2, /--output goes with a command/);
  });
});
