import test from 'ava';
import { bioAlloc, type Bio } from '../../../src/block/bio.js';
import { bioSplit } from '../../../src/block/split.js';
import { harness, settle } from './fake-device.js';

function filled(bytes: number, base: number): Uint8Array {
  const u = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) u[i] = (base + Math.floor(i / 512)) & 0xff;
  return u;
}

test('a bio over max_sectors_kb is split; parts carry the right bytes; the parent ends once', async (t) => {
  const h = harness({ scheduler: 'none', maxSectorsKb: 8 });
  const seg0 = filled(12 * 1024, 0); // sectors 0..23
  const seg1 = filled(8 * 1024, 24); // sectors 24..39
  const ends: (string | undefined)[] = [];
  h.q.submitBio(bioAlloc('read', 1000, [seg0, seg1], (b) => ends.push(b.status)));
  t.deepEqual(h.dev.summary(), ['r1000+16', 'r1016+16', 'r1032+8']);
  t.is(h.stats.c.bio_split, 2);
  t.is(h.stats.c.bio_submit, 1);
  // The middle part is the tail of seg0 plus the head of seg1, as views (no copies).
  const mid = h.dev.ios[1]!.segments;
  t.is(mid.length, 2);
  t.is(mid[0]!.buffer, seg0.buffer);
  t.is(mid[0]![0], 16);
  t.is(mid[1]![0], 24);
  h.dev.complete();
  h.dev.complete();
  await settle();
  t.deepEqual(ends, [], 'parent waits for the last part');
  h.dev.complete();
  await settle();
  t.deepEqual(ends, [undefined]);
});

test('a failed part fails the parent with EIO, still exactly once', async (t) => {
  const h = harness({ scheduler: 'none', maxSectorsKb: 4 });
  const ends: (string | undefined)[] = [];
  h.q.submitBio(bioAlloc('write', 0, [new Uint8Array(12 * 1024)], (b) => ends.push(b.status)));
  t.is(h.dev.ios.length, 3);
  h.dev.complete(h.dev.ios[0], new Error('boom'));
  h.dev.complete(h.dev.ios[1]);
  await settle();
  t.deepEqual(ends, []);
  h.dev.complete(h.dev.ios[2]);
  await settle();
  t.deepEqual(ends, ['EIO']);
});

test('bioSplit leaves a bio within the limit alone', (t) => {
  const bio: Bio = bioAlloc('read', 0, [new Uint8Array(8192)], () => {});
  t.deepEqual(bioSplit(bio, 16), [bio]);
  t.is(bioSplit(bio, 8).length, 2);
});
