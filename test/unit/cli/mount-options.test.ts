/**
 * `-o` as mount(8) and fstab hand it over (src/cli/mount-options.ts): flags with `_` for
 * `-`, ro/rw (the last wins), the kernel's flags for libfuse, mount(8)'s and systemd's own
 * options ignored, escaped commas kept, anything else refused with one UsageError line.
 */
import test from 'ava';
import { parseMountOptions } from '../../../src/cli/mount-options.js';
import { UsageError } from '../../../src/errors.js';

const spec = { valued: ['read-ahead-kb', 'cache-size', 'fail-ops'], switches: ['allow-other'] };

test('what mount.fuse passes for an fstab line', (t) => {
  const o = parseMountOptions(['rw,noauto,read_ahead_kb=1024,cache_size=512M,x-systemd.automount,nofail,_netdev,comment=a,dev,suid,noexec'], spec);
  t.deepEqual([...o.flags], [['read-ahead-kb', '1024'], ['cache-size', '512M']]);
  t.is(o.readOnly, false);
  t.deepEqual(o.kernelFlags, ['dev', 'suid', 'noexec']);
});

test('ro and rw: the last wins; none given: undefined; later -o strings win', (t) => {
  t.is(parseMountOptions(['rw,ro'], spec).readOnly, true);
  t.is(parseMountOptions(['ro', 'rw'], spec).readOnly, false);
  t.is(parseMountOptions(['defaults'], spec).readOnly, undefined);
  t.is(parseMountOptions(['read_ahead_kb=8', 'read_ahead_kb=16'], spec).flags.get('read-ahead-kb'), '16');
  t.is(parseMountOptions(['allow_other'], spec).flags.get('allow-other'), true);
});

test('an escaped comma stays in the value', (t) => {
  t.is(parseMountOptions(['fail_ops=read\\,write,ro'], spec).flags.get('fail-ops'), 'read,write');
});

test('refused: unknown options, a value missing or not wanted', (t) => {
  for (const [text, re] of [
    ['bogus', /unknown mount option 'bogus'/],
    ['read_ahead_kb', /-o read_ahead_kb needs a value/],
    ['read_ahead_kb=', /-o read_ahead_kb needs a value/],
    ['allow_other=yes', /-o allow_other takes no value/],
    ['foreground', /unknown mount option 'foreground'/],
  ] as const) {
    const err = t.throws(() => parseMountOptions([text], spec), { instanceOf: UsageError }, text);
    t.regex(err?.message ?? '', re);
    t.false((err?.message ?? '').includes('\n'));
  }
});
