/**
 * The 6.18 readahead module (src/mm/readahead-v6.ts) against the running kernel's own
 * decisions: every event list in test/fixtures/kernel-6.18/ was captured from the 6.18
 * host kernel with `aheadfs kernel-diff --kernel-out` (ext4 on a loop device, tracefs),
 * and the model (the module under the 6.18 read loop over a Map page cache) must print the
 * same list, event for event. Then the paths the fixtures cannot reach (allocation
 * failure, a folio already present, readahead off, FMODE_RANDOM) by hand from the source.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { diffEvents, normalise, parseFixture } from '../../../src/kerneldiff/events.js';
import { MemPageCache, runPatternOnModel } from '../../../src/kerneldiff/model.js';
import { presetPattern } from '../../../src/kerneldiff/patterns.js';
import {
  fileRaState618Init,
  getNextRaSize618,
  pageCacheNextMiss,
  pageCachePrevMiss,
  pageCacheSyncRa,
  readaheadControl,
  WRAPPED,
  type RaAddResult,
} from '../../../src/mm/readahead-v6.js';
import { Trace } from '../../../src/stats/trace.js';

const FIXTURES = new URL('../../fixtures/kernel-6.18/', import.meta.url);

for (const name of readdirSync(FIXTURES).filter((f) => f.endsWith('.txt')).sort()) {
  test(`model = kernel 6.18: ${name}`, (t) => {
    const { header, lines } = parseFixture(readFileSync(new URL(name, FIXTURES), 'utf8'));
    t.true(lines.length > 0);
    const ours = normalise(runPatternOnModel(presetPattern(header.pattern), header).events);
    const d = diffEvents(lines, ours, { left: 'kernel', right: 'model' }, { context: 4 });
    t.is(d.firstDiff, undefined, d.text);
  });
}

/** A Map page cache whose allocator refuses some orders, recording what was added. */
class FailingCache extends MemPageCache {
  constructor(size: number, private readonly refuse: (order: number) => boolean) {
    super(12, size);
  }
  override addFolio(index: number, order: number, opts: { readahead: boolean }): RaAddResult {
    if (this.refuse(order)) return 'nomem';
    return super.addFolio(index, order, opts);
  }
}

function lines(trace: Trace): string[] {
  return trace.read().map((l) => l.replace(/ t=\d+$/, ''));
}

test('trace lines are in the kernel format (ino in hex) and end with t=<us>', (t) => {
  const trace = new Trace();
  const cache = new MemPageCache(300, 1 << 20);
  const ractl = readaheadControl({ mapping: cache, ra: fileRaState618Init(32), file: { random: false }, ioPages: 32, trace, index: 0 });
  pageCacheSyncRa(ractl, 1);
  const out = trace.read();
  t.regex(out[0]!, /^page_cache_sync_ra: ino=12c index=0 req_count=1 order=0 size=0 async_size=0 ra_pages=32 mmap_miss=0 prev_pos=-1 t=\d+$/);
  t.regex(out[1]!, /^page_cache_ra_order: ino=12c index=0 order=0 size=4 async_size=3 ra_pages=32 t=\d+$/);
});

test('order fallback: with no large folio to be had, the window is read page by page from where it failed, same marker', async (t) => {
  // An async window {start 4, size 8, async 8, order 2} wants order-2 folios; the
  // allocator has only order 0: ra_order fails at once and do_page_cache_ra reads 8 pages.
  const trace2 = new Trace();
  const cache2 = new FailingCache(1 << 20, (order) => order > 0);
  const ra2 = fileRaState618Init(32);
  Object.assign(ra2, { start: 4, size: 8, asyncSize: 8, order: 2 });
  const r2 = readaheadControl({ mapping: cache2, ra: ra2, file: { random: false }, ioPages: 32, trace: trace2, index: 4 });
  const { pageCacheRaOrder } = await import('../../../src/mm/readahead-v6.js');
  {
    pageCacheRaOrder(r2);
    t.deepEqual(lines(trace2), [
      'page_cache_ra_order: ino=c index=4 order=2 size=8 async_size=8 ra_pages=32',
      'page_cache_ra_unbounded: ino=c index=4 nr_to_read=8 lookahead_size=8',
    ]);
    t.deepEqual(cache2.added.map((a) => a.order), [0, 0, 0, 0, 0, 0, 0, 0]);
    t.deepEqual(cache2.added.map((a) => a.index), [4, 5, 6, 7, 8, 9, 10, 11]);
    t.true(cache2.folioAt(4)!.readahead);
    t.is(ra2.order, 2, 'ra->order keeps the order asked for');
  }
});

test('a folio already present stops ra_order; the rest of the window goes page by page around it', async (t) => {
  const { pageCacheRaOrder } = await import('../../../src/mm/readahead-v6.js');
  const trace = new Trace();
  const cache = new MemPageCache(12, 1 << 20);
  cache.addFolio(10, 0, { readahead: false });
  cache.readPages();
  const ra = fileRaState618Init(32);
  Object.assign(ra, { start: 8, size: 8, asyncSize: 8, order: 2 });
  pageCacheRaOrder(readaheadControl({ mapping: cache, ra, file: { random: false }, ioPages: 32, trace, index: 8 }));
  t.deepEqual(lines(trace), [
    'page_cache_ra_order: ino=c index=8 order=2 size=8 async_size=8 ra_pages=32',
    'page_cache_ra_unbounded: ino=c index=8 nr_to_read=8 lookahead_size=8',
  ]);
  // order-2 at 8 collides with page 10 (EEXIST): pages 8, 9, then 11..15 one by one.
  t.deepEqual(cache.added.slice(1).map((a) => `${a.index}/${a.order}`), ['8/0', '9/0', '11/0', '12/0', '13/0', '14/0', '15/0']);
  t.true(cache.folioAt(8)!.readahead, 'marker on start + size - async = 8');
});

test('readahead off (ra_pages 0): the sync path still reads the one page, forced', (t) => {
  const trace = new Trace();
  const cache = new MemPageCache(12, 1 << 20);
  pageCacheSyncRa(readaheadControl({ mapping: cache, ra: fileRaState618Init(0), file: { random: false }, ioPages: 32, trace, index: 7 }), 16);
  t.deepEqual(lines(trace).slice(1), ['page_cache_ra_unbounded: ino=c index=7 nr_to_read=1 lookahead_size=0']);
  t.deepEqual(cache.added, [{ index: 7, order: 0 }]);
});

test('FMODE_RANDOM: exactly the request, no window, state untouched', (t) => {
  const trace = new Trace();
  const cache = new MemPageCache(12, 1 << 20);
  const ra = fileRaState618Init(32);
  pageCacheSyncRa(readaheadControl({ mapping: cache, ra, file: { random: true }, ioPages: 32, trace, index: 0 }), 3);
  t.deepEqual(lines(trace).slice(1), ['page_cache_ra_unbounded: ino=c index=0 nr_to_read=3 lookahead_size=0']);
  t.deepEqual({ start: ra.start, size: ra.size }, { start: 0, size: 0 });
});

test('get_next_ra_size: x4 below max/16, x2 up to max/2, then max', (t) => {
  t.deepEqual([1, 2, 4, 8, 16, 17, 32].map((c) => getNextRaSize618(c, 32)), [4, 4, 8, 16, 32, 32, 32]);
});

test('next/prev miss: the xarray walk that starts inside a large folio lags by its offset in the folio', (t) => {
  const cache = new MemPageCache(12, 1 << 20);
  for (const [i, o] of [[0, 0], [1, 0], [2, 0], [3, 0], [4, 2], [8, 2]] as const) cache.addFolio(i, o, { readahead: false });
  cache.readPages();
  t.is(pageCacheNextMiss(cache, 4, 32), 12, 'from a folio start: the real hole');
  t.is(pageCacheNextMiss(cache, 5, 32), 13, 'from one page in: one past it (the kernel does this)');
  t.is(pageCachePrevMiss(cache, 11, 32), 2, 'lag 3 runs off the first leaf: miss reported at 2');
  t.is(pageCachePrevMiss(cache, 8, 32), WRAPPED, 'from a folio start: cached down to page 0');
  t.is(pageCachePrevMiss(cache, 11, 2), 10, 'all present within max_scan: the last index scanned (6.18 never got the off-by-one fix here)');
});
