import test from 'ava';
import type { BioOp } from '../../../src/block/bio.js';
import { DS } from '../../../src/block/diskstats.js';
import { DD_FIFO_BATCH, DD_READ_EXPIRE_MS, DD_WRITES_STARVED, MqDeadline } from '../../../src/block/mq-deadline.js';
import { rqAlloc, type DataDir, type Request } from '../../../src/block/request.js';
import { harness, mkBio } from './fake-device.js';

/** A bare mq-deadline plus a factory for requests (a queue is needed only as the owner). */
function setup() {
  const { q } = harness();
  const merges: DataDir[] = [];
  const dd = new MqDeadline({ maxSectors: () => 2560, merged: (d) => merges.push(d) });
  const rq = (op: BioOp, sector: number, sectors = 8, now = 0): Request => rqAlloc(q, mkBio(op, sector, sectors), now);
  const drainOrder = (now: number, n = Infinity): string[] => {
    const out: string[] = [];
    for (let r = dd.dispatch(now); r; r = out.length < n ? dd.dispatch(now) : undefined) out.push(`${r.op[0]}${r.sector}`);
    return out;
  };
  return { dd, rq, merges, drainOrder };
}

test('a batch starts at the fifo head and continues in sector order', (t) => {
  const { dd, rq, drainOrder } = setup();
  for (const s of [8, 100, 50]) dd.insert(rq('read', s), 0);
  t.deepEqual(drainOrder(0), ['r8', 'r50', 'r100']);
  t.is(dd.count(), 0);
});

test('with no request after the last one in sector order, restart from the fifo head', (t) => {
  const { dd, rq, drainOrder } = setup();
  for (const s of [100, 8, 50]) dd.insert(rq('read', s), 0);
  // 100 is the oldest; nothing lies above it, so the next pick is the fifo head again (8).
  t.deepEqual(drainOrder(0), ['r100', 'r8', 'r50']);
});

/** H at 1000 (oldest), L at 0 (next oldest), then 30 requests above H (with gaps: no merging). */
function expirySetup() {
  const s = setup();
  s.dd.insert(s.rq('read', 1000), 0);
  s.dd.insert(s.rq('read', 0), 1);
  for (let i = 0; i < 30; i++) s.dd.insert(s.rq('read', 2000 + 16 * i), 2);
  return s;
}

test('fifo_batch: a batch runs 16 in sector order even past an expired deadline', (t) => {
  const { dd, drainOrder } = expirySetup();
  t.is(DD_FIFO_BATCH, 16);
  const first = drainOrder(2, 1);
  t.deepEqual(first, ['r1000']);
  // L expired long ago (1 + 500), yet the batch goes on in sector order.
  const batch = drainOrder(10_000, 15);
  t.deepEqual(batch, Array.from({ length: 15 }, (_, i) => `r${2000 + 16 * i}`));
  // Batch over and the fifo head (L) has expired: restart from it.
  t.deepEqual(drainOrder(10_000, 2), ['r0', `r${2000 + 16 * 15}`]);
  t.is(dd.count(), 30 - 16);
});

test('after a batch, an unexpired fifo does not interrupt the sector order', (t) => {
  const { drainOrder } = expirySetup();
  const order = drainOrder(2, 17);
  t.is(order[16], `r${2000 + 16 * 15}`, 'the 17th continues upward; L (sector 0) has not expired');
  t.true(2 < 1 + DD_READ_EXPIRE_MS);
});

test('reads are preferred, but writes go after writes_starved read batches', (t) => {
  const { dd, rq, drainOrder } = setup();
  t.is(DD_WRITES_STARVED, 2);
  dd.insert(rq('write', 5000), 0); // the oldest request of all
  // Gaps between the reads, or they would insert-merge into one request.
  for (let i = 0; i < 50; i++) dd.insert(rq('read', 100 + 16 * i), 0);
  const order = drainOrder(1);
  t.is(order[0], 'r100', 'reads first although the write is older');
  // Two read batches of 16 starve the write twice; the third choice goes to writes.
  t.is(order.indexOf('w5000'), 2 * DD_FIFO_BATCH);
  t.is(order.length, 51);
  // After the write, reads restart from their fifo head.
  t.is(order[2 * DD_FIFO_BATCH + 1], `r${100 + 16 * 32}`);
});

test('only writes queued: they are sent with no starvation delay', (t) => {
  const { dd, rq, drainOrder } = setup();
  for (const s of [300, 100, 200]) dd.insert(rq('write', s), 0);
  t.deepEqual(drainOrder(0), ['w300', 'w100', 'w200']);
});

test('a bio back-merges into a queued request, which then absorbs its neighbour', (t) => {
  const { dd, rq, merges } = setup();
  const a = rq('read', 0);
  const c = rq('read', 16);
  dd.insert(a, 0);
  dd.insert(c, 0);
  t.true(dd.bioMerge(mkBio('read', 8, 8)));
  t.deepEqual(merges, ['read', 'read'], 'the bio merge and the request merge');
  t.is(dd.count(), 1);
  const r = dd.dispatch(0)!;
  t.is(r, a);
  t.is(r.nrSectors, 24);
  t.is(r.bios.length, 3);
});

test('a bio front-merges into a queued request (front_merges on)', (t) => {
  const { dd, rq, merges } = setup();
  dd.insert(rq('write', 64), 0);
  t.true(dd.bioMerge(mkBio('write', 56, 8)));
  t.false(dd.bioMerge(mkBio('read', 48, 8)), 'other direction');
  t.false(dd.bioMerge(mkBio('write', 32, 8)), 'gap');
  t.deepEqual(merges, ['write']);
  const r = dd.dispatch(0)!;
  t.is(r.sector, 56);
  t.is(r.nrSectors, 16);
});

test('no scheduler merge beyond max_sectors', (t) => {
  const { q } = harness();
  const dd = new MqDeadline({ maxSectors: () => 16, merged: () => t.fail('no merge expected') });
  dd.insert(rqAlloc(q, mkBio('read', 0, 16), 0), 0);
  t.false(dd.bioMerge(mkBio('read', 16, 8)));
  dd.insert(rqAlloc(q, mkBio('read', 16, 8), 0), 0);
  t.is(dd.count(), 2);
});

test('an inserted request back-merges into a queued one (insert merge)', (t) => {
  const { dd, rq, merges } = setup();
  dd.insert(rq('read', 0), 0);
  dd.insert(rq('read', 8), 0);
  t.is(dd.count(), 1);
  t.deepEqual(merges, ['read']);
});

test('through the queue: scheduler merges count elv_merge and diskstats merges', (t) => {
  const h = harness({ nrRequests: 1 });
  h.q.submitBio(mkBio('read', 5000, 8)); // takes the only tag
  h.q.submitBio(mkBio('read', 0, 8));
  h.q.submitBio(mkBio('read', 16, 8));
  h.q.submitBio(mkBio('read', 8, 8)); // fills the gap: bio merge + request merge
  h.q.submitBio(mkBio('write', 24, 8)); // other direction
  t.is(h.stats.c.elv_merge, 2);
  t.is(h.q.queuedCount(), 2);
  t.is(h.q.diskstats()[DS.readMerges], 2);
  t.is(h.q.diskstats()[DS.writeMerges], 0);
});

test('write_expire: an expired write fifo head interrupts the sector order after a batch', (t) => {
  const { dd, rq, drainOrder } = setup();
  dd.insert(rq('write', 1000), 0);
  dd.insert(rq('write', 0), 1); // expires at 5001
  for (let i = 0; i < 40; i++) dd.insert(rq('write', 2000 + 16 * i), 2);
  t.deepEqual(drainOrder(2, 16).slice(0, 2), ['w1000', 'w2000']);
  // At 5000 w0 is the oldest but not expired: the next batch continues upward.
  t.deepEqual(drainOrder(5000, 16), Array.from({ length: 16 }, (_, i) => `w${2000 + 16 * (15 + i)}`));
  // At 5001 it has expired: the next batch restarts from it, then goes on upward.
  t.deepEqual(drainOrder(5001, 2), ['w0', `w${2000 + 16 * 31}`]);
});

test('two merged requests keep the earlier deadline', (t) => {
  const { dd, rq } = setup();
  const c = rq('read', 16);
  dd.insert(c, 0); // fifo_time 500
  const a = rq('read', 0, 8, 1000);
  dd.insert(a, 1000); // fifo_time 1500
  t.true(dd.bioMerge(mkBio('read', 8, 8)));
  t.is(dd.count(), 1);
  t.is(a.fifoTime, 500);
  t.is(a.startMs, 0, 'the survivor is as old as the older one');
});
