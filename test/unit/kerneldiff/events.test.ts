import test from 'ava';
import { diffEvents, formatFixture, normalise, parseFixture, parseRaLine, parseRaTrace } from '../../../src/kerneldiff/events.js';

const KERNEL_LINE =
  '             node-48213   [001] ..... 51234.123456: page_cache_sync_ra: dev=7:3 ino=c index=0 req_count=1 order=0 size=0 async_size=0 ra_pages=32 mmap_miss=0 prev_pos=-1';

test('a tracefs line: dev dropped, ino from hex, fields in order', (t) => {
  const ev = parseRaLine(KERNEL_LINE, { inoHex: true })!;
  t.is(ev.name, 'page_cache_sync_ra');
  t.deepEqual(ev.fields.slice(0, 3), [
    ['ino', '12'],
    ['index', '0'],
    ['req_count', '1'],
  ]);
  t.false(ev.fields.some(([k]) => k === 'dev'));
});

test('an aheadfs trace line: t= dropped; other kinds of lines ignored', (t) => {
  const text = [
    'ra sync ino=12 fh=1 index=0 req=1 start=0 size=4 async=3 reason=initial t=10',
    'page_cache_ra_unbounded: ino=1f index=7 nr_to_read=1 lookahead_size=0 t=11',
    'bio read ino=12 t=12',
  ].join('\n');
  const evs = parseRaTrace(text, { inoHex: true });
  t.is(evs.length, 1);
  t.deepEqual(evs[0], { name: 'page_cache_ra_unbounded', fields: [['ino', '31'], ['index', '7'], ['nr_to_read', '1'], ['lookahead_size', '0']] });
});

test('an aheadfs line with the reader pid: pid= dropped like t= (the kernel side has its own task-pid prefix)', (t) => {
  const evs = parseRaTrace('page_cache_ra_unbounded: ino=1f index=7 nr_to_read=1 lookahead_size=0 pid=4242 t=11', { inoHex: true });
  t.deepEqual(evs[0]!.fields, [['ino', '31'], ['index', '7'], ['nr_to_read', '1'], ['lookahead_size', '0']]);
});

test('normalise numbers inodes by first appearance', (t) => {
  const evs = parseRaTrace(
    ['page_cache_ra_unbounded: ino=ff index=1 nr_to_read=1 lookahead_size=0', 'page_cache_ra_unbounded: ino=a index=2 nr_to_read=1 lookahead_size=0', 'page_cache_ra_unbounded: ino=ff index=3 nr_to_read=1 lookahead_size=0'].join('\n'),
    { inoHex: true },
  );
  t.deepEqual(normalise(evs).map((l) => l.split(' ')[1]), ['ino=#0', 'ino=#1', 'ino=#0']);
});

test('diff: identical lists', (t) => {
  const d = diffEvents(['a x=1', 'b y=2'], ['a x=1', 'b y=2'], { left: 'kernel', right: 'model' });
  t.is(d.firstDiff, undefined);
  t.regex(d.text, /identical: 2 events/);
});

test('diff: the first difference, field by field, and a missing tail', (t) => {
  const left = ['page_cache_ra_order ino=#0 index=0 order=0 size=4', 'page_cache_ra_order ino=#0 index=4 order=2 size=8', 'page_cache_ra_order ino=#0 index=12 order=4 size=4'];
  const right = ['page_cache_ra_order ino=#0 index=0 order=0 size=4', 'page_cache_ra_order ino=#0 index=4 order=2 size=16'];
  const d = diffEvents(left, right, { left: 'kernel', right: 'model' });
  t.is(d.firstDiff, 1);
  t.regex(d.text, /first difference at event 1 \(kernel: 3 events, model: 2\)/);
  t.regex(d.text, /fields: size 8 vs 16/);
  t.regex(d.text, /^ {3}1 {2}order ino=#0 index=4 order=2 size=8 +<> order ino=#0 index=4 order=2 size=16$/m);
  t.regex(d.text, /^ {3}2 {2}order ino=#0 index=12 order=4 size=4 +<> $/m);
  const shorter = diffEvents(left.slice(0, 1), left, { left: 'kernel', right: 'model' });
  t.is(shorter.firstDiff, 1);
  t.regex(shorter.text, /kernel: \(none\)/);
});

test('fixture text round-trips', (t) => {
  const text = formatFixture({ pattern: 'seq4k', readAheadKb: 128, maxSectorsKb: 256, kernel: '6.18.1' }, ['a x=1', 'b y=2']);
  t.deepEqual(parseFixture(text), { header: { pattern: 'seq4k', readAheadKb: 128, maxSectorsKb: 256, kernel: '6.18.1' }, lines: ['a x=1', 'b y=2'] });
  t.throws(() => parseFixture('a x=1\n'), { message: /not a kernel-diff event list/ });
});
