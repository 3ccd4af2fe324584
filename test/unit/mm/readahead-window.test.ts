/**
 * Window arithmetic of mm/readahead.c (v4.10–v4.18): get_init_ra_size, get_next_ra_size,
 * and the page-cache probes (next hole, history count). Expected values are worked out
 * by hand from the kernel's formulas, for the default maximum (32 pages) and others.
 */
import test from 'ava';
import { countHistoryPages, getInitRaSize, getNextRaSize, pageCacheNextHole } from '../../../src/mm/readahead.js';
import type { Folio } from '../../../src/mm/folio.js';
import type { AddressSpace } from '../../../src/mm/pagecache.js';
import { XArray } from '../../../src/mm/xarray.js';

test('getInitRaSize, max 32: x4 up to 1 page, x2 up to 8, else the maximum', (t) => {
  const table: [number, number][] = [
    [1, 4], [2, 4], [3, 8], [4, 8], [5, 16], [8, 16], [9, 32], [16, 32], [32, 32], [33, 32],
  ];
  for (const [req, want] of table) t.is(getInitRaSize(req, 32), want, `req ${req}`);
});

test('getInitRaSize, other maxima', (t) => {
  // max 128: max/32 = 4, max/4 = 32
  const t128: [number, number][] = [[1, 4], [4, 16], [5, 16], [8, 16], [9, 32], [32, 64], [33, 128]];
  for (const [req, want] of t128) t.is(getInitRaSize(req, 128), want, `max 128 req ${req}`);
  // max 8 (read_ahead_kb 32): max/32 = 0, max/4 = 2
  const t8: [number, number][] = [[1, 2], [2, 4], [3, 8], [16, 8]];
  for (const [req, want] of t8) t.is(getInitRaSize(req, 8), want, `max 8 req ${req}`);
  // max 48 (not a power of two): max/32 = 1, max/4 = 12
  const t48: [number, number][] = [[1, 4], [2, 4], [6, 16], [12, 48], [64, 48]];
  for (const [req, want] of t48) t.is(getInitRaSize(req, 48), want, `max 48 req ${req}`);
});

test('getNextRaSize: x4 below max/16, x2 above, capped at the maximum', (t) => {
  const t32: [number, number][] = [[1, 4], [2, 4], [4, 8], [8, 16], [16, 32], [24, 32], [32, 32]];
  for (const [cur, want] of t32) t.is(getNextRaSize(cur, 32), want, `max 32 cur ${cur}`);
  const t128: [number, number][] = [[1, 4], [4, 16], [7, 28], [8, 16], [16, 32], [64, 128], [128, 128]];
  for (const [cur, want] of t128) t.is(getNextRaSize(cur, 128), want, `max 128 cur ${cur}`);
  const t8: [number, number][] = [[1, 2], [2, 4], [4, 8], [8, 8]];
  for (const [cur, want] of t8) t.is(getNextRaSize(cur, 8), want, `max 8 cur ${cur}`);
});

function cached(indexes: number[]): Pick<AddressSpace, 'pages'> {
  const pages = new XArray<Folio>();
  for (const i of indexes) pages.set(i, {} as Folio);
  return { pages };
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

test('pageCacheNextHole scans at most maxScan pages', (t) => {
  t.is(pageCacheNextHole(cached(range(2, 10)), 2, 32), 10);
  t.is(pageCacheNextHole(cached([]), 5, 32), 5);
  t.is(pageCacheNextHole(cached(range(2, 100)), 2, 32), 34, 'no hole within 32 pages: index + 32');
});

test('countHistoryPages: contiguous cached pages before offset, wrapping at page 0 like the kernel', (t) => {
  t.is(countHistoryPages(cached(range(20, 40)), 40, 32), 20, 'pages 20..39');
  t.is(countHistoryPages(cached(range(8, 40)), 40, 32), 32, 'capped at max');
  t.is(countHistoryPages(cached(range(0, 10)), 10, 32), 10, 'reaches page 0: the count is offset');
  t.is(countHistoryPages(cached(range(0, 32)), 32, 32), 32, 'exactly max pages down to page 0');
  t.is(countHistoryPages(cached([]), 40, 32), 0);
  t.is(countHistoryPages(cached([38]), 40, 32), 0, 'page 39 missing');
});
