import test from 'ava';
import { UsageError } from '../../../src/errors.js';
import { mixedPattern, parseIolog, presetPattern, PRESET_NAMES } from '../../../src/kerneldiff/patterns.js';

test('iolog v2: read lines in order, files by first appearance, sizes from the furthest read', (t) => {
  const p = parseIolog(
    ['fio version 2 iolog', '/d/a add', '/d/b add', '/d/a open', '/d/b open', '/d/a read 0 4096', '/d/b read 8192 100', '/d/a read 4096 4096', '/d/a close', ''].join('\n'),
  );
  t.deepEqual(p.files, [
    { name: 'f0', size: 8192 },
    { name: 'f1', size: 8292 },
  ]);
  t.deepEqual(p.ops, [
    { file: 0, offset: 0, length: 4096 },
    { file: 1, offset: 8192, length: 100 },
    { file: 0, offset: 4096, length: 4096 },
  ]);
  t.is(parseIolog('fio version 2 iolog\n/a read 0 1\n', { fileSize: 5000 }).files[0]!.size, 5000);
});

test('iolog v2: bad input is a UsageError naming the line', (t) => {
  const bad: [string, RegExp][] = [
    ['/a read 0 1\n', /not a fio iolog v2 file/],
    ['fio version 2 iolog\n/a write 0 4096\n', /line 2: "write" is not supported/],
    ['fio version 2 iolog\n/a read -1 4096\n', /line 2: bad offset/],
    ['fio version 2 iolog\n/a read 0 0\n', /line 2: bad length/],
    ['fio version 2 iolog\n/a read 0\n', /line 2: expected/],
    ['fio version 2 iolog\n/a frobnicate\n', /line 2: unknown action/],
    ['fio version 2 iolog\n/a add\n', /no read lines/],
  ];
  for (const [text, msg] of bad) t.throws(() => parseIolog(text), { instanceOf: UsageError, message: msg }, text);
});

test('presets: every read lies in its file, and the random one is the same on every build', (t) => {
  for (const name of PRESET_NAMES) {
    const p = presetPattern(name);
    t.true(p.ops.length > 0, name);
    for (const op of p.ops) t.true(op.file < p.files.length && op.offset >= 0 && op.length > 0, name);
  }
  t.deepEqual(presetPattern('random').ops.slice(0, 3), presetPattern('random').ops.slice(0, 3));
  t.deepEqual(presetPattern('random').ops.slice(0, 2).map((o) => o.offset / 4096), [2915, 1636]);
  t.throws(() => presetPattern('nope'), { instanceOf: UsageError, message: /unknown pattern "nope"/ });
});

test('mixed:SEED names a seeded random mix, the same one every time', (t) => {
  t.deepEqual(presetPattern('mixed:60'), mixedPattern(60));
  t.notDeepEqual(mixedPattern(60).ops, mixedPattern(61).ops);
  t.is(presetPattern('mixed:60').name, 'mixed:60');
  for (const bad of ['mixed:0', 'mixed:', 'mixed:-1', 'mixed:1e3']) t.throws(() => presetPattern(bad), { instanceOf: UsageError }, bad);
});
