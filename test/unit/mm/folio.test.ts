/**
 * Folios in the page cache (pagecache.ts, folio.ts): one folio of 2^order pages found by
 * any index inside it, flags on the folio, one LRU entry and one wait key per folio,
 * typed add results (added / exists / nomem), removal, reclaim, drop_caches, the read
 * loop's one-lookup-one-copy over a large folio, and truncate of a straddling folio.
 */
import test from 'ava';
import { filemapReadAsync } from '../../../src/mm/filemap-read.js';
import { filemapWrite } from '../../../src/mm/filemap-write.js';
import { EXT4_MAX_PAGECACHE_ORDER, folioTestError, folioTestLocked, folioTestUptodate, MAX_PAGECACHE_ORDER, type Folio } from '../../../src/mm/folio.js';
import { PAGE_SIZE, PG_active, PG_dirty, PG_locked, PG_lru, PG_raunread, PG_readahead, PG_referenced, PG_uptodate, PG_waiters } from '../../../src/mm/page.js';
import { filemapAddFolio, filemapGetFolio, filemapGetFolioCreate, filemapRemoveFolio, folioEndRead, mappingSetFolioOrderRange, splitFolio, type AddressSpace } from '../../../src/mm/pagecache.js';
import { truncateInodePages } from '../../../src/mm/truncate.js';
import { folioUnlock, folioWaitBucket, folioWaitLockedAsync } from '../../../src/mm/wait.js';
import { rig } from './fake-fs.js';

/** A large folio at `index`, filled with byte (page index & 255) per page, uptodate, unlocked. */
function cachedFolio(mapping: AddressSpace, index: number, order: number): Folio {
  const r = filemapAddFolio(mapping, index, order);
  if (r.kind !== 'added') throw new Error(`add ${index}/${order}: ${r.kind}`);
  for (let i = 0; i < r.folio.nrPages; i++) r.folio.data.fill((index + i) & 255, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
  folioEndRead(r.folio, true);
  return r.folio;
}

test('6.18 order limits for a 4 KiB-page x86-64 ext4 regular file are 0..9', (t) => {
  t.is(MAX_PAGECACHE_ORDER, 9);
  t.is(EXT4_MAX_PAGECACHE_ORDER, 9);
});

test('a folio of order 2 is one object for four indexes, four contiguous aligned frames, one LRU entry', (t) => {
  const { mapping, cache, stats } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const r = filemapAddFolio(mapping, 8, 2);
  if (r.kind !== 'added') return t.fail(r.kind);
  const f = r.folio;
  for (const i of [8, 9, 10, 11]) t.is(filemapGetFolio(mapping, i), f, `index ${i}`);
  t.is(filemapGetFolio(mapping, 7), undefined);
  t.is(filemapGetFolio(mapping, 12), undefined);
  t.deepEqual([f.index, f.order, f.nrPages, f.nextIndex], [8, 2, 4, 12]);
  t.is(f.frame % 4, 0, 'naturally aligned in the arena');
  t.is(f.data.byteLength, 4 * PAGE_SIZE);
  t.is(f.data.byteOffset, f.frame * PAGE_SIZE);
  t.is(mapping.nrPages, 4);
  t.is(mapping.nrFolios, 1);
  t.is(cache.lruvec.nrFolios, 1);
  t.is(cache.lruvec.nrPages, 4);
  t.is(stats.snapshot().pages_cached, 4);
  t.is(cache.frames.nrFree, 12);
  t.true(f.has(PG_locked) && f.has(PG_lru), 'new folios are locked and on the LRU');
});

test('flags are the folio\'s: end of read sets uptodate or error and unlocks all its pages at once', (t) => {
  const { mapping } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const a = filemapAddFolio(mapping, 0, 2);
  const b = filemapAddFolio(mapping, 4, 1);
  if (a.kind !== 'added' || b.kind !== 'added') return t.fail();
  folioEndRead(a.folio, true);
  folioEndRead(b.folio, false);
  t.true(folioTestUptodate(filemapGetFolio(mapping, 3)!));
  t.false(folioTestLocked(filemapGetFolio(mapping, 1)!));
  t.true(folioTestError(filemapGetFolio(mapping, 5)!));
  t.false(folioTestUptodate(b.folio));
  t.is(a.folio.flagString(), 'uptodate|lru');
});

test('one wait key per folio: a waiter on any page of it is woken by the folio\'s unlock', (t) => {
  const { mapping, cache, stats } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const r = filemapAddFolio(mapping, 4, 2);
  if (r.kind !== 'added') return t.fail();
  let woke = 0;
  folioWaitLockedAsync(filemapGetFolio(mapping, 6)!, () => woke++);
  folioWaitLockedAsync(filemapGetFolio(mapping, 4)!, () => woke++);
  t.true(r.folio.has(PG_waiters));
  t.is(cache.waitTable.buckets[folioWaitBucket(r.folio)]!.length, 2, 'both in the folio\'s one bucket');
  folioUnlock(r.folio);
  t.is(woke, 2);
  t.is(stats.c.wake_page, 2);
  t.is(cache.waitTable.nrWaiting, 0);
});

test('typed add results: exists names the folio in the way, misaligned index is refused', (t) => {
  const { mapping } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const big = cachedFolio(mapping, 8, 2);
  t.deepEqual(filemapAddFolio(mapping, 10, 0), { kind: 'exists', folio: big });
  t.deepEqual(filemapAddFolio(mapping, 8, 3), { kind: 'exists', folio: big }, 'an order-3 folio at 8 overlaps 8..11');
  t.throws(() => filemapAddFolio(mapping, 2, 2), { instanceOf: RangeError });
  t.is(filemapAddFolio(mapping, 12, 2).kind, 'added');
});

test('nomem when every frame is pinned; fragmentation refuses a large order and an order-0 fallback succeeds', (t) => {
  const { mapping, cache } = rig({ frames: 8, size: 64 * PAGE_SIZE });
  // Eight locked (pinned) order-0 folios fill the arena: reclaim can free nothing.
  const fs = Array.from({ length: 8 }, (_, i) => {
    const r = filemapAddFolio(mapping, i, 0);
    if (r.kind !== 'added') throw new Error(r.kind);
    return r.folio;
  });
  t.deepEqual(filemapAddFolio(mapping, 8, 0), { kind: 'nomem' });
  // Free every other frame: 4 free frames, no two of them buddies.
  for (const f of fs) {
    if (f.frame % 2 === 0) {
      folioUnlock(f);
      filemapRemoveFolio(f);
    }
  }
  t.is(cache.frames.nrFree, 4);
  t.deepEqual(filemapAddFolio(mapping, 8, 1), { kind: 'nomem' }, 'no two contiguous frames');
  t.is(filemapAddFolio(mapping, 8, 0).kind, 'added', 'the smaller order fits');
});

test('remove takes every index of the folio out, frees its block, counts an unread readahead folio as waste', (t) => {
  const { mapping, cache, stats } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const f = cachedFolio(mapping, 4, 2);
  f.set(PG_raunread);
  filemapRemoveFolio(f);
  for (const i of [4, 5, 6, 7]) t.is(filemapGetFolio(mapping, i), undefined);
  t.is(f.mapping, undefined);
  t.is(mapping.nrFolios, 0);
  t.is(cache.lruvec.nrPages, 0);
  t.is(cache.frames.nrFree, 16);
  t.deepEqual(cache.frames.freeBlocks(), [[0, 4]], 'the block merged back');
  t.is(stats.c.ra_wasted, 4);
});

test('reclaim and drop_caches work on whole folios and count pages', (t) => {
  const { mapping, cache, stats } = rig({ frames: 8, size: 64 * PAGE_SIZE });
  const a = cachedFolio(mapping, 0, 2);
  cachedFolio(mapping, 4, 2);
  const c = cachedFolio(mapping, 8, 2); // no free block: reclaim takes the inactive tail, folio 0..3
  t.is(a.mapping, undefined);
  t.is(filemapGetFolio(mapping, 2), undefined);
  t.is(stats.c.pgsteal, 4);
  t.is(c.nrPages, 4);
  c.set(PG_dirty); // pinned: drop_caches passes it by
  t.is(cache.dropCaches(), 4, 'the clean folio 4..7');
  t.deepEqual([...mapping.pages.keys()].sort((x, y) => x - y), [8, 9, 10, 11]);
});

test('the read loop copies a cached large folio with one lookup and one copy', async (t) => {
  const { mapping, stats, file } = rig({ frames: 64, size: 64 * PAGE_SIZE });
  cachedFolio(mapping, 32, 5); // pages 32..63, 128 KiB
  const buf = new Uint8Array(128 * 1024);
  const n = await filemapReadAsync(mapping, file, buf, 32 * PAGE_SIZE, buf.length);
  t.is(n, buf.length);
  for (let p = 0; p < 32; p++) t.is(buf[p * PAGE_SIZE + 7], (32 + p) & 255, `page ${32 + p}`);
  t.is(stats.c.pgcache_hit, 32, 'one lookup, counted as the 32 pages of the read it holds');
  t.is(file.ra.prevPos, 63 * PAGE_SIZE, 'prev_pos: last page read, offset 0 (the 4.18 rule)');
  // A read that starts inside the folio and ends at EOF inside it.
  const tail = new Uint8Array(3 * PAGE_SIZE);
  t.is(await filemapReadAsync(mapping, file, tail, 62 * PAGE_SIZE + 100, tail.length), 2 * PAGE_SIZE - 100);
  t.is(tail[0], 62);
  t.is(tail[PAGE_SIZE], 63);
});

test('truncate inside a large folio splits it: pages before EOF stay (tail zeroed), pages past it go', async (t) => {
  const { mapping, cache, host } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const f = cachedFolio(mapping, 8, 2); // pages 8..11
  f.set(PG_referenced | PG_readahead);
  cache.lruvec.folioActivate(f);
  const newSize = 9 * PAGE_SIZE + 100;
  host.size = newSize;
  await truncateInodePages(mapping, newSize);
  t.is(filemapGetFolio(mapping, 8), f, 'the folio object keeps its first page');
  t.is(f.order, 0);
  t.is(f.data.byteLength, PAGE_SIZE);
  const nine = filemapGetFolio(mapping, 9)!;
  t.not(nine, f);
  t.is(nine.order, 0);
  t.is(filemapGetFolio(mapping, 10), undefined);
  t.is(filemapGetFolio(mapping, 11), undefined);
  t.is(nine.data[99], 9);
  t.is(nine.data[100], 0, 'zeroed past EOF');
  t.is(f.data[4095], 8);
  t.true(nine.has(PG_uptodate) && nine.has(PG_active) && nine.has(PG_lru) && !nine.has(PG_readahead));
  t.false(f.has(PG_locked) || nine.has(PG_locked), 'nothing left locked');
  t.is(mapping.nrFolios, 2);
  t.is(cache.lruvec.nrPages, 2);
  t.is(cache.lruvec.active.count, 2);
  t.is(cache.frames.nrFree, 14);
});

test('splitFolio keeps lookups and LRU totals consistent, and the pieces free one by one', (t) => {
  const { mapping, cache } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const f = cachedFolio(mapping, 0, 3);
  f.set(PG_locked);
  const pieces = splitFolio(f);
  t.deepEqual(pieces.map((p) => p.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  for (const p of pieces) t.is(filemapGetFolio(mapping, p.index), p);
  t.is(cache.lruvec.nrFolios, 8);
  t.is(cache.lruvec.nrPages, 8);
  folioUnlock(f);
  t.is(cache.dropCaches(), 8);
  t.deepEqual(cache.frames.freeBlocks(), [[0, 4]]);
});

test('mapping folio order range: 0..0 until set, refused above the arena', (t) => {
  const { mapping } = rig({ frames: 16 });
  t.deepEqual([mapping.minOrder, mapping.maxOrder], [0, 0]);
  mappingSetFolioOrderRange(mapping, 0, 4);
  t.is(mapping.maxOrder, 4);
  t.throws(() => mappingSetFolioOrderRange(mapping, 0, 5), { instanceOf: RangeError });
});

test('a write into a cached large folio copies into it once and writes the folio through as one', async (t) => {
  const { mapping, fs, file } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  const f = cachedFolio(mapping, 8, 2); // pages 8..11
  const data = new Uint8Array(2 * PAGE_SIZE).fill(0xee);
  const pos = 9 * PAGE_SIZE + 10;
  t.is(await filemapWrite(mapping, file, data, pos, data.length), data.length);
  t.deepEqual(fs.writepagesCalls, [[8]], 'one folio handed to writepages');
  t.is(filemapGetFolio(mapping, 10), f);
  t.is(f.data[PAGE_SIZE + 9], 9, 'bytes before the write kept');
  t.is(f.data[PAGE_SIZE + 10], 0xee);
  t.is(f.data[3 * PAGE_SIZE + 9], 0xee);
  t.is(f.data[3 * PAGE_SIZE + 10], 11, 'bytes after the write kept');
  t.false(f.has(PG_dirty) || f.has(PG_locked), 'clean and unlocked after the write-through');
});

test('filemapGetFolioCreate: clamps to the mapping, aligns down, and falls back order by order', (t) => {
  const { mapping, cache } = rig({ frames: 16, size: 64 * PAGE_SIZE });
  mappingSetFolioOrderRange(mapping, 0, 2);
  const a = filemapGetFolioCreate(mapping, 0, 9);
  t.is(a.kind === 'added' ? a.folio.order : -1, 2, 'clamped to mapping_max_folio_order');
  const b = filemapGetFolioCreate(mapping, 6, 2);
  t.is(b.kind === 'added' ? b.folio.order : -1, 1, 'index 6 is only 2-aligned');
  t.deepEqual(filemapGetFolioCreate(mapping, 7, 0), { kind: 'exists', folio: (b as { folio: Folio }).folio });
  t.is(filemapGetFolioCreate(mapping, 4, 2).kind === 'added' ? filemapGetFolio(mapping, 4)!.order : -1, 1, 'order 2 at 4 overlaps 6..7: order 1 fits');
  // Fragment the rest of the arena with pinned order-0 folios on every other frame.
  const pinned: Folio[] = [];
  for (let i = 16; i < 32; i++) {
    const r = filemapAddFolio(mapping, i, 0);
    if (r.kind === 'added') pinned.push(r.folio);
  }
  for (const f of pinned) {
    if (f.frame % 2 === 0) continue;
    folioUnlock(f);
    filemapRemoveFolio(f);
  }
  t.true(cache.frames.nrFree >= 2);
  const c = filemapGetFolioCreate(mapping, 40, 2);
  t.is(c.kind === 'added' ? c.folio.order : -1, 0, 'no order-2 or order-1 block free: order 0');
});
