import test from 'ava';
import { statsRates } from '../../../src/cli/stats.js';

test('statsRates: a per-second rate for counters only, not for gauges or high-water marks', (t) => {
  const prev = new Map([['read_calls', 100], ['pages_cached', 10], ['rq_inflight_max', 4]]);
  const cur = new Map([['read_calls', 300], ['pages_cached', 50], ['rq_inflight_max', 9]]);
  const rates = statsRates(prev, cur, 2000);
  t.is(rates.get('read_calls'), 100);
  t.false(rates.has('pages_cached'), 'a gauge');
  t.false(rates.has('rq_inflight_max'), 'a high-water mark');
});
