/**
 * The message ring (src/stats/kmsg.ts): bounded, numbered, ratelimited like
 * printk_ratelimited; fed by the block layer on a device error and by reclaim trouble; read back by
 * `aheadfs dmesg --follow` (KmsgFollower) without repeats and with losses counted; and
 * libfuse's own words picked out of the daemon's log.
 */

import test from 'ava';
import { KmsgFollower } from '../../../src/cli/dmesg.js';
import { RequestQueue } from '../../../src/block/queue.js';
import { libfuseReason } from '../../../src/fuse/log.js';
import { PAGE_SIZE } from '../../../src/mm/page.js';
import { filemapAddFolio, filemapWaitForMemory, PageCache } from '../../../src/mm/pagecache.js';
import { Kmsg, layerLog, parseKmsgLine, type KmsgRecord } from '../../../src/stats/kmsg.js';
import { Stats } from '../../../src/stats/registry.js';
import { Trace } from '../../../src/stats/trace.js';
import { ended, FakeDevice, mkBio, settle } from '../block/fake-device.js';
import { FakeFs } from '../mm/fake-fs.js';

function lines(k: Kmsg): KmsgRecord[] {
  return k
    .format()
    .trim()
    .split('\n')
    .map((l) => {
      const r = parseKmsgLine(l);
      if (r === undefined) throw new Error(`not a kmsg line: ${l}`);
      return r;
    });
}

test('the ring keeps the newest `capacity` records; seq keeps counting; a line parses back', (t) => {
  let now = 0;
  const k = new Kmsg({ capacity: 4, now: () => now });
  for (let i = 0; i < 10; i++) {
    now += 1.5;
    k.emit('warn', 'tunables', `message ${i}\nsecond line`);
  }
  const r = lines(k);
  t.deepEqual(r.map((x) => x.seq), [6, 7, 8, 9]);
  t.deepEqual(r[0], { seq: 6, usec: 10_500, level: 'warn', subsystem: 'tunables', message: 'message 6 | second line' });
});

test('ratelimited: 10 per key in 5 s, then one line saying how many were suppressed', (t) => {
  let now = 0;
  const k = new Kmsg({ now: () => now });
  for (let i = 0; i < 25; i++) k.ratelimited('io', 'err', 'blk', () => `error ${i}`);
  k.emit('info', 'mount', 'other keys are not held back');
  t.is(k.records().length, 11);
  now = 5000;
  k.ratelimited('io', 'err', 'blk', () => 'error after the window');
  const last = k.records().slice(-2).map((r) => r.message);
  t.deepEqual(last, ['15 messages like the next suppressed (ratelimit)', 'error after the window']);
});

test('a device error reaches kmsg as a block-layer err line (and the log)', async (t) => {
  const kmsg = new Kmsg();
  const logged: string[] = [];
  const dev = new FakeDevice();
  const q = new RequestQueue(dev, { stats: new Stats(), trace: new Trace(8), scheduler: 'none', log: layerLog((m) => logged.push(m), kmsg) });
  const e = ended();
  q.submitBio(mkBio('read', 0, 8, e));
  dev.complete(undefined, new Error('disk on fire'));
  await settle();
  t.deepEqual(e.statuses, ['EIO']);
  t.is(logged.length, 1);
  const r = kmsg.records();
  t.is(r.length, 1);
  t.like(r[0], { level: 'err', subsystem: 'blk' });
  t.regex(r[0]!.message, /read of 8 sectors at 0 failed: .*disk on fire/);
});

test('KmsgFollower: each record once, and the records the ring dropped between two reads counted', (t) => {
  const rec = (seq: number): KmsgRecord => ({ seq, usec: seq, level: 'info', subsystem: 's', message: `m${seq}` });
  const f = new KmsgFollower();
  t.deepEqual(f.take([0, 1, 2].map(rec)), { records: [0, 1, 2].map(rec), lost: 0 });
  t.deepEqual(f.take([1, 2, 3].map(rec)), { records: [rec(3)], lost: 0 });
  t.deepEqual(f.take([3].map(rec)), { records: [], lost: 0 });
  t.deepEqual(f.take([7, 8].map(rec)), { records: [7, 8].map(rec), lost: 3 });
});

test("libfuse's own words are picked out of the log, between the daemon's lines", (t) => {
  const log = [
    '2026-12-01T17:07:00.300Z [19022] mounting',
    'fuse: mountpoint is not empty',
    "fuse: if you are sure this is safe, use the 'nonempty' mount option",
    '2026-12-01T17:07:00.406Z [19022] mount failed: Error: fuse failed',
    '    at /x/node_modules/fuse-native/index.js:352:21',
    '',
  ].join('\n');
  t.is(libfuseReason(log), "mountpoint is not empty; if you are sure this is safe, use the 'nonempty' mount option");
  t.is(libfuseReason('2026-12-01T17:07:00.406Z [19022] only ours\n'), '');
});

test('reclaim trouble: waiting for a pinned folio is a warn line, nothing to wait for (ENOMEM) an err line', (t) => {
  const kmsg = new Kmsg();
  const bdi = { raPages: 0, ioPages: 32, readCongested: () => false };
  const cache = new PageCache({ cacheBytes: 4 * PAGE_SIZE, stats: new Stats(), trace: new Trace(16), bdi, kmsg });
  t.false(filemapWaitForMemory(cache, () => undefined), 'nothing pinned: waiting would not help');
  t.like(kmsg.records().at(-1), { level: 'err', subsystem: 'mm' });
  t.regex(kmsg.records().at(-1)!.message, /no free page frame after reclaim and none pinned by I\/O: ENOMEM/);
  const mapping = cache.mapping({ ino: 9, size: 16 * PAGE_SIZE }, new FakeFs(16 * PAGE_SIZE));
  for (let i = 0; i < 4; i++) t.is(filemapAddFolio(mapping, i, 0).kind, 'added'); // locked: pinned
  t.is(filemapAddFolio(mapping, 4, 0).kind, 'nomem');
  t.true(filemapWaitForMemory(cache, () => undefined));
  t.like(kmsg.records().at(-1), { level: 'warn', subsystem: 'mm' });
  t.regex(kmsg.records().at(-1)!.message, /waiting for a folio under I\/O \(locked\) \(ino 9 index \d\)/);
});
