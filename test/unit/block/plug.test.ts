import test from 'ava';
import { bioAlloc } from '../../../src/block/bio.js';
import { DS } from '../../../src/block/diskstats.js';
import { BLK_MAX_REQUEST_COUNT, blkFinishPlug, blkStartPlug, currentPlug } from '../../../src/block/plug.js';
import { submitBio } from '../../../src/block/queue.js';
import { ended, harness, mkBio, settle } from './fake-device.js';

// The current plug is module-level (the submitter's run is the task), so these run one at a
// time: one of them deliberately leaves a plug open across an await.

test.serial('back merge in the plug: two adjacent reads become one request', async (t) => {
  const h = harness({ scheduler: 'none' });
  h.dev.auto = true;
  const e = ended();
  const plug = blkStartPlug();
  submitBio(h.q, mkBio('read', 0, 8, e));
  submitBio(h.q, mkBio('read', 8, 8, e));
  t.is(plug!.mqList.length, 1);
  t.is(h.dev.ios.length, 0, 'nothing reaches the device while plugged');
  blkFinishPlug(plug);
  t.deepEqual(h.dev.summary(), ['r0+16']);
  t.is(h.stats.c.plug_merge, 1);
  t.is(h.stats.c.plug_flush, 1);
  await settle();
  t.is(e.bios.length, 2, 'each merged bio gets its own endIo');
  t.deepEqual(e.statuses, [undefined, undefined]);
  t.is(h.q.diskstats()[DS.readMerges], 1);
  t.is(h.q.diskstats()[DS.readIos], 1);
});

test.serial('front merge in the plug: a bio ending where the request starts goes in front', async (t) => {
  const h = harness({ scheduler: 'none' });
  h.dev.auto = true;
  const a = new Uint8Array(4096).fill(1);
  const b = new Uint8Array(4096).fill(2);
  const plug = blkStartPlug();
  submitBio(h.q, bioAlloc('read', 8, [a], () => {}));
  submitBio(h.q, bioAlloc('read', 0, [b], () => {}));
  blkFinishPlug(plug);
  t.deepEqual(h.dev.summary(), ['r0+16']);
  t.deepEqual(h.dev.ios[0]!.segments, [b, a], 'segments in device order');
  t.is(h.stats.c.plug_merge, 1);
  await settle();
});

test.serial('no plug merge across a gap, across directions, or beyond max_sectors_kb', async (t) => {
  const h = harness({ scheduler: 'none', maxSectorsKb: 8 });
  h.dev.auto = true;
  const plug = blkStartPlug();
  submitBio(h.q, mkBio('read', 0, 8)); // [0,8)
  submitBio(h.q, mkBio('read', 16, 8)); // gap at [8,16)
  submitBio(h.q, mkBio('write', 24, 8)); // adjacent to [16,24) but a write
  submitBio(h.q, mkBio('read', 100, 8));
  submitBio(h.q, mkBio('read', 108, 8)); // merges: 16 sectors = 8 KiB, the limit
  submitBio(h.q, mkBio('read', 116, 8)); // would make 12 KiB > 8: no merge
  blkFinishPlug(plug);
  t.deepEqual(h.dev.summary(), ['r0+8', 'r16+8', 'w24+8', 'r100+16', 'r116+8']);
  t.is(h.stats.c.plug_merge, 1);
  t.is(h.stats.c.elv_merge, 0);
  await settle();
});

test.serial('the plug is flushed before the 17th request is added', (t) => {
  const h = harness({ scheduler: 'none' });
  t.is(BLK_MAX_REQUEST_COUNT, 16);
  const plug = blkStartPlug();
  for (let i = 0; i < 16; i++) submitBio(h.q, mkBio('read', i * 16, 8));
  t.is(h.stats.c.plug_flush, 0);
  t.is(h.dev.ios.length, 0);
  submitBio(h.q, mkBio('read', 1000, 8));
  t.is(h.stats.c.plug_flush, 1);
  t.is(h.dev.ios.length, 16, 'the first 16 went to the queue');
  t.is(plug!.mqList.length, 1, 'the 17th waits in the plug');
  blkFinishPlug(plug);
  t.is(h.stats.c.plug_flush, 2);
  t.is(h.dev.ios.length, 17);
  t.is(h.trace.read().filter((l) => l.startsWith('plug flush requests=16 reason=full')).length, 1);
});

test.serial('plug flush sorts requests by sector', (t) => {
  const h = harness({ scheduler: 'none' });
  const plug = blkStartPlug();
  for (const s of [64, 0, 200, 32]) submitBio(h.q, mkBio('read', s, 8));
  blkFinishPlug(plug);
  t.deepEqual(h.dev.summary(), ['r0+8', 'r32+8', 'r64+8', 'r200+8']);
});

test.serial('without a plug, none dispatches in arrival order', (t) => {
  const h = harness({ scheduler: 'none' });
  for (const s of [64, 0, 200, 32]) submitBio(h.q, mkBio('read', s, 8));
  t.deepEqual(h.dev.summary(), ['r64+8', 'r0+8', 'r200+8', 'r32+8']);
  t.is(h.stats.c.plug_flush, 0);
});

test.serial('nested plugs are ignored; the outer finish flushes', (t) => {
  const h = harness({ scheduler: 'none' });
  const outer = blkStartPlug();
  const inner = blkStartPlug();
  t.is(inner, undefined);
  submitBio(h.q, mkBio('read', 0, 8));
  blkFinishPlug(inner);
  t.is(h.dev.ios.length, 0);
  t.is(currentPlug(), outer);
  blkFinishPlug(outer);
  t.is(currentPlug(), undefined);
  t.is(h.dev.ios.length, 1);
});

test.serial('a plug left open when the run awaits is flushed and dropped (like a sleeping task)', async (t) => {
  const h = harness({ scheduler: 'none' });
  const plug = blkStartPlug();
  submitBio(h.q, mkBio('read', 0, 8));
  await Promise.resolve();
  t.is(currentPlug(), undefined);
  t.deepEqual(h.dev.summary(), ['r0+8']);
  t.true(h.trace.read().some((l) => l.startsWith('plug flush requests=1 reason=schedule')));
  blkFinishPlug(plug); // late finish: nothing left, nothing happens
  t.is(h.stats.c.plug_flush, 1);
});

test.serial('plugged requests of two queues go to their own queue', (t) => {
  const a = harness({ scheduler: 'none' });
  const b = harness({ scheduler: 'none' });
  const plug = blkStartPlug();
  submitBio(a.q, mkBio('read', 0, 8));
  submitBio(b.q, mkBio('read', 8, 8)); // adjacent, but another queue: no merge
  submitBio(a.q, mkBio('read', 8, 8));
  blkFinishPlug(plug);
  t.deepEqual(a.dev.summary(), ['r0+16']);
  t.deepEqual(b.dev.summary(), ['r8+8']);
});
