/**
 * fail_make_request (lib/fault-inject.c semantics: probability, interval, times, space,
 * verbose), our ops/sectors filters, and the delay, on the request queue with the fake
 * device: an injected failure never reaches the device and completes through the normal
 * completion path.
 */

import test from 'ava';
import { DS } from '../../../src/block/diskstats.js';
import { BlkFaults, parseOps, parseSectors, seededRng, type FaultTarget } from '../../../src/block/fault-inject.js';
import { isFsError } from '../../../src/errors.js';
import { ended, harness, mkBio, settle } from './fake-device.js';

const read4k = (sector: number): FaultTarget => ({ op: 'read', sector, nrSectors: 8 });

/** Which of `n` 4 KiB reads fail (1-based call numbers). */
function failing(f: BlkFaults, n: number, target: (i: number) => FaultTarget = (i) => read4k(i * 8)): number[] {
  const out: number[] = [];
  for (let i = 1; i <= n; i++) if (f.shouldFailRequest(target(i))) out.push(i);
  return out;
}

test('times: at most `times` failures, counted down; -1 means no limit', (t) => {
  const f = new BlkFaults({ config: { probability: 100, times: 2, verbose: 0 } });
  t.deepEqual(failing(f, 5), [1, 2]);
  t.is(f.get('times'), 0);
  f.set('times', -1);
  t.deepEqual(failing(f, 4), [1, 2, 3, 4]);
  t.is(f.get('times'), -1, 'never counted down');
});

test('the kernel defaults fail one request, then none (times 1)', (t) => {
  const f = new BlkFaults();
  t.deepEqual(failing(f, 3), [], 'probability 0: off');
  f.set('verbose', 0);
  f.set('probability', 100);
  t.deepEqual(failing(f, 3), [1]);
});

test('interval: only every interval-th call that passed the other tests fails', (t) => {
  const f = new BlkFaults({ config: { probability: 100, times: -1, interval: 3, verbose: 0 } });
  t.deepEqual(failing(f, 10), [3, 6, 9]);
  f.set('interval', 4); // as in the kernel the count goes on: 10 so far, failures at 12 and 16
  t.deepEqual(failing(f, 8), [2, 6]);
});

test('space: a budget of bytes let through first; once it is <= the size, failures start and it stays', (t) => {
  const f = new BlkFaults({ config: { probability: 100, times: -1, space: 10_000, verbose: 0 } });
  t.deepEqual(failing(f, 5), [3, 4, 5], '10000 -> 5904 -> 1808, then 1808 <= 4096');
  t.is(f.get('space'), 10_000 - 2 * 4096, 'not decremented below the request size (the kernel keeps it)');
});

test('probability: a seeded generator decides each call as the kernel does (prob <= random 0..99 lets it pass)', (t) => {
  const seed = 1234;
  const f = new BlkFaults({ rng: seededRng(seed), config: { probability: 30, times: -1, verbose: 0 } });
  const got = failing(f, 2000);
  const draws = seededRng(seed);
  const expected: number[] = [];
  for (let i = 1; i <= 2000; i++) if (Math.floor(draws() * 100) < 30) expected.push(i);
  t.deepEqual(got, expected);
  t.true(got.length > 500 && got.length < 700, `about 30% of 2000, got ${got.length}`);
  const again = new BlkFaults({ rng: seededRng(seed), config: { probability: 30, times: -1, verbose: 0 } });
  t.deepEqual(failing(again, 2000), got, 'same seed, same failures');
});

test('probability 0 turns it off without consuming times, space or the interval count', (t) => {
  const f = new BlkFaults({ config: { probability: 0, times: 1, space: 4096, interval: 2, verbose: 0 } });
  t.deepEqual(failing(f, 10), []);
  t.is(f.get('times'), 1);
  t.is(f.get('space'), 4096);
  f.set('probability', 100);
  t.deepEqual(failing(f, 4), [2], 'space still full (4096 is not > 4096), interval count from zero');
});

test('ops and sectors select requests; unselected ones touch no counter', (t) => {
  const f = new BlkFaults({ config: { probability: 100, times: 2, verbose: 0, ops: ['write'], sectors: { start: 100, end: 107 } } });
  t.false(f.shouldFailRequest({ op: 'read', sector: 100, nrSectors: 8 }), 'a read is not selected');
  t.false(f.shouldFailRequest({ op: 'write', sector: 108, nrSectors: 8 }), 'after the range');
  t.false(f.shouldFailRequest({ op: 'write', sector: 92, nrSectors: 8 }), 'ends at 99, before the range');
  t.false(f.shouldFailRequest({ op: 'flush', sector: 0, nrSectors: 0 }), 'a flush is not selected');
  t.is(f.get('times'), 2);
  t.true(f.shouldFailRequest({ op: 'write', sector: 93, nrSectors: 8 }), 'its last sector is 100');
  t.true(f.shouldFailRequest({ op: 'write', sector: 107, nrSectors: 64 }), 'its first sector is 107');
  f.setOps(['flush']);
  f.set('times', 1);
  t.true(f.shouldFailRequest({ op: 'flush', sector: 0, nrSectors: 0 }), 'a flush has no sectors: ops alone select it');
});

test('bad values are refused with EINVAL and change nothing', (t) => {
  const f = new BlkFaults({ config: { probability: 5, times: 3 } });
  const einval = (fn: () => void): void => {
    const err = t.throws(fn);
    t.true(isFsError(err, 'EINVAL'), String(err));
  };
  einval(() => f.set('probability', 101));
  einval(() => f.set('probability', 1.5));
  einval(() => f.set('times', -2));
  einval(() => f.set('interval', -1));
  einval(() => f.set('space', -1));
  einval(() => f.set('verbose', 3));
  einval(() => f.setDelayUs('read', -1));
  einval(() => f.setOps([]));
  einval(() => f.setSectors({ start: 9, end: 8 }));
  einval(() => f.configure({ probability: 50, times: -7 }));
  einval(() => parseOps('read,discard'));
  einval(() => parseOps(' , '));
  einval(() => parseSectors('8'));
  einval(() => parseSectors('0x10-20'));
  einval(() => parseSectors('20-10'));
  t.deepEqual(f.config(), { probability: 5, interval: 1, times: 3, space: 0, verbose: 2, ops: ['read', 'write', 'flush'], sectors: undefined, readUs: 0, writeUs: 0 });
  t.deepEqual(parseOps('write, read write'), ['write', 'read']);
  t.deepEqual(parseSectors(' 0-7\n'), { start: 0, end: 7 });
});

test('verbose: 0 says nothing, 1 one line per failure, 2 also the call trace', (t) => {
  const logs: string[] = [];
  const f = new BlkFaults({ log: (m) => logs.push(m), config: { probability: 100, times: -1, verbose: 0 } });
  failing(f, 2);
  t.deepEqual(logs, []);
  f.set('verbose', 1);
  failing(f, 2);
  t.is(logs.length, 2);
  t.regex(logs[0]!, /^fail_make_request: forcing a failure: read sector=8 bytes=4096 \(interval 1, probability 100, space 0, times -1\)$/);
  f.set('verbose', 2);
  failing(f, 1);
  t.is(logs.length, 4);
  t.regex(logs[3]!, /call trace:\n\s+at /);
});

test('an injected failure skips the device and completes the request through the normal path', async (t) => {
  const h = harness({ scheduler: 'none', nrRequests: 1 });
  h.q.faults.configure({ probability: 100, times: 1, verbose: 0, ops: ['read'] });
  const e = ended();
  h.q.submitBio(mkBio('write', 64, 8, e)); // holds the only tag: the reads queue and merge
  h.q.submitBio(mkBio('read', 0, 8, e));
  h.q.submitBio(mkBio('read', 8, 8, e));
  t.is(h.dev.ios.length, 1, 'only the write is on the device');
  h.dev.complete();
  await settle();
  await settle();
  t.deepEqual(h.dev.summary(), ['w64+8'], 'the failed read request never reached the device');
  t.deepEqual(e.statuses, [undefined, 'EIO', 'EIO'], 'both bios of the merged request end with EIO');
  t.is(h.stats.c.fail_injected, 1);
  t.is(h.stats.c.rq_dispatch, 2);
  t.is(h.stats.c.rq_complete, 2);
  t.is(h.q.diskstats()[DS.readIos], 1, 'accounted like any completed request');
  t.is(h.q.inFlightCount(), 0, 'the tag was freed');
  const lines = h.trace.read();
  const inject = lines.findIndex((l) => l.startsWith('rq inject op=read sector=0 bytes=8192 status=EIO'));
  const complete = lines.findIndex((l) => l.startsWith('rq complete op=read sector=0 bytes=8192 status=EIO'));
  t.true(inject >= 0 && complete > inject, lines.join('\n'));
  t.is(h.logs.length, 0, 'no device-error line for an injected failure');
  // times was 1: the queue goes on, the next read reaches the device.
  h.q.submitBio(mkBio('read', 16, 8, e));
  t.deepEqual(h.dev.summary(), ['w64+8', 'r16+8']);
  h.dev.complete();
  await settle();
  t.deepEqual(e.statuses, [undefined, 'EIO', 'EIO', undefined]);
});

test('delay: read_us is added to the completion and to the read ticks; writes keep their own', async (t) => {
  const h = harness({ scheduler: 'none' });
  h.q.faults.configure({ readUs: 5000, writeUs: 0 });
  const e = ended();
  h.q.submitBio(mkBio('read', 0, 8, e));
  h.q.submitBio(mkBio('write', 64, 8, e));
  h.clock.t = 1;
  h.dev.completeAll();
  await settle();
  t.deepEqual(e.statuses, [undefined], 'the write completed, the read is held');
  t.is(h.q.inFlightCount(), 1, 'a delayed request keeps its tag');
  h.clock.t = 5.5; // 4.5 ms after the device finished: still held
  await new Promise((r) => setTimeout(r, 10));
  t.is(e.bios.length, 1);
  h.clock.t = 6; // 5 ms after the device
  await new Promise((r) => setTimeout(r, 20));
  t.is(e.bios.length, 2);
  t.is(e.bios[1]!.op, 'read');
  const ds = h.q.diskstats();
  t.is(ds[DS.readTicks], 6, 'creation at 0, completion at 6 ms');
  t.is(ds[DS.writeTicks], 1);
});
