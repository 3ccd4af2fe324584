/**
 * XArray (src/mm/xarray.ts), the page cache's index: the same answers as a Map for any
 * sequence of sets, deletes and lookups (fast-check model test), including indexes beyond
 * 2^32 and lookups that jump between nodes; deleting while iterating.
 */
import test from 'ava';
import fc from 'fast-check';
import { XArray } from '../../../src/mm/xarray.js';

const index = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 41 }), fc.constantFrom(63, 64, 65, 127, 128, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 64));
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), index, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), index }),
  fc.record({ kind: fc.constant('get' as const), index }),
);

test('behaves as a Map<number, T> for any sequence of set, delete, get', (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const xa = new XArray<{ v: number }>();
      const model = new Map<number, { v: number }>();
      for (const o of ops) {
        if (o.kind === 'set') {
          const v = { v: o.value };
          xa.set(o.index, v);
          model.set(o.index, v);
        } else if (o.kind === 'delete') {
          if (xa.delete(o.index) !== model.delete(o.index)) return false;
        } else if (xa.get(o.index) !== model.get(o.index) || xa.has(o.index) !== model.has(o.index)) return false;
        if (xa.size !== model.size) return false;
      }
      const got = [...xa.entries()].sort((a, b) => a[0] - b[0]);
      const want = [...model.entries()].sort((a, b) => a[0] - b[0]);
      return got.length === want.length && got.every(([k, v], i) => k === want[i]![0] && v === want[i]![1]);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('entries removed while iterating are not visited; emptied nodes are freed', (t) => {
  const xa = new XArray<number>();
  for (let i = 0; i < 200; i++) xa.set(i, i);
  const seen: number[] = [];
  for (const [k] of xa) {
    seen.push(k);
    xa.delete(k + 1); // the next one goes before it is reached
  }
  t.deepEqual(seen, Array.from({ length: 100 }, (_, i) => 2 * i));
  for (const k of seen) xa.delete(k);
  t.is(xa.size, 0);
  t.deepEqual([...xa.keys()], []);
  t.is(xa.get(0), undefined, 'the cached last node was freed with its last entry');
  xa.set(5, 7);
  t.is(xa.get(5), 7);
});
