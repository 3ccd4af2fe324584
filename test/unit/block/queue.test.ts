import test from 'ava';
import { bioAlloc } from '../../../src/block/bio.js';
import { inIoCompletion } from '../../../src/block/completion.js';
import { DS } from '../../../src/block/diskstats.js';
import { RequestQueue } from '../../../src/block/queue.js';
import { isFsError } from '../../../src/errors.js';
import { Stats } from '../../../src/stats/registry.js';
import { Trace } from '../../../src/stats/trace.js';
import { ended, FakeDevice, harness, mkBio, settle } from './fake-device.js';

/** Reads 16 sectors apart (never merge). */
function submitReads(h: ReturnType<typeof harness>, n: number, e = ended()): void {
  for (let i = 0; i < n; i++) h.q.submitBio(mkBio('read', i * 16, 8, e));
}

test('requests are dispatched concurrently, up to nr_requests in flight', async (t) => {
  const h = harness({ nrRequests: 4 });
  const e = ended();
  submitReads(h, 10, e);
  t.is(h.dev.pending().length, 4, 'four on the device at once, none completed');
  t.is(h.q.inFlightCount(), 4);
  t.is(h.q.queuedCount(), 6);
  t.is(h.q.diskstats()[DS.inFlight], 4);
  h.dev.complete();
  await settle();
  t.is(e.bios.length, 1);
  t.is(h.dev.ios.length, 5, 'a freed tag dispatches the next request');
  t.is(h.dev.pending().length, 4);
  t.is(h.stats.c.rq_dispatch, 5);
  t.is(h.stats.c.rq_complete, 1);
});

test('congested at 7/8 of nr_requests in flight, counted once per episode', async (t) => {
  const h = harness({ nrRequests: 8 });
  submitReads(h, 6);
  t.false(h.q.congested());
  submitReads(h, 1);
  t.true(h.q.congested(), '7 of 8 in flight');
  t.is(h.stats.c.queue_congested, 1);
  h.q.submitBio(mkBio('read', 5000, 8));
  t.is(h.stats.c.queue_congested, 1, 'still the same congestion episode');
  h.dev.complete();
  h.dev.complete();
  await settle();
  t.false(h.q.congested());
  h.q.submitBio(mkBio('read', 6000, 8));
  t.true(h.q.congested());
  t.is(h.stats.c.queue_congested, 2);
});

test('a device error ends every bio of the request with EIO and does not stop the queue', async (t) => {
  const h = harness({ nrRequests: 1, scheduler: 'none' });
  const e = ended();
  h.q.submitBio(mkBio('read', 0, 8, e));
  h.q.submitBio(mkBio('read', 8, 8, e)); // queued: [0,8) holds the only tag
  h.q.submitBio(mkBio('read', 16, 8, e)); // back-merges into the queued [8,16)
  h.dev.complete(undefined, new Error('disk on fire'));
  await settle();
  t.deepEqual(e.statuses, ['EIO']);
  t.is(h.dev.ios.length, 2);
  t.is(h.dev.ios[1]!.bytes, 16 * 512);
  h.dev.complete(undefined, new Error('again'));
  await settle();
  t.deepEqual(e.statuses, ['EIO', 'EIO', 'EIO']);
  t.is(h.q.diskstats()[DS.readIos], 2, 'failed requests are still I/Os');
  t.is(h.logs.length, 2);
  h.q.submitBio(mkBio('read', 100, 8, e));
  t.is(h.dev.ios.length, 3, 'the queue still works');
});

test('a throwing endIo is reported and does not wedge the queue', async (t) => {
  const h = harness({ nrRequests: 1 });
  h.q.submitBio(
    bioAlloc('read', 0, [new Uint8Array(512)], () => {
      throw new Error('buggy endIo');
    }),
  );
  h.q.submitBio(mkBio('read', 100, 1));
  h.dev.complete();
  await settle();
  t.is(h.dev.ios.length, 2);
  t.regex(h.logs.join('\n'), /buggy endIo/);
});

test('invalid bios end with EIO asynchronously and never reach the device', async (t) => {
  const h = harness();
  h.dev.nrSectors = 1000;
  const e = ended();
  h.q.submitBio(mkBio('read', 996, 8, e)); // beyond the end
  h.q.submitBio(bioAlloc('read', 0, [new Uint8Array(100)], (b) => e.statuses.push(b.status))); // unaligned
  h.q.submitBio(mkBio('write', -8, 8, e));
  t.deepEqual(e.statuses, [], 'endIo never runs inside submitBio');
  await settle();
  t.deepEqual(e.statuses, ['EIO', 'EIO', 'EIO']);
  t.is(h.dev.ios.length, 0);
});

test('a flush bio calls dev.flush and is counted in the flush fields', async (t) => {
  const h = harness();
  const e = ended();
  h.q.submitBio(bioAlloc('flush', 0, [], (b) => e.statuses.push(b.status)));
  t.deepEqual(h.dev.summary(), ['f0+0']);
  h.clock.t = 7;
  h.dev.complete();
  await settle();
  t.deepEqual(e.statuses, [undefined]);
  const ds = h.q.diskstats();
  t.is(ds[DS.flushIos], 1);
  t.is(ds[DS.flushTicks], 7);
  t.is(ds[DS.writeIos], 0);
});

test('tunable setters validate and throw EINVAL', (t) => {
  const h = harness();
  const einval = (fn: () => void): void => {
    const err = t.throws(fn);
    t.true(isFsError(err, 'EINVAL'), String(err));
  };
  for (const n of [0, -1, 4097, 1.5, NaN]) einval(() => h.q.setNrRequests(n));
  for (const n of [0, 2, 6, 32772, 8.5]) einval(() => h.q.setMaxSectorsKb(n));
  for (const s of ['', 'cfq', 'bfq', 'None']) einval(() => h.q.setScheduler(s));
  h.q.setNrRequests(4096);
  h.q.setMaxSectorsKb(4);
  h.q.setMaxSectorsKb(32768);
  t.is(h.q.nrRequests, 4096);
  t.is(h.q.maxSectorsKb, 32768);
  einval(() => new RequestQueue(new FakeDevice(), { stats: new Stats(), trace: new Trace(8), nrRequests: 0 }));
});

test('schedulerString brackets the active scheduler; the default is mq-deadline', (t) => {
  const h = harness();
  t.is(h.q.schedulerString(), 'none [mq-deadline]');
  h.q.setScheduler('none');
  t.is(h.q.schedulerString(), '[none] mq-deadline');
  t.is(h.q.scheduler, 'none');
});

test('switching scheduler at run time moves queued requests; none is lost', async (t) => {
  const h = harness({ nrRequests: 1 });
  const e = ended();
  submitReads(h, 6, e);
  t.is(h.q.queuedCount(), 5);
  h.q.setScheduler('none');
  t.is(h.q.queuedCount(), 5);
  h.q.setScheduler('mq-deadline');
  t.is(h.q.queuedCount(), 5);
  for (let i = 0; i < 6; i++) {
    h.dev.complete();
    await settle();
  }
  t.is(e.bios.length, 6);
  t.deepEqual(e.bios.map((b) => b.sector).sort((a, b) => a - b), [0, 16, 32, 48, 64, 80]);
  t.true(h.trace.read().some((l) => l.startsWith('rq scheduler from=mq-deadline to=none moved=5')));
});

test('raising nr_requests dispatches waiting requests at once', (t) => {
  const h = harness({ nrRequests: 2 });
  submitReads(h, 5);
  t.is(h.dev.ios.length, 2);
  h.q.setNrRequests(4);
  t.is(h.dev.ios.length, 4);
});

test('drain resolves when nothing is queued or in flight', async (t) => {
  const h = harness({ nrRequests: 2 });
  await h.q.drain(); // idle: at once
  submitReads(h, 3);
  let drained = false;
  void h.q.drain().then(() => (drained = true));
  h.dev.complete();
  h.dev.complete();
  await settle();
  t.false(drained, 'the third request is still in flight');
  h.dev.complete();
  await settle();
  t.true(drained);
});

test('trace lines for submit, dispatch and complete', async (t) => {
  const h = harness();
  h.q.submitBio(mkBio('read', 8, 8));
  h.dev.complete();
  await settle();
  const lines = h.trace.read();
  t.regex(lines[0]!, /^bio submit op=read sector=8 bytes=4096 t=\d+$/);
  t.regex(lines[1]!, /^rq dispatch op=read sector=8 bytes=4096 inflight=1 t=\d+$/);
  t.regex(lines[2]!, /^rq complete op=read sector=8 bytes=4096 status=ok ms=0\.000 t=\d+$/);
  t.regex(lines[3]!, /^bio complete op=read sector=8 bytes=4096 status=ok t=\d+$/);
  h.trace.enabled = false;
  h.q.submitBio(mkBio('read', 80, 8));
  t.is(h.trace.read().length, 4);
});

test('counters: bio_submit, rq_dispatch, rq_complete', async (t) => {
  const h = harness();
  h.dev.auto = true;
  submitReads(h, 3);
  await settle();
  t.is(h.stats.c.bio_submit, 3);
  t.is(h.stats.c.rq_dispatch, 3);
  t.is(h.stats.c.rq_complete, 3);
});

test('none: a bio merges behind or in front of one of the 8 newest queued requests, within max_sectors', async (t) => {
  const h = harness({ nrRequests: 1, scheduler: 'none', maxSectorsKb: 16 });
  h.q.submitBio(mkBio('read', 1000, 8)); // holds the only tag: everything below queues
  for (let i = 0; i < 9; i++) h.q.submitBio(mkBio('read', i * 100, 8)); // [0,8) [100,108) ... [800,808)
  h.q.submitBio(mkBio('read', 808, 8)); // back merge into [800,808)
  h.q.submitBio(mkBio('read', 92, 8)); // front merge into [100,108)
  h.q.submitBio(mkBio('read', 8, 8)); // [0,8) is the 9th newest: past the scan, a request of its own
  h.q.submitBio(mkBio('read', 816, 24)); // [800,816) + 24 > 32 sectors: too big, its own request
  t.is(h.stats.c.elv_merge, 2);
  const order: string[] = [];
  for (let i = 0; i < 12; i++) {
    order.push(h.dev.pending().map((io) => `${io.sector}+${io.bytes / 512}`)[0]!);
    h.dev.complete();
    await settle();
  }
  t.deepEqual(order, ['1000+8', '0+8', '92+16', '200+8', '300+8', '400+8', '500+8', '600+8', '700+8', '800+16', '8+8', '816+24']);
});

test('bio_endio runs every endIo in the I/O completion context, also for a bio refused at submit', async (t) => {
  const h = harness({ scheduler: 'none' });
  const seen: boolean[] = [];
  h.q.submitBio(bioAlloc('read', 0, [new Uint8Array(4096)], () => seen.push(inIoCompletion())));
  h.dev.complete();
  await settle();
  h.q.submitBio(bioAlloc('read', 1, [new Uint8Array(100)], () => seen.push(inIoCompletion()))); // unaligned: EIO
  await settle();
  t.deepEqual(seen, [true, true]);
  t.false(inIoCompletion(), 'left again afterwards');
});

test("a device with transfer() gets the queue's reads and writes through it (callback form), flushes still through flush()", async (t) => {
  const calls: string[] = [];
  const pending: ((err: unknown) => void)[] = [];
  const dev = {
    read: (): Promise<void> => Promise.reject(new Error('read() must not be used when transfer() exists')),
    write: (): Promise<void> => Promise.reject(new Error('write() must not be used when transfer() exists')),
    flush: (): Promise<void> => {
      calls.push('flush');
      return Promise.resolve();
    },
    transfer(op: 'read' | 'write', sector: number, segments: Uint8Array[], done: (err: unknown) => void): void {
      calls.push(`${op}${sector}+${segments.reduce((n, s) => n + s.byteLength, 0) / 512}`);
      pending.push(done);
    },
  };
  const stats = new Stats();
  const q = new RequestQueue(dev, { stats, trace: new Trace(64), log: () => undefined });
  const e = ended();
  q.submitBio(mkBio('read', 0, 8, e));
  q.submitBio(mkBio('write', 64, 8, e));
  q.submitBio(mkBio('flush', 0, 0, e));
  await settle();
  t.deepEqual(calls.sort(), ['flush', 'read0+8', 'write64+8']);
  t.is(pending.length, 2);
  pending[0]!(undefined);
  pending[1]!(new Error('device says no'));
  await settle();
  t.is(e.bios.length, 3);
  t.deepEqual(e.statuses.slice().sort(), ['EIO', undefined, undefined].sort(), 'the failed transfer ends its bio with EIO, the others succeed');
  t.is(stats.c.rq_complete, 3);
});
