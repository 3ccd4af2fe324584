import test from 'ava';
import { tmpdir } from 'node:os';
import { runMicro, runMicroIsolated } from '../../src/bench/micro.js';

// The in-process benchmark times each kernel's read loop over the folios its own cold read
// made (no timed assertions: the figures belong to the bench, only what was timed is checked).

const small = { tmpRoot: tmpdir(), fileBytes: 4 << 20, reads: 2000, trace: false };

test('micro: under 4.18 the timed reads run over order-0 folios, every page of the file cached', async (t) => {
  const r = await runMicro({ ...small, kernel: '4.18' });
  t.is(r.kernel, '4.18');
  t.deepEqual(r.folioOrders, { 0: (4 << 20) / 4096 });
  t.is(r.folioOrder, undefined);
  t.true(r.pagesPerSec > 0);
});

test('micro: under 6.18 the cold read leaves large folios (readahead chose them, not the bench)', async (t) => {
  const r = await runMicro({ ...small, kernel: '6.18', bs: 128 << 10 });
  t.is(r.kernel, '6.18');
  t.is(r.bs, 128 << 10);
  const orders = Object.keys(r.folioOrders).map(Number);
  t.true(Math.max(...orders) >= 2, JSON.stringify(r.folioOrders));
  const pages = Object.entries(r.folioOrders).reduce((n, [o, c]) => n + c * (1 << Number(o)), 0);
  t.is(pages, (4 << 20) / 4096, 'the whole file cached');
});

test('micro: --order refills the cache with folios of that one order under either kernel', async (t) => {
  const r = await runMicro({ ...small, kernel: '4.18', folioOrder: 3 });
  t.is(r.folioOrder, 3);
  t.deepEqual(r.folioOrders, { 3: (4 << 20) / 4096 / 8 });
});

test('micro: runMicroIsolated times the loop in a child process and returns its figures', async (t) => {
  const r = await runMicroIsolated({ ...small, kernel: '6.18', trace: true });
  t.not(r.pid, process.pid, 'another process ran the loop');
  t.is(r.kernel, '6.18');
  t.true(r.trace);
  t.is(r.reads, small.reads);
  const pages = Object.entries(r.folioOrders).reduce((n, [o, c]) => n + c * (1 << Number(o)), 0);
  t.is(pages, (4 << 20) / 4096, 'the whole file cached in the child');
});

test('micro: a child that fails is an error with its first line (the message), not a hang', async (t) => {
  const err = await t.throwsAsync(runMicroIsolated({ ...small, tmpRoot: '/nonexistent/aheadfs-micro', kernel: '6.18' }));
  t.regex(err?.message ?? '', /^micro child: .*ENOENT/);
});
