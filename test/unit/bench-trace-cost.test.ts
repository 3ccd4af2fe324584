/** The trace-cost bench's summary (src/bench/trace-cost.ts): medians per side and the per-pair ratio with its spread. */

import test from 'ava';
import { formatSummary, median, summarise } from '../../src/bench/trace-cost.js';

test('median of odd and even counts', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.true(Number.isNaN(median([])));
});

test('summarise: medians per side, ratios per pair (not the ratio of medians), min and max', (t) => {
  const s = summarise([
    { on: 1.1, off: 1.0 },
    { on: 0.9, off: 1.0 },
    { on: 2.0, off: 1.6 },
  ]);
  t.is(s.medianOn, 1.1);
  t.is(s.medianOff, 1.0);
  t.is(s.ratio.median, 1.1);
  t.is(s.ratio.min, 0.9);
  t.is(s.ratio.max, 1.25);
  const text = formatSummary(s, '1 MiB');
  t.regex(text, /on\/off per pair: median 1\.100 {2}\(min 0\.900, max 1\.250\)/);
});
