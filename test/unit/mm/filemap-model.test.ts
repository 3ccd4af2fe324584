/**
 * Reference-model test: the same random reads, writes, truncates and drop_caches applied
 * to a plain byte array and to the page cache (6 frames, I/O completing at once or on a
 * later tick), compared after every step.
 */
import test from 'ava';
import { filemapReadAsync } from '../../../src/mm/filemap-read.js';
import { filemapWrite } from '../../../src/mm/filemap-write.js';
import { truncateInodePages } from '../../../src/mm/truncate.js';
import { PAGE_SIZE, PG_locked } from '../../../src/mm/page.js';
import { expected, rig } from './fake-fs.js';
import { mulberry32 as prng } from '../../helpers/prng.js';


for (const seed of [1, 2, 3, 4, 5]) {
  test(`random reads/writes/truncates agree with a byte-array model (seed ${seed})`, async (t) => {
    const rand = prng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const size0 = 9 * PAGE_SIZE + 321;
    const r = rig({ frames: 6, size: size0 });
    let model = expected(0, size0, size0);
    let size = size0;
    const maxSize = 20 * PAGE_SIZE;

    for (let step = 0; step < 300; step++) {
      r.fs.mode = rand() < 0.5 ? 'sync' : 'tick';
      const op = rand();
      const what = `seed ${seed} step ${step}`;
      if (op < 0.55) {
        const pos = int(size + 2 * PAGE_SIZE);
        const len = 1 + int(3 * PAGE_SIZE);
        const buf = new Uint8Array(len);
        const n = await filemapReadAsync(r.mapping, r.file, buf, pos, len);
        const want = Math.max(0, Math.min(len, size - pos));
        t.is(n, want, `${what}: read ${pos}+${len} of ${size}`);
        if (n !== want || !Buffer.from(buf.subarray(0, n)).equals(Buffer.from(model.subarray(pos, pos + n)))) {
          t.fail(`${what}: read ${pos}+${len} returned wrong bytes`);
          return;
        }
      } else if (op < 0.85) {
        const pos = int(Math.min(size + PAGE_SIZE, maxSize - 3 * PAGE_SIZE));
        const len = 1 + int(2 * PAGE_SIZE);
        const data = Uint8Array.from({ length: len }, () => int(256));
        t.is(await filemapWrite(r.mapping, r.file, data, pos, len), len, what);
        if (pos + len > size) {
          const grown = new Uint8Array(pos + len);
          grown.set(model.subarray(0, size));
          model = grown;
          size = pos + len;
        }
        model.set(data, pos);
        t.is(r.host.size, size, what);
      } else if (op < 0.97) {
        const newSize = int(size + 1);
        r.host.size = newSize;
        r.fs.truncate(newSize);
        await truncateInodePages(r.mapping, newSize);
        model = model.slice(0, newSize);
        size = newSize;
      } else {
        r.cache.dropCaches();
      }
      for (const p of r.mapping.pages.values()) t.false(p.has(PG_locked), `${what}: page ${p.index} left locked`);
      t.is(r.cache.frames.nrFree + r.cache.nrPages, 6, `${what}: frames leaked`);
    }
    t.is(r.cache.waitTable.nrWaiting, 0);
  });
}

test('8 concurrent readers through a 4-frame cache (I/O on later ticks) all read the right bytes', async (t) => {
  const size = 40 * PAGE_SIZE + 99;
  const r = rig({ frames: 4, size });
  r.fs.mode = 'tick';
  const want = expected(0, size, size);
  const reader = async (seed: number): Promise<boolean> => {
    const rand = prng(seed);
    const out = new Uint8Array(size);
    let pos = 0;
    while (pos < size) {
      const len = 1 + Math.floor(rand() * 3 * PAGE_SIZE);
      const n = await filemapReadAsync(r.mapping, { fh: seed, ra: { start: 0, size: 0, asyncSize: 0, raPages: 0, prevPos: -1 } }, out.subarray(pos), pos, Math.min(len, size - pos));
      if (n === 0) return false;
      pos += n;
    }
    return Buffer.from(out).equals(Buffer.from(want));
  };
  const ok = await Promise.all(Array.from({ length: 8 }, (_, i) => reader(100 + i)));
  t.deepEqual(ok, Array(8).fill(true));
  t.is(r.cache.waitTable.nrWaiting, 0);
  t.is(r.cache.frames.nrFree + r.cache.nrPages, 4);
  t.true(r.stats.c.page_waits > 0);
});
