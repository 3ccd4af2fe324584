import test from 'ava';
import type { Folio } from '../../../src/mm/folio.js';
import { filemapAddFolio, filemapGetFolio, type AddressSpace } from '../../../src/mm/pagecache.js';
import { folioMarkAccessed } from '../../../src/mm/lru.js';
import { PG_active, PG_dirty, PG_lru, PG_raunread, PG_referenced, PG_uptodate, PG_writeback } from '../../../src/mm/page.js';
import { folioUnlock } from '../../../src/mm/wait.js';
import { addFolio, rig } from './fake-fs.js';

/** A clean, uptodate, unlocked page at `index` (as after a completed read). */
function cached(mapping: AddressSpace, index: number): Folio {
  const p = addFolio(mapping, index)!;
  p.set(PG_uptodate);
  folioUnlock(p);
  return p;
}

const indexes = (it: Iterable<Folio>): number[] => [...it].map((p) => p.index);

test('new pages go to the inactive head, locked', (t) => {
  const { mapping, cache } = rig({ frames: 8 });
  const a = addFolio(mapping, 3)!;
  t.true(a.has(PG_lru));
  t.false(a.has(PG_active));
  t.true(a.flagString().includes('locked'));
  t.deepEqual(filemapAddFolio(mapping, 3), { kind: 'exists', folio: a }, 'index already present');
  cached(mapping, 4);
  t.deepEqual(indexes(cache.lruvec.inactive.pages()), [4, 3]);
  t.is(filemapGetFolio(mapping, 3), a);
});

test('folioMarkAccessed: the two-touch rule', (t) => {
  const { mapping, cache, stats } = rig({ frames: 8 });
  const p = cached(mapping, 0);
  folioMarkAccessed(p); // inactive, unreferenced -> referenced
  t.true(p.has(PG_referenced));
  t.false(p.has(PG_active));
  folioMarkAccessed(p); // inactive, referenced -> active, unreferenced
  t.true(p.has(PG_active));
  t.false(p.has(PG_referenced));
  t.is(stats.c.pgactivate, 1);
  t.deepEqual(indexes(cache.lruvec.active.pages()), [0]);
  t.is(cache.lruvec.nrInactive, 0);
  folioMarkAccessed(p); // active, unreferenced -> referenced
  t.true(p.has(PG_referenced));
  folioMarkAccessed(p); // active, referenced -> nothing
  t.true(p.has(PG_active) && p.has(PG_referenced));
  t.is(stats.c.pgactivate, 1);
});

test('reclaim takes the oldest inactive page first', (t) => {
  const { mapping, stats, trace } = rig({ frames: 4 });
  for (let i = 0; i < 4; i++) cached(mapping, i);
  trace.clear();
  t.truthy(cached(mapping, 4));
  t.is(filemapGetFolio(mapping, 0), undefined, 'page 0 was the inactive tail');
  t.deepEqual([...mapping.pages.keys()].sort(), [1, 2, 3, 4]);
  t.is(stats.c.pgsteal, 1);
  t.regex(trace.read()[0]!, /^reclaim ino=7 index=0 t=\d+$/);
  cached(mapping, 5);
  t.is(filemapGetFolio(mapping, 1), undefined);
});

test('a referenced inactive page is activated instead of reclaimed (page_check_references)', (t) => {
  const { mapping, cache, stats } = rig({ frames: 4 });
  const ps = [0, 1, 2, 3].map((i) => cached(mapping, i));
  folioMarkAccessed(ps[0]!); // referenced once: one more chance
  cached(mapping, 4);
  t.truthy(filemapGetFolio(mapping, 0), 'the referenced tail page survived');
  t.true(ps[0]!.has(PG_active));
  t.false(ps[0]!.has(PG_referenced));
  t.is(filemapGetFolio(mapping, 1), undefined, 'the next oldest went instead');
  t.is(stats.c.pgactivate, 1);
  t.is(cache.lruvec.nrActive, 1);
});

test('the inactive list is refilled from the active tail when it is the smaller one', (t) => {
  const { mapping, cache, stats } = rig({ frames: 4 });
  const ps = [0, 1, 2, 3].map((i) => cached(mapping, i));
  for (const p of ps.slice(0, 3)) {
    folioMarkAccessed(p);
    folioMarkAccessed(p); // -> active
  }
  t.is(cache.lruvec.nrActive, 3);
  t.is(cache.lruvec.nrInactive, 1);
  cached(mapping, 4); // inactive (1) < active (3): deactivate from the active tail first
  t.true(stats.c.pgdeactivate >= 1);
  t.is(filemapGetFolio(mapping, 3), undefined, 'the one inactive page was the oldest there');
  t.is(stats.c.pgsteal, 1);
  t.false(ps[0]!.has(PG_active), 'page 0, the active tail, was deactivated');
  t.is(cache.lruvec.nrPages, 4);
});

test('locked, dirty and writeback pages are never reclaimed', (t) => {
  const { mapping, cache, stats } = rig({ frames: 4 });
  const locked = addFolio(mapping, 0)!; // I/O in flight
  const dirty = cached(mapping, 1);
  dirty.set(PG_dirty);
  const wb = cached(mapping, 2);
  wb.set(PG_writeback);
  cached(mapping, 3);
  t.truthy(cached(mapping, 4), 'the one clean page made room');
  t.is(filemapGetFolio(mapping, 3), undefined);
  t.is(addFolio(mapping, 5) === undefined ? 'none' : 'got', 'got', 'page 4 is clean too');
  // Now everything is pinned: allocation fails instead of stealing a pinned page.
  const p5 = filemapGetFolio(mapping, 5)!; // locked (fresh)
  t.truthy(p5);
  const before = stats.c.pgsteal;
  t.is(addFolio(mapping, 6), undefined);
  t.is(stats.c.pgsteal, before);
  for (const p of [locked, dirty, wb, p5]) t.is(filemapGetFolio(mapping, p.index), p);
  t.is(cache.lruvec.findPinnedFolio(), locked, 'the oldest locked page is the one to wait for');
});

test('a readahead page reclaimed before anyone read it counts as ra_wasted', (t) => {
  const { mapping, stats } = rig({ frames: 2 });
  const p = cached(mapping, 0);
  p.set(PG_raunread);
  cached(mapping, 1);
  cached(mapping, 2);
  t.is(filemapGetFolio(mapping, 0), undefined);
  t.is(stats.c.ra_wasted, 1);
});

test('dropCaches evicts every clean unlocked page and nothing else', (t) => {
  const { mapping, cache, stats } = rig({ frames: 8 });
  for (let i = 0; i < 5; i++) cached(mapping, i);
  filemapGetFolio(mapping, 1)!.set(PG_dirty);
  addFolio(mapping, 5); // locked
  filemapGetFolio(mapping, 2)!.set(PG_raunread);
  t.is(cache.dropCaches(), 4);
  t.deepEqual([...mapping.pages.keys()].sort(), [1, 5]);
  t.is(stats.c.ra_wasted, 1);
  const snap = stats.snapshot();
  t.is(snap.pages_cached, 2);
  t.is(snap.pages_free, 6);
  t.is(snap.pages_total, 8);
});
