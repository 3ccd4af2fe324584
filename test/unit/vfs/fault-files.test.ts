/**
 * `.aheadfs/fail_make_request/` and `.aheadfs/delay/` through the control files, over a
 * request queue with the fake device: values read back, bad ones refused with EINVAL and
 * nothing changed, and a write acts on the next request.
 */

import test from 'ava';
import { ControlDir } from '../../../src/fuse/control-dir.js';
import { makeControlFiles } from '../../../src/vfs/control.js';
import { makeFaultFiles } from '../../../src/vfs/fault-files.js';
import { makeTunables } from '../../../src/vfs/tunables.js';
import { ended, harness, mkBio, settle } from '../block/fake-device.js';
import { errorCodeOf } from '../../helpers/error-code.js';

function setup() {
  const h = harness({ scheduler: 'none' });
  const bdi = { raPages: 32, ioPages: 320, readCongested: () => h.q.congested() };
  const tunables = makeTunables({ bdi, queue: h.q, cache: { useReadahead: true }, trace: h.trace });
  const files = makeControlFiles({
    stats: h.stats,
    trace: h.trace,
    tunables,
    diskstats: () => '',
    files: () => '',
    dropCaches: () => 0,
    groups: makeFaultFiles(h.q.faults, 2048),
  });
  return { ...h, files, get: (n: string) => files.read(n).trim() };
}

const code = errorCodeOf;

test('the two directories, their files and the kernel defaults', (t) => {
  const s = setup();
  t.true(s.files.list('').includes('fail_make_request'));
  t.true(s.files.list('').includes('delay'));
  t.true(s.files.isDir('fail_make_request'));
  t.deepEqual(s.files.list('fail_make_request'), ['probability', 'interval', 'times', 'space', 'verbose', 'ops', 'sectors']);
  t.deepEqual(s.files.list('delay'), ['read_us', 'write_us']);
  const values = s.files.list('fail_make_request').map((n) => `${n}=${s.get(`fail_make_request/${n}`)}`);
  t.deepEqual(values, ['probability=0', 'interval=1', 'times=1', 'space=0', 'verbose=2', 'ops=read,write,flush', 'sectors=0-2047']);
  t.is(s.files.read('delay/read_us'), '0\n');
  t.is(code(() => s.files.read('fail_make_request/nope')), 'ENOENT');
  t.is(code(() => s.files.read('delay')), 'EISDIR');
  const dir = new ControlDir(s.files, 1);
  t.is(dir.getattr('/.aheadfs/fail_make_request/probability').mode & 0o777, 0o644, 'writable');
  t.is(dir.getattr('/.aheadfs/delay/write_us').mode & 0o777, 0o644);
});

test('writes are read back; bad values are EINVAL and change nothing', (t) => {
  const s = setup();
  const good: [string, string, string][] = [
    ['fail_make_request/probability', '100\n', '100'],
    ['fail_make_request/interval', '7', '7'],
    ['fail_make_request/times', '-1\n', '-1'],
    ['fail_make_request/space', '65536', '65536'],
    ['fail_make_request/verbose', '0', '0'],
    ['fail_make_request/ops', 'write,flush\n', 'write,flush'],
    ['fail_make_request/sectors', '64-127\n', '64-127'],
    ['delay/read_us', '2500', '2500'],
    ['delay/write_us', '10', '10'],
  ];
  for (const [name, v, shown] of good) {
    s.files.write(name, v);
    t.is(s.get(name), shown, name);
  }
  const bad: [string, string][] = [
    ['fail_make_request/probability', '101'],
    ['fail_make_request/probability', '-1'],
    ['fail_make_request/probability', '5%'],
    ['fail_make_request/interval', '0x10'],
    ['fail_make_request/times', '-2'],
    ['fail_make_request/times', '2147483648'],
    ['fail_make_request/space', '-5'],
    ['fail_make_request/verbose', '3'],
    ['fail_make_request/ops', 'discard'],
    ['fail_make_request/ops', ''],
    ['fail_make_request/sectors', '10'],
    ['fail_make_request/sectors', '9-8'],
    ['delay/read_us', '10000001'],
    ['delay/write_us', '1.5'],
  ];
  for (const [name, v] of bad) {
    const before = s.get(name);
    t.is(code(() => s.files.write(name, v)), 'EINVAL', `${name} <- ${JSON.stringify(v)}`);
    t.is(s.get(name), before, `${name} unchanged`);
  }
});

test('echo 100 > probability (with times -1) fails the next read request; echo 0 turns it off', async (t) => {
  const s = setup();
  s.files.write('fail_make_request/verbose', '0');
  s.files.write('fail_make_request/times', '-1');
  s.files.write('fail_make_request/probability', '100');
  const e = ended();
  s.q.submitBio(mkBio('read', 0, 8, e));
  await settle();
  t.deepEqual(e.statuses, ['EIO']);
  t.is(s.dev.ios.length, 0);
  s.files.write('fail_make_request/probability', '0');
  s.dev.auto = true;
  s.q.submitBio(mkBio('read', 0, 8, e));
  await settle();
  t.deepEqual(e.statuses, ['EIO', undefined]);
  t.is(s.stats.c.fail_injected, 1);
});
