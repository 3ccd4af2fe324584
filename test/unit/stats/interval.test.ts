/**
 * High-water marks per reader (Stats.openInterval): each interval sees the highest level
 * since its own previous take, starting from the level at that take; two readers never
 * reset each other's; the since-mount mark (`stats`) is left alone.
 */
import test from 'ava';
import { Stats } from '../../../src/stats/registry.js';

test('an interval reports its own peak, then starts again from the level of now', (t) => {
  const stats = new Stats();
  let level = 0;
  stats.peakLevel('rq_inflight_max', () => level);
  const set = (n: number): void => {
    level = n;
    stats.peak('rq_inflight_max', n);
  };
  set(9);
  set(2);
  const a = stats.openInterval(); // opened at level 2
  t.is(a.take().rq_inflight_max, 2, 'nothing higher since the opening: the level then');
  set(5);
  set(1);
  t.is(a.take().rq_inflight_max, 5, 'the peak of this interval, not the 9 before it');
  t.is(a.take().rq_inflight_max, 1, 'the next interval starts at the level of now');
  t.is(stats.snapshot().rq_inflight_max, 9, 'since mount: untouched');
});

test('two readers: one taking does not reset the other', (t) => {
  const stats = new Stats();
  let level = 0;
  stats.peakLevel('rq_inflight_max', () => level);
  const a = stats.openInterval();
  const b = stats.openInterval();
  level = 7;
  stats.peak('rq_inflight_max', 7);
  level = 0;
  t.is(a.take().rq_inflight_max, 7);
  t.is(a.take().rq_inflight_max, 0);
  t.is(b.take().rq_inflight_max, 7, 'b still sees its 7');
  a.close();
  stats.peak('rq_inflight_max', 3);
  t.is(b.take().rq_inflight_max, 3);
  t.is(a.take().rq_inflight_max, 7, 'a closed interval is a plain snapshot (since mount)');
});

test('counters in an interval snapshot are the plain values', (t) => {
  const stats = new Stats();
  const a = stats.openInterval();
  stats.c.read_calls += 3;
  t.is(a.take().read_calls, 3);
  t.is(a.take().read_calls, 3, 'counters are never reset: readers subtract');
});
