import test from 'ava';
import { DISKSTATS_FIELDS, DS, formatDiskstats, iostatX } from '../../../src/block/diskstats.js';
import { blkFinishPlug, blkStartPlug } from '../../../src/block/plug.js';
import { harness, mkBio, settle } from './fake-device.js';

test.serial('fields after a known sequence: merges, sectors, ticks from creation, io_ticks, time_in_queue', async (t) => {
  const h = harness({ scheduler: 'none' });
  // t=0: two adjacent reads merge in the plug; the plug is finished at t=5.
  const plug = blkStartPlug();
  h.q.submitBio(mkBio('read', 0, 8));
  h.q.submitBio(mkBio('read', 8, 8));
  h.clock.t = 5;
  blkFinishPlug(plug);
  t.is(h.q.diskstats()[DS.inFlight], 1);
  // t=10: a write joins; both in flight until t=20 (read done) and t=40 (write done).
  h.clock.t = 10;
  h.q.submitBio(mkBio('write', 100, 16));
  t.is(h.q.diskstats()[DS.inFlight], 2);
  h.clock.t = 20;
  h.dev.complete(h.dev.ios[0]);
  await settle();
  h.clock.t = 40;
  h.dev.complete(h.dev.ios[1]);
  await settle();
  // t=50..60: one more read, idle gap before it.
  h.clock.t = 50;
  h.q.submitBio(mkBio('read', 500, 8));
  h.clock.t = 60;
  t.is(h.q.diskstats()[DS.ioTicks], 35 + 10, 'io_ticks counts a request still in flight');
  h.dev.complete();
  await settle();

  const f = h.q.diskstats();
  t.is(f.length, DISKSTATS_FIELDS);
  t.deepEqual(f, [
    2, 1, 24, 20 + 10, // reads: ticks 20 (created at 0, plug time counts) + 10
    1, 0, 16, 30, // writes
    0, // in_flight
    45, // io_ticks: busy 5..40 and 50..60; 0..5 (only plugged) and 40..50 do not count
    60, // time_in_queue: 20 + 30 + 10
    0, 0, 0, 0, // discards
    0, 0, // flushes
  ]);
});

test('formatDiskstats: 17 fields, %8 wide, one space apart, newline', (t) => {
  const f = Array.from({ length: DISKSTATS_FIELDS }, (_, i) => i * 1000);
  const line = formatDiskstats(f);
  t.true(line.endsWith('\n'));
  t.is(line.length, 17 * 8 + 16 + 1);
  t.is(line.slice(0, 18), '       0     1000 ');
  t.deepEqual(line.trim().split(/\s+/).map(Number), f);
});

test('iostatX: the iostat -x formulas', (t) => {
  const prev = new Array<number>(DISKSTATS_FIELDS).fill(0);
  prev[DS.readIos] = 100;
  const cur = [...prev];
  // Over 2 s: 200 reads, 50 read merges, 3200 sectors (1600 kB), 1000 ms read ticks;
  // 10 writes, 0 merges, 80 sectors, 300 ms; busy 1500 ms; time in queue 2600 ms.
  cur[DS.readIos] = 300;
  cur[DS.readMerges] = 50;
  cur[DS.readSectors] = 3200;
  cur[DS.readTicks] = 1000;
  cur[DS.writeIos] = 10;
  cur[DS.writeSectors] = 80;
  cur[DS.writeTicks] = 300;
  cur[DS.ioTicks] = 1500;
  cur[DS.timeInQueue] = 2600;
  const x = iostatX(prev, cur, 2000);
  t.is(x.rPerS, 100);
  t.is(x.rkBPerS, 800);
  t.is(x.rrqmPerS, 25);
  t.is(x.rrqmPct, 20);
  t.is(x.rAwait, 5);
  t.is(x.rareqSz, 8);
  t.is(x.wPerS, 5);
  t.is(x.wkBPerS, 20);
  t.is(x.wrqmPerS, 0);
  t.is(x.wrqmPct, 0);
  t.is(x.wAwait, 30);
  t.is(x.wareqSz, 4);
  t.is(x.aquSz, 1.3);
  t.is(x.utilPct, 75);
});

test('iostatX: idle interval gives zeros, not NaN; %util capped at 100; reset counters clamp', (t) => {
  const z = new Array<number>(DISKSTATS_FIELDS).fill(0);
  for (const v of Object.values(iostatX(z, z, 1000))) t.is(v, 0);
  const busy = [...z];
  busy[DS.ioTicks] = 1010;
  t.is(iostatX(z, busy, 1000).utilPct, 100);
  t.is(iostatX(busy, z, 1000).utilPct, 0);
  for (const v of Object.values(iostatX(z, z, 0))) t.false(Number.isNaN(v));
});
