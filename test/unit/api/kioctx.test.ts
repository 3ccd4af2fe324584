/**
 * The kioctx (src/aio/kioctx.ts) through the in-process API, on a real store (block files,
 * the real page cache, readahead and block queue): the ring's limits, completion at submit
 * for cached reads and through the folio wait queues for the others, RWF_NOWAIT, io_cancel,
 * io_destroy, errors as -errno, and the bytes read.
 */

import test, { type ExecutionContext } from 'ava';
import path from 'node:path';
import { AIO_MAX_NR_DEFAULT, aioRingSize, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, openStore, RWF_NOWAIT, type Iocb, type OpenStoreOptions, type Store, type StoreFile } from '../../../src/api/index.js';
import { ERRNO } from '../../../src/errors.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { mulberry32 } from '../../helpers/prng.js';
import { MiB, rejectsCode, tmpDir } from '../fs/helpers.js';

const FILE_BYTES = 1 * MiB;

function pattern(bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7 + (i >> 12) * 13) & 0xff;
  return data;
}

/** A store with /f (FILE_BYTES of `pattern`), its cache dropped, /f open read-only. */
async function setup(t: ExecutionContext, opts: OpenStoreOptions = {}): Promise<{ store: Store; file: StoreFile; data: Uint8Array; dir: string }> {
  const dir = path.join(tmpDir(t, 'aheadfs-aio-'), 'store');
  await mkfs(dir, { sizeBytes: 16 * MiB, blockFileSize: 4 * MiB });
  const store = await openStore(dir, { cacheBytes: 8 * MiB, ...opts });
  t.teardown(() => store.close());
  const data = pattern(FILE_BYTES);
  const w = await store.open('/f', { write: true, create: true });
  t.is(await w.write(data, 0), FILE_BYTES);
  await w.close();
  await store.sync(); // drop_caches keeps dirty pages, as the kernel's does
  store.dropCaches();
  return { store, file: await store.open('/f'), data, dir };
}

const pread = (fd: number, buf: Uint8Array, offset: number, data?: number): Iocb => ({ opcode: IOCB_CMD_PREAD, fd, buf, nbytes: buf.byteLength, offset, ...(data === undefined ? {} : { data }) });

test('io_setup sizes the ring like the kernel: at least 4 events per CPU, doubled, +2, rounded up to whole pages', async (t) => {
  t.is(aioRingSize(1).nrEvents, 127); // max(1, 4) * 2 + 2 = 10 events: one page, (4096 - 32) / 32
  t.is(aioRingSize(16).nrEvents, 127);
  t.is(aioRingSize(128).nrEvents, 383); // 258 events: 8288 bytes, three pages
  const { store } = await setup(t, { aioMaxNr: 100 });
  const ctx = store.ioSetup(16);
  t.is(ctx.nrEvents, 127);
  t.is(ctx.maxReqs, 16);
  await rejectsCode(t, () => store.ioSetup(0), 'EINVAL');
  await rejectsCode(t, () => store.ioSetup(101), 'EAGAIN'); // more than aio-max-nr
  const big = store.ioSetup(80);
  await rejectsCode(t, () => store.ioSetup(5), 'EAGAIN'); // aio-nr 96 + 5 > 100
  await store.ioDestroy(big);
  t.notThrows(() => store.ioSetup(5)); // its 80 came back at io_destroy
  t.is(AIO_MAX_NR_DEFAULT, 65536);
});

test('the ring holds nr_events - 1 requests: io_submit takes what fits, then EAGAIN until events are reaped', async (t) => {
  const { store, file } = await setup(t);
  const page = new Uint8Array(4096);
  await file.read(page, 0); // page 0 (and its readahead) cached: these reads complete at submit
  const ctx = store.ioSetup(1);
  const slots = ctx.nrEvents - 1; // 126
  const iocbs = Array.from({ length: slots + 1 }, (_, i) => pread(file.fd, new Uint8Array(512), 0, i));
  t.is(store.ioSubmit(ctx, iocbs), slots, 'the batch stops at the iocb that found no slot');
  await rejectsCode(t, () => store.ioSubmit(ctx, [iocbs[slots]!]), 'EAGAIN');
  const first = await store.ioGetevents(ctx, 1, 1);
  t.is(first.length, 1);
  t.is(first[0]!.data, 0);
  t.is(store.ioSubmit(ctx, [iocbs[slots]!]), 1, 'one reaped event freed one slot');
  await rejectsCode(t, () => store.ioSubmit(ctx, [iocbs[0]!]), 'EAGAIN');
  const rest = await store.ioGetevents(ctx, slots, slots + 10, 0);
  t.is(rest.length, slots);
  t.deepEqual(rest.map((e) => e.data), [...Array.from({ length: slots - 1 }, (_, i) => i + 1), slots]);
  t.true(rest.every((e) => e.res === 512));
});

for (const kernel of ['6.18', '4.18'] as const) {
  test(`${kernel}: a cached read completes at submit, an uncached one later through the wait queue, and both return the file bytes`, async (t) => {
    const { store, file, data } = await setup(t, { kernel });
    const warm = new Uint8Array(4096);
    await file.read(warm, 0);
    const before = store.counters();
    const ctx = store.ioSetup(16);
    const cold = pread(file.fd, new Uint8Array(8192), 700 * 1024 + 100, 1); // not cached, straddles pages
    const hot = pread(file.fd, new Uint8Array(3000), 10, 2);
    t.is(store.ioSubmit(ctx, [cold, hot]), 2);
    const now = await store.ioGetevents(ctx, 0, 8, 0);
    t.deepEqual(now.map((e) => e.data), [2], 'only the cached read is done at submit');
    t.is(now[0]!.obj, hot);
    t.is(now[0]!.res, 3000);
    t.deepEqual(hot.buf, data.subarray(10, 3010));
    t.true(cold.buf.every((b) => b === 0), 'the uncached read has not copied anything yet');
    const later = await store.ioGetevents(ctx, 1, 8);
    t.deepEqual(later.map((e) => [e.data, e.res]), [[1, 8192]]);
    t.deepEqual(cold.buf, data.subarray(700 * 1024 + 100, 700 * 1024 + 100 + 8192));
    t.true(store.counters().wait_page > before.wait_page, 'the uncached read waited on a folio wait queue');
    const after = store.counters();
    t.is(after.aio_submit - before.aio_submit, 2);
    t.is(after.aio_inline - before.aio_inline, 1);
    t.is(after.aio_queued - before.aio_queued, 1);
  });
}

test('random reads at depth 16 from one submitter return the file contents, with many requests in flight', async (t) => {
  const { store, file, data } = await setup(t, { raPolicy: 'none' });
  const rand = mulberry32(17);
  const ctx = store.ioSetup(16);
  const all: Iocb[] = [];
  let done = 0;
  let peak = 0;
  while (done < 200) {
    const batch: Iocb[] = [];
    while (ctx.slotsUsed + batch.length < 16 && all.length + batch.length < 200) {
      const len = 1 + Math.floor(rand() * 3 * 4096);
      const offset = Math.floor(rand() * (FILE_BYTES + 4096)); // some past EOF: short or empty
      batch.push(pread(file.fd, new Uint8Array(len), offset, all.length + batch.length));
    }
    if (batch.length > 0) {
      t.is(store.ioSubmit(ctx, batch), batch.length);
      all.push(...batch);
    }
    peak = Math.max(peak, store.diskstats()[8]!);
    for (const e of await store.ioGetevents(ctx, 1, 16)) {
      const want = data.subarray(e.obj.offset, Math.min(FILE_BYTES, e.obj.offset + e.obj.nbytes));
      t.is(e.res, want.length, `read ${String(e.data)}`);
      t.deepEqual(e.obj.buf.subarray(0, e.res), want);
      done++;
    }
  }
  t.true(peak > 1, `requests in flight on the device at once: ${peak}`);
});

test('RWF_NOWAIT: EAGAIN and no I/O when the first page is not cached; a short read of the cached part', async (t) => {
  const { store, file, data } = await setup(t, { raPolicy: 'none' });
  const ctx = store.ioSetup(4);
  const diskBefore = store.counters().disk_read_bytes;
  const cold = { ...pread(file.fd, new Uint8Array(4096), 64 * 1024), rwFlags: RWF_NOWAIT };
  t.is(store.ioSubmit(ctx, [cold]), 1);
  const [e] = await store.ioGetevents(ctx, 0, 1, 0);
  t.is(e?.res, -ERRNO.EAGAIN);
  t.is(store.counters().aio_eagain, 1);
  t.is(store.counters().disk_read_bytes, diskBefore, 'no I/O was started');
  t.is(store.engine.cache.findMapping((await file.stat()).ino)?.pages.get(16), undefined);
  await file.read(new Uint8Array(4096), 0); // page 0 only (no readahead)
  const partial = { ...pread(file.fd, new Uint8Array(8192), 1000), rwFlags: RWF_NOWAIT };
  store.ioSubmit(ctx, [partial]);
  const [p] = await store.ioGetevents(ctx, 0, 1, 0);
  t.is(p?.res, 4096 - 1000);
  t.deepEqual(partial.buf.subarray(0, 3096), data.subarray(1000, 4096));
  t.is(store.counters().disk_read_bytes, diskBefore + 4096, 'only the read(2) read from disk');
  // A write with RWF_NOWAIT: ext4's buffered write refuses it.
  const wfile = await store.open('/f', { write: true });
  store.ioSubmit(ctx, [{ opcode: IOCB_CMD_PWRITE, fd: wfile.fd, buf: new Uint8Array(10), nbytes: 10, offset: 0, rwFlags: RWF_NOWAIT }]);
  t.is((await store.ioGetevents(ctx, 1, 1))[0]?.res, -ERRNO.EOPNOTSUPP);
});

test('io_cancel: a read waiting for I/O ends at once with -ECANCELED and never touches its buffer; a finished one is EINVAL', async (t) => {
  const { store, file } = await setup(t);
  const ctx = store.ioSetup(4);
  const buf = new Uint8Array(4096).fill(0xaa);
  const cold = pread(file.fd, buf, 300 * 1024, 7);
  store.ioSubmit(ctx, [cold]);
  store.ioCancel(ctx, cold);
  const [e] = await store.ioGetevents(ctx, 0, 4, 0);
  t.deepEqual([e?.data, e?.res], [7, -ERRNO.ECANCELED]);
  t.is(store.counters().aio_cancel, 1);
  await rejectsCode(t, () => store.ioCancel(ctx, cold), 'EINVAL');
  const hot = pread(file.fd, new Uint8Array(16), 300 * 1024);
  await store.engine.queue.drain();
  store.ioSubmit(ctx, [hot]); // cached now (the cancelled read's I/O still filled the cache)
  await rejectsCode(t, () => store.ioCancel(ctx, hot), 'EINVAL');
  t.is((await store.ioGetevents(ctx, 1, 1))[0]?.res, 16);
  await store.ioDestroy(ctx); // waits for the cancelled read's I/O too
  t.true(buf.every((b) => b === 0xaa), 'a cancelled read copies nothing');
});

test('io_destroy cancels reads in flight, fails a waiting io_getevents with EINVAL, and waits for the I/O', async (t) => {
  const { store, file } = await setup(t);
  const ctx = store.ioSetup(8);
  store.ioSubmit(ctx, [pread(file.fd, new Uint8Array(4096), 500 * 1024), pread(file.fd, new Uint8Array(4096), 900 * 1024)]);
  const waiting = store.ioGetevents(ctx, 2, 2);
  await store.ioDestroy(ctx);
  await rejectsCode(t, () => waiting, 'EINVAL');
  t.is(store.diskstats()[8], 0, 'nothing in flight on the device when io_destroy returns');
  await rejectsCode(t, () => store.ioSubmit(ctx, []), 'EINVAL');
  await rejectsCode(t, () => store.ioGetevents(ctx, 0, 1, 0), 'EINVAL');
});

test('io_submit refuses bad iocbs at submit: bad fd, opcode, flags, a write on a read-only fd', async (t) => {
  const { store, file } = await setup(t);
  const ctx = store.ioSetup(4);
  const buf = new Uint8Array(64);
  await rejectsCode(t, () => store.ioSubmit(ctx, [{ ...pread(file.fd, buf, 0), fd: 9999 }]), 'EBADF');
  await rejectsCode(t, () => store.ioSubmit(ctx, [{ ...pread(file.fd, buf, 0), opcode: 5 }]), 'EINVAL');
  await rejectsCode(t, () => store.ioSubmit(ctx, [{ ...pread(file.fd, buf, 0), rwFlags: 0x2 }]), 'EOPNOTSUPP');
  await rejectsCode(t, () => store.ioSubmit(ctx, [{ ...pread(file.fd, buf, 0), opcode: IOCB_CMD_PWRITE }]), 'EBADF');
  await rejectsCode(t, () => store.ioSubmit(ctx, [{ ...pread(file.fd, buf, -1) }]), 'EINVAL');
  // The second iocb is bad: io_submit returns 1 (the first was submitted).
  t.is(store.ioSubmit(ctx, [pread(file.fd, buf, 0), { ...pread(file.fd, buf, 0), fd: 9999 }]), 1);
  t.is(ctx.slotsUsed, 1, 'a refused iocb gives its slot back');
  await rejectsCode(t, () => store.ioGetevents(ctx, 2, 1), 'EINVAL');
});

test('a read whose device I/O fails (fail_make_request) completes with res = -EIO; a write through the kioctx lands', async (t) => {
  const { store, file, data } = await setup(t, { faults: { probability: 100, times: -1, ops: ['read'], verbose: 0 } });
  const ctx = store.ioSetup(4);
  const bad = pread(file.fd, new Uint8Array(4096), 200 * 1024, 3);
  store.ioSubmit(ctx, [bad]);
  const [e] = await store.ioGetevents(ctx, 1, 1);
  t.deepEqual([e?.data, e?.res], [3, -ERRNO.EIO]);
  const w = await store.open('/g', { write: true, create: true });
  const wr: Iocb = { opcode: IOCB_CMD_PWRITE, fd: w.fd, buf: data.subarray(0, 5000), nbytes: 5000, offset: 100 };
  store.ioSubmit(ctx, [wr]);
  t.is((await store.ioGetevents(ctx, 1, 1))[0]?.res, 5000);
  t.is((await w.stat()).size, 5100);
  const back = new Uint8Array(5000);
  t.is(await w.read(back, 100), 5000); // cached by the write-through
  t.deepEqual(back, data.subarray(0, 5000));
});
