/**
 * `.aheadfs/tunables/iosched/<name>`: mq-deadline's tunables (the kernel's
 * /sys/block/<dev>/queue/iosched/ files) through the control files, acting on the queue's
 * live elevator; absent with `none`; back to the defaults after a scheduler switch.
 */

import test from 'ava';
import { DD_FIFO_BATCH, DD_READ_EXPIRE_MS, DD_WRITE_EXPIRE_MS, DD_WRITES_STARVED } from '../../../src/block/mq-deadline.js';
import type { RequestQueueOptions } from '../../../src/block/queue.js';
import { ControlDir } from '../../../src/fuse/control-dir.js';
import { makeControlFiles, type ControlFiles } from '../../../src/vfs/control.js';
import { makeTunables } from '../../../src/vfs/tunables.js';
import { harness, mkBio, settle, type Harness } from '../block/fake-device.js';
import { errorCodeOf } from '../../helpers/error-code.js';

const IOSCHED = ['read_expire', 'write_expire', 'writes_starved', 'front_merges', 'fifo_batch'];

interface Setup extends Harness {
  files: ControlFiles;
  get(name: string): string;
  set(name: string, value: string): void;
}

function setup(opts: Partial<Omit<RequestQueueOptions, 'stats' | 'trace' | 'now'>> = {}): Setup {
  const h = harness(opts);
  const bdi = { raPages: 32, ioPages: 320, readCongested: () => h.q.congested() };
  const tunables = makeTunables({ bdi, queue: h.q, cache: { useReadahead: true }, trace: h.trace });
  const files = makeControlFiles({ stats: h.stats, trace: h.trace, tunables, diskstats: () => '', files: () => '', dropCaches: () => 0 });
  return {
    ...h,
    files,
    get: (name) => files.read(`tunables/iosched/${name}`).trim(),
    set: (name, value) => files.write(`tunables/iosched/${name}`, value),
  };
}

const code = errorCodeOf;

/** Run the queue one request at a time (nr_requests 1), completing each; the sectors sent, in order. */
async function runOneByOne(s: Setup): Promise<string[]> {
  while (s.dev.pending().length > 0) {
    s.dev.complete();
    await settle();
  }
  return s.dev.summary();
}

test('iosched/ is a directory under tunables/ with the five mq-deadline files and the kernel defaults', (t) => {
  const s = setup();
  t.true(s.files.list('tunables').includes('iosched'));
  t.true(s.files.isDir('tunables/iosched'));
  t.deepEqual(s.files.list('tunables/iosched'), IOSCHED);
  t.is(s.files.read('tunables/iosched/read_expire'), `${DD_READ_EXPIRE_MS}\n`);
  t.deepEqual(
    IOSCHED.map((n) => s.get(n)),
    [String(DD_READ_EXPIRE_MS), String(DD_WRITE_EXPIRE_MS), String(DD_WRITES_STARVED), '1', String(DD_FIFO_BATCH)],
  );
  t.deepEqual(IOSCHED.map(s.get), ['500', '5000', '2', '1', '16'], 'the kernel values (HZ/2 and 5*HZ in ms)');
  t.is(code(() => s.files.read('tunables/iosched')), 'EISDIR');
  t.is(code(() => s.files.read('tunables/iosched/async_depth')), 'ENOENT', 'not implemented here');
});

test('values read back; the kernel clamps (front_merges to 0/1, expiries and fifo_batch to >= 0) are applied', (t) => {
  const s = setup();
  const cases: [string, string, string][] = [
    ['read_expire', '250', '250'],
    ['read_expire', '-1', '0'],
    ['write_expire', ' 12\n', '12'],
    ['writes_starved', '-3', '-3'],
    ['writes_starved', '+4', '4'],
    ['front_merges', '0', '0'],
    ['front_merges', '7', '1'],
    ['front_merges', '-2', '0'],
    ['fifo_batch', '-5', '0'],
    ['fifo_batch', '2147483647', '2147483647'],
    ['fifo_batch', '-0', '0'],
  ];
  for (const [name, value, want] of cases) {
    s.set(name, value);
    t.is(s.get(name), want, `${name} <- ${JSON.stringify(value)}`);
  }
});

test('bad values are EINVAL and change nothing', (t) => {
  const s = setup();
  s.set('fifo_batch', '4');
  const before = IOSCHED.map(s.get);
  for (const name of IOSCHED) {
    for (const bad of ['', 'lots', '1.5', '1e3', '0x10', '010', '2147483648', '-2147483649', '1 2', '--1']) {
      t.is(code(() => s.set(name, bad)), 'EINVAL', `${name} <- ${JSON.stringify(bad)}`);
    }
  }
  t.deepEqual(IOSCHED.map(s.get), before);
});

test('fifo_batch=1 ends a batch after one request: an expired fifo head goes next instead of the sector order', async (t) => {
  const order = async (fifoBatch?: string): Promise<string[]> => {
    const s = setup({ nrRequests: 1 });
    if (fifoBatch !== undefined) s.set('fifo_batch', fifoBatch);
    s.q.submitBio(mkBio('read', 5000, 8)); // takes the only tag
    s.q.submitBio(mkBio('read', 1000, 8)); // the oldest queued
    s.clock.t = 1;
    s.q.submitBio(mkBio('read', 0, 8)); // next oldest, below 1000 in sector order
    s.clock.t = 2;
    for (const sector of [2000, 2016, 2032]) s.q.submitBio(mkBio('read', sector, 8));
    s.clock.t = 10_000; // every deadline has passed
    return runOneByOne(s);
  };
  t.deepEqual(await order(), ['r5000+8', 'r1000+8', 'r2000+8', 'r2016+8', 'r2032+8', 'r0+8'], 'default 16: the batch goes on');
  t.deepEqual(await order('1'), ['r5000+8', 'r1000+8', 'r0+8', 'r2000+8', 'r2016+8', 'r2032+8']);
});

test('read_expire: a long one keeps an old read from interrupting the sector order', async (t) => {
  const s = setup({ nrRequests: 1 });
  s.set('fifo_batch', '1');
  s.set('read_expire', '100000');
  s.q.submitBio(mkBio('read', 5000, 8));
  s.q.submitBio(mkBio('read', 1000, 8));
  s.clock.t = 1;
  s.q.submitBio(mkBio('read', 0, 8));
  s.clock.t = 2;
  for (const sector of [2000, 2016, 2032]) s.q.submitBio(mkBio('read', sector, 8));
  s.clock.t = 10_000; // before 1 + 100000: nothing expired
  t.deepEqual(await runOneByOne(s), ['r5000+8', 'r1000+8', 'r2000+8', 'r2016+8', 'r2032+8', 'r0+8']);
});

test('writes_starved=0: a queued write goes before a queued read', async (t) => {
  const order = async (writesStarved?: string): Promise<string[]> => {
    const s = setup({ nrRequests: 1 });
    if (writesStarved !== undefined) s.set('writes_starved', writesStarved);
    s.q.submitBio(mkBio('read', 5000, 8));
    s.q.submitBio(mkBio('read', 100, 8));
    s.q.submitBio(mkBio('write', 200, 8));
    return runOneByOne(s);
  };
  t.deepEqual(await order(), ['r5000+8', 'r100+8', 'w200+8'], 'default 2: reads first');
  t.deepEqual(await order('0'), ['r5000+8', 'w200+8', 'r100+8']);
});

test('front_merges=0: a bio ending where a queued request starts stays a request of its own', async (t) => {
  const sent = async (frontMerges?: string): Promise<{ ios: string[]; merges: number }> => {
    const s = setup({ nrRequests: 1 });
    if (frontMerges !== undefined) s.set('front_merges', frontMerges);
    s.q.submitBio(mkBio('read', 5000, 8)); // takes the only tag
    s.q.submitBio(mkBio('read', 100, 8)); // queued
    s.q.submitBio(mkBio('read', 92, 8)); // ends at 100: a front merge candidate
    return { ios: await runOneByOne(s), merges: s.stats.c.elv_merge };
  };
  t.deepEqual(await sent(), { ios: ['r5000+8', 'r92+16'], merges: 1 });
  t.deepEqual(await sent('0'), { ios: ['r5000+8', 'r100+8', 'r92+8'], merges: 0 }, 'two requests, oldest first');
  t.deepEqual(await sent('1'), { ios: ['r5000+8', 'r92+16'], merges: 1 });
});

test('a scheduler switch gives a new elevator with the defaults; the files act on it', async (t) => {
  const s = setup({ nrRequests: 1 });
  s.set('front_merges', '0');
  s.set('fifo_batch', '3');
  s.files.write('tunables/scheduler', 'mq-deadline'); // the active one: no switch, values kept
  t.deepEqual([s.get('front_merges'), s.get('fifo_batch')], ['0', '3']);
  s.files.write('tunables/scheduler', 'none');
  s.files.write('tunables/scheduler', 'mq-deadline');
  t.deepEqual(IOSCHED.map(s.get), ['500', '5000', '2', '1', '16']);
  // The new elevator front-merges (the default) ...
  s.q.submitBio(mkBio('read', 5000, 8));
  s.q.submitBio(mkBio('read', 100, 8));
  s.q.submitBio(mkBio('read', 92, 8));
  t.is(s.stats.c.elv_merge, 1);
  // ... and a write to the file reaches it, not the elevator that was replaced.
  s.set('front_merges', '0');
  s.q.submitBio(mkBio('read', 300, 8));
  s.q.submitBio(mkBio('read', 292, 8));
  t.is(s.stats.c.elv_merge, 1, 'no front merge once front_merges is 0 on the live elevator');
  t.deepEqual(await runOneByOne(s), ['r5000+8', 'r92+16', 'r292+8', 'r300+8']);
});

test('with none active there is no iosched/: its files are ENOENT, and a write through a handle opened before', (t) => {
  const s = setup();
  const dir = new ControlDir(s.files, 1234);
  const fh = dir.open('/.aheadfs/tunables/iosched/fifo_batch');
  t.is(dir.getattr('/.aheadfs/tunables/iosched').mode & 0o170000, 0o040000);
  t.is(dir.getattr('/.aheadfs/tunables/iosched/fifo_batch').mode & 0o777, 0o644);
  t.deepEqual(dir.readdir('/.aheadfs/tunables/iosched'), IOSCHED);

  s.files.write('tunables/scheduler', 'none');
  t.false(s.files.list('tunables').includes('iosched'));
  t.false(s.files.isDir('tunables/iosched'));
  t.is(code(() => s.files.list('tunables/iosched')), 'ENOENT');
  for (const name of IOSCHED) {
    t.is(code(() => s.files.read(`tunables/iosched/${name}`)), 'ENOENT', name);
    t.is(code(() => s.files.write(`tunables/iosched/${name}`, '1')), 'ENOENT', name);
  }
  t.is(code(() => dir.getattr('/.aheadfs/tunables/iosched')), 'ENOENT');
  t.is(code(() => dir.getattr('/.aheadfs/tunables/iosched/fifo_batch')), 'ENOENT');
  t.is(code(() => dir.open('/.aheadfs/tunables/iosched/fifo_batch')), 'ENOENT');
  t.is(code(() => dir.write(fh, Buffer.from('1'), 1)), 'ENOENT', 'the handle from before the switch');
  dir.release(fh);

  s.files.write('tunables/scheduler', 'mq-deadline');
  t.is(s.get('fifo_batch'), '16', 'back, with the defaults');
});

test('the flat tunables are unchanged by the subdirectory', (t) => {
  const s = setup();
  t.deepEqual(
    s.files.list('tunables').filter((n) => n !== 'iosched'),
    ['read_ahead_kb', 'max_sectors_kb', 'nr_requests', 'scheduler', 'readpages', 'trace'],
  );
  t.is(s.files.read('tunables/scheduler'), 'none [mq-deadline]\n');
  t.is(code(() => s.files.read('tunables')), 'EISDIR');
  t.is(code(() => s.files.read('tunables/nope')), 'ENOENT');
  t.is(code(() => s.files.read('tunables/read_ahead_kb/x')), 'ENOENT');
  t.is(code(() => s.files.write('tunables/iosched', '1')), 'EISDIR');
});
