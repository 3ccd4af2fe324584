/**
 * Property test of the page cache's bookkeeping with folios of mixed orders: random adds
 * (any order, aligned), removals, splits, drop_caches and reclaim under a small arena,
 * checked after every step against the invariants of pagecache.ts:
 *   - every index of every folio maps to that folio, and nothing else is mapped;
 *   - mapping.nrPages / nrFolios, the LRU's page and folio totals agree with the folios;
 *   - cached pages + free frames = the arena; no two folios share a frame.
 */
import test from 'ava';
import fc from 'fast-check';
import type { Folio } from '../../../src/mm/folio.js';
import { PAGE_SIZE, PG_locked } from '../../../src/mm/page.js';
import { filemapAddFolio, filemapGetFolio, filemapRemoveFolio, folioEndRead, splitFolio } from '../../../src/mm/pagecache.js';
import { folioUnlock } from '../../../src/mm/wait.js';
import { rig } from './fake-fs.js';

type Op =
  | { op: 'add'; index: number; order: number; lock: boolean }
  | { op: 'remove'; pick: number }
  | { op: 'split'; pick: number }
  | { op: 'drop' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), index: fc.nat(63), order: fc.integer({ min: 0, max: 4 }), lock: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('split' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const) }) },
);

test('property: i_pages, LRU and arena stay consistent under random folio operations', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 4, max: 40 }), fc.array(opArb, { maxLength: 80 }), (frames, ops) => {
      const { mapping, cache } = rig({ frames, size: 64 * PAGE_SIZE });
      const folios = (): Folio[] => [...mapping.folios()].sort((a, b) => a.index - b.index);
      for (const o of ops) {
        const live = folios();
        if (o.op === 'add') {
          const index = o.index - (o.index % (1 << o.order));
          if (o.order > cache.frames.maxOrder) continue;
          const r = filemapAddFolio(mapping, index, o.order);
          if (r.kind === 'exists') {
            if (r.folio.index + r.folio.nrPages <= index || r.folio.index >= index + (1 << o.order)) return false;
          } else if (r.kind === 'added') {
            if (!o.lock) folioEndRead(r.folio, true);
          }
        } else if (o.op === 'remove' && live.length > 0) {
          const f = live[o.pick % live.length]!;
          if (f.has(PG_locked)) folioUnlock(f);
          filemapRemoveFolio(f);
        } else if (o.op === 'split' && live.length > 0) {
          const f = live[o.pick % live.length]!;
          const wasLocked = f.has(PG_locked);
          const n = f.nrPages;
          if (!wasLocked) f.set(PG_locked);
          const pieces = splitFolio(f);
          if (!wasLocked) folioUnlock(f);
          if (pieces.length !== n || pieces.some((p, i) => p.index !== f.index + i || p.order !== 0)) return false;
        } else if (o.op === 'drop') {
          cache.dropCaches();
        }
        // Invariants.
        const now = folios();
        let pages = 0;
        const frameOwner = new Map<number, Folio>();
        for (const f of now) {
          if (f.index % f.nrPages !== 0 || f.frame % f.nrPages !== 0) return false;
          for (let i = 0; i < f.nrPages; i++) {
            if (filemapGetFolio(mapping, f.index + i) !== f) return false;
            if (frameOwner.has(f.frame + i)) return false;
            frameOwner.set(f.frame + i, f);
          }
          if (f.data.byteLength !== f.nrPages * PAGE_SIZE || f.data.byteOffset !== f.frame * PAGE_SIZE) return false;
          pages += f.nrPages;
        }
        if (mapping.pages.size !== pages || mapping.nrPages !== pages || mapping.nrFolios !== now.length) return false;
        if (cache.lruvec.nrPages !== pages || cache.lruvec.nrFolios !== now.length) return false;
        if (cache.frames.nrFree + pages !== frames) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});
