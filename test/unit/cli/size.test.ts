import test from 'ava';
import { UsageError } from '../../../src/errors.js';
import { formatSize, parseSize } from '../../../src/cli/size.js';

test('plain bytes and binary suffixes', (t) => {
  t.is(parseSize('4096'), 4096);
  t.is(parseSize('64K'), 64 * 1024);
  t.is(parseSize('64M'), 64 * 2 ** 20);
  t.is(parseSize('1G'), 2 ** 30);
  t.is(parseSize('2T'), 2 * 2 ** 40);
  t.is(parseSize('64m'), 64 * 2 ** 20);
});

test('optional B and iB', (t) => {
  t.is(parseSize('64MiB'), 64 * 2 ** 20);
  t.is(parseSize('64MB'), 64 * 2 ** 20);
  t.is(parseSize('1gib'), 2 ** 30);
  t.is(parseSize('512B'), 512);
});

test('fractions that are whole bytes', (t) => {
  t.is(parseSize('1.5G'), 1.5 * 2 ** 30);
  t.is(parseSize('0.5K'), 512);
});

for (const bad of ['', 'abc', '-1', '0', '0K', '1.5', '1.1K', '12Q', '1 G B', 'G', '1e6', '0x100', '10iB', ' ']) {
  test(`rejects ${JSON.stringify(bad)}`, (t) => {
    t.throws(() => parseSize(bad), { instanceOf: UsageError });
  });
}

test('the message names the option and the value', (t) => {
  const err = t.throws(() => parseSize('lots', '--size'), { instanceOf: UsageError });
  t.regex(err.message, /--size 'lots'/);
});

test('formatSize', (t) => {
  t.is(formatSize(2 ** 30), '1 GiB');
  t.is(formatSize(1536), '1.5 KiB');
  t.is(formatSize(100), '100 B');
});
