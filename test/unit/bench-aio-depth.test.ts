import test from 'ava';
import { tmpdir } from 'node:os';
import { formatAioDepth, runAioDepth } from '../../src/bench/aio-depth.js';

// The kioctx bench (src/bench/aio-depth.ts) on a small file: no timed assertions (the
// figures belong to `npm run bench:aio`); what is checked is what it measured: every page
// read (and checked by the bench itself), one device read of 4 KiB per read with readahead
// off, and the depth reaching the device (time_in_queue / io_ticks).

test('aio-depth: alternating iodepth 1 and 16, each read one 4 KiB device read, 16 reads reach the device at once', async (t) => {
  const r = await runAioDepth({ tmpRoot: tmpdir(), fileBytes: 8 << 20, reads: 300, rounds: 2, depths: [1, 16], raPolicy: 'none', kernel: '6.18', trace: true, seed: 3 });
  t.deepEqual(
    r.runs.map((x) => `${x.round}:${x.target}:${x.depth}`),
    ['1:raw:1', '1:engine:1', '1:raw:16', '1:engine:16', '2:raw:1', '2:engine:1', '2:raw:16', '2:engine:16'],
  );
  for (const run of r.runs.filter((x) => x.target === 'engine')) {
    t.is(run.deviceReadsPerRead, 1, 'one device request per 4 KiB read: the cache was dropped, readahead is off');
    t.is(run.deviceBytesPerRead, 4096);
    t.is(run.queuedFraction, 1, 'every read waited for its page: none was served from the cache');
  }
  const inFlight = (depth: number): number => r.summary.find((s) => s.target === 'engine' && s.depth === depth)!.avgInFlight.median;
  t.true(inFlight(1) < 1.5, `iodepth 1: ${inFlight(1)} in flight`);
  t.true(inFlight(16) > 8, `iodepth 16: ${inFlight(16)} in flight`);
  t.regex(formatAioDepth(r), /engine: iodepth 16 \/ iodepth 1 = /);
});
