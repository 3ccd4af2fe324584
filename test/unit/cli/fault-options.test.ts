/**
 * The mount options of fault injection and delay: the control files' ranges, one
 * UsageError line naming the option, and the daemon's arguments carrying the values.
 */

import test from 'ava';
import { faultArgs, parseFaultArgs } from '../../../src/cli/fault-options.js';
import { UsageError } from '../../../src/errors.js';

test('no fault option: nothing set', (t) => {
  t.is(parseFaultArgs({}), undefined);
  t.deepEqual(faultArgs(undefined), []);
});

test('every option parsed, and passed on to the daemon unchanged', (t) => {
  const c = parseFaultArgs({
    'fail-probability': '100',
    'fail-interval': '3',
    'fail-times': '-1',
    'fail-space': '8192',
    'fail-verbose': '1',
    'fail-ops': 'read',
    'fail-sectors': '2048-4095',
    'delay-read-us': '3000',
    'delay-write-us': '0',
  });
  t.deepEqual(c, { probability: 100, interval: 3, times: -1, space: 8192, verbose: 1, ops: ['read'], sectors: { start: 2048, end: 4095 }, readUs: 3000, writeUs: 0 });
  const args = faultArgs(c);
  const back: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) back[args[i]!.slice(2)] = args[i + 1]!;
  t.deepEqual(parseFaultArgs(back), c);
});

test('bad values: a UsageError naming the option and what it takes', (t) => {
  const bad: [string, string, RegExp][] = [
    ['fail-probability', '101', /^bad --fail-probability '101': expected a whole percentage from 0 to 100/],
    ['fail-probability', 'NaN', /^bad --fail-probability 'NaN': expected a whole percentage from 0 to 100/],
    ['fail-interval', '-1', /^bad --fail-interval '-1'/],
    ['fail-times', '-2', /^bad --fail-times '-2': expected -1 \(no limit\)/],
    ['fail-space', '1e3', /^bad --fail-space '1e3'/],
    ['fail-verbose', '3', /^bad --fail-verbose '3': expected 0, 1 or 2/],
    ['fail-ops', 'read,trim', /^bad --fail-ops 'read,trim': unknown op "trim"/],
    ['fail-sectors', '100', /^bad --fail-sectors '100': expected START-END/],
    ['delay-read-us', '10000001', /^bad --delay-read-us '10000001': expected a whole number of microseconds/],
    ['delay-write-us', '', /^bad --delay-write-us ''/],
  ];
  for (const [opt, v, re] of bad) {
    const err = t.throws(() => parseFaultArgs({ [opt]: v }), { instanceOf: UsageError }, `${opt} ${v}`);
    t.regex(err?.message ?? '', re);
    t.false(err?.message.includes('\n'), 'one line');
  }
});
