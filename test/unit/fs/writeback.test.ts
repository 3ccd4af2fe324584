/**
 * The writeback page cache through the vfs on a real store (page-writeback.ts,
 * fs-writeback.ts, aops.writebackStart/Commit): writes only dirty folios, reads see them,
 * fsync writes them back (data, then one metadata commit), the flusher batches several
 * inodes into one commit, truncate and unlink discard dirty folios unwritten, writers are
 * throttled at the dirty limit, write errors reach fsync once per open file, a full store
 * says ENOSPC at write time, and --writeback off is write-through as before.
 */

import test from 'ava';
import { isFsError } from '../../../src/errors.js';
import { PG_dirty, PG_writeback } from '../../../src/mm/page.js';
import { filemapGetFolio } from '../../../src/mm/pagecache.js';
import { MiB, openVfsStore, vfsRead, vfsReadPath } from './helpers.js';

const KiB = 1024;
const O_RDWR = 2;
const O_DSYNC = 0o10000;
const root = { uid: 0, gid: 0 };

/** A periodic flush that never comes during a test: only fsync, sync and the thresholds write back. */
const NO_TIMER = { dirtyWritebackCentisecs: 0 };

function fill(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 13 + seed) & 255;
  return b;
}

test('a write only dirties folios: no device write until fsync; reads see the dirty data; fsync writes it back and it survives a remount', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: NO_TIMER });
  const { vfs, stats, cache } = s.fs;
  const fh = await vfs.create('/f', 0o644, O_RDWR, root);
  const data = fill(3 * 4096 + 100, 1);
  const writesBefore = stats.c.disk_write_ios;
  t.is(await vfs.write(fh, data, data.length, 0), data.length);
  t.is(stats.c.disk_write_ios, writesBefore, 'nothing reached the device');
  const snap = stats.snapshot();
  t.is(snap.nr_dirty, 4);
  t.is(snap.nr_writeback, 0);
  const mapping = cache.findMapping((await vfs.fgetattr(fh)).ino)!;
  t.true(filemapGetFolio(mapping, 0)!.has(PG_dirty));
  t.is((await vfs.fgetattr(fh)).size, data.length);
  t.deepEqual(new Uint8Array(await vfsRead(vfs, fh, data.length, 0)), data, 'a read sees the dirty data');

  await vfs.fsync(fh, false);
  const after = stats.snapshot();
  t.is(after.nr_dirty, 0);
  t.is(after.nr_writeback, 0);
  t.is(after.wb_pages, 4);
  t.is(after.wb_batches, 1, 'one batch: one plug, one metadata commit');
  t.true(stats.c.disk_write_ios > writesBefore);
  for (let i = 0; i < 4; i++) t.false(filemapGetFolio(mapping, i)!.has(PG_dirty | PG_writeback));
  await vfs.release(fh);

  const again = await s.reopen();
  t.deepEqual(new Uint8Array(await vfsReadPath(again.vfs, '/f')), data);
});

test('the flusher writes several dirty inodes in one batch (one metadata commit) once they expire', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: { dirtyWritebackCentisecs: 1, dirtyExpireCentisecs: 0 } });
  const { vfs, stats, trace } = s.fs;
  trace.enabled = true;
  const a = await vfs.create('/a', 0o644, O_RDWR, root);
  const b = await vfs.create('/b', 0o644, O_RDWR, root);
  // Both dirtied in the same turn: the first flusher run finds both.
  await Promise.all([vfs.write(a, fill(8192, 2), 8192, 0), vfs.write(b, fill(4096, 3), 4096, 0)]);
  while (stats.snapshot().nr_dirty + stats.snapshot().nr_writeback > 0) await new Promise((r) => setTimeout(r, 5));
  t.is(stats.c.wb_pages, 3);
  t.is(stats.c.wb_batches, 1, 'one batch for both inodes');
  const lines = trace.read().filter((l) => l.includes('writeback reason=periodic'));
  t.is(lines.length, 1, lines.join('\n'));
  t.regex(lines[0]!, /inodes=\d+:2,\d+:1 pages=3 failed=0/);
  for (const fh of [a, b]) await vfs.release(fh);
  const again = await s.reopen();
  t.deepEqual(new Uint8Array(await vfsReadPath(again.vfs, '/a')), fill(8192, 2));
  t.deepEqual(new Uint8Array(await vfsReadPath(again.vfs, '/b')), fill(4096, 3));
});

test('dirty_writeback_centisecs at its largest (2^31-1 cs) waits the longest a timer can, not 1 ms (Node clamps an overlong delay to 1 ms)', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: { dirtyWritebackCentisecs: 0, dirtyExpireCentisecs: 0 } });
  const { vfs, stats, control } = s.fs;
  control.write('tunables/vm/dirty_writeback_centisecs', String(2 ** 31 - 1));
  const fh = await vfs.create('/f', 0o644, O_RDWR, root);
  await vfs.write(fh, fill(4096, 9), 4096, 0);
  await new Promise((r) => setTimeout(r, 100));
  t.is(stats.c.wb_batches, 0, 'no periodic flush ran');
  t.is(stats.snapshot().nr_dirty, 1);
  await vfs.release(fh);
});

test('a batch that allocates blocks flushes the device before its metadata commit (data durable first, also without fsync); a failed flush attaches nothing', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: { dirtyWritebackCentisecs: 1, dirtyExpireCentisecs: 0 } });
  const { vfs, stats, queue } = s.fs;
  const fh = await vfs.create('/p', 0o644, O_RDWR, root);
  const flushesBefore = stats.c.disk_flushes;
  await vfs.write(fh, fill(16 * KiB, 5), 16 * KiB, 0);
  while (stats.snapshot().nr_dirty + stats.snapshot().nr_writeback > 0) await new Promise((r) => setTimeout(r, 5));
  t.is(stats.c.wb_batches, 1, 'the periodic flush wrote it (no fsync)');
  t.true(stats.c.disk_flushes > flushesBefore, 'a device flush before the batch committed its new extents');

  // The flush fails: the batch's extents are not attached, and the next fsync says EIO.
  queue.faults.configure({ probability: 100, times: 1, verbose: 0, ops: ['flush'] });
  await vfs.write(fh, fill(8 * KiB, 6), 8 * KiB, 16 * KiB);
  while (stats.snapshot().nr_dirty + stats.snapshot().nr_writeback > 0) await new Promise((r) => setTimeout(r, 5));
  t.is(stats.c.fail_injected, 1);
  const e = await t.throwsAsync(vfs.fsync(fh, false));
  t.true(isFsError(e, 'EIO'), String(e));
  await vfs.release(fh);
  const again = await s.reopen();
  t.deepEqual(new Uint8Array(await vfsReadPath(again.vfs, '/p')), fill(16 * KiB, 5), 'after a remount: the first batch, nothing of the one whose flush failed');
});

test('truncate discards the dirty folios past the new end without writing them; unlink discards all', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: NO_TIMER });
  const { vfs, stats } = s.fs;
  const fh = await vfs.create('/t', 0o644, O_RDWR, root);
  await vfs.write(fh, fill(8 * 4096, 4), 8 * 4096, 0);
  t.is(stats.snapshot().nr_dirty, 8);
  await vfs.ftruncate(fh, 2 * 4096);
  t.is(stats.snapshot().nr_dirty, 2, 'six dirty pages discarded');
  await vfs.fsync(fh, false);
  t.is(stats.c.wb_pages, 2, 'only the two pages inside the file were written');
  await vfs.write(fh, fill(4 * 4096, 5), 4 * 4096, 0);
  t.is(stats.snapshot().nr_dirty, 4);
  await vfs.release(fh);
  await vfs.unlink('/t');
  t.is(stats.snapshot().nr_dirty, 0, 'an unlinked file leaves no dirty page behind');
  await s.reopen(); // the umount writes back everything: nothing is left of /t to write
  t.is(stats.c.wb_pages, 2);
});

test('balance_dirty_pages: a writer far past the dirty limit waits; dirty + writeback pages never exceed the limit', async (t) => {
  const limitPages = 16;
  const s = await openVfsStore(t, { writeback: true, cacheBytes: 1 * MiB, dirty: { ...NO_TIMER, dirtyBytes: limitPages * 4096, dirtyRatio: 0 } });
  const { vfs, stats } = s.fs;
  const fh = await vfs.create('/big', 0o644, O_RDWR, root);
  const chunk = fill(128 * KiB, 6);
  let peakSeen = 0;
  for (let pos = 0; pos < 8 * MiB; pos += chunk.length) {
    t.is(await vfs.write(fh, chunk, chunk.length, pos), chunk.length);
    const snap = stats.snapshot();
    peakSeen = Math.max(peakSeen, snap.nr_dirty + snap.nr_writeback);
  }
  t.true(peakSeen <= limitPages, `dirty + writeback after a write: ${peakSeen} pages`);
  t.true(stats.c.nr_dirty_peak <= limitPages, `nr_dirty_peak ${stats.c.nr_dirty_peak}`);
  t.true(stats.c.dirty_throttle > 0, 'writers were throttled');
  t.true(stats.c.wb_pages >= 8 * MiB / 4096 - limitPages, 'the data was written back while the writer ran');
  await vfs.fsync(fh, false);
  const back = await vfsRead(vfs, fh, 128 * KiB, 5 * MiB);
  t.deepEqual(new Uint8Array(back), chunk);
  await vfs.release(fh);
});

test('a failed writeback: write(2) succeeded, the next fsync of each file open before it says EIO once; the folio ends clean (6.18)', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: NO_TIMER });
  const { vfs, queue, stats, cache } = s.fs;
  const fh1 = await vfs.create('/e', 0o644, O_RDWR, root);
  await vfs.write(fh1, new Uint8Array(8 * KiB).fill(1), 8 * KiB, 0);
  await vfs.fsync(fh1, false);
  const fh2 = await vfs.open('/e', O_RDWR);

  t.is(await vfs.write(fh1, new Uint8Array(4 * KiB).fill(2), 4 * KiB, 8 * KiB), 4 * KiB, 'the write itself succeeds: it only dirties');
  queue.faults.configure({ probability: 100, times: 1, verbose: 0, ops: ['write'] });
  const fh3 = await vfs.open('/e', O_RDWR); // opened after the write, before its writeback failed
  const e1 = await t.throwsAsync(vfs.fsync(fh1, false));
  t.true(isFsError(e1, 'EIO'), String(e1));
  t.is(stats.c.fail_injected, 1);
  t.is(stats.c.wb_errors, 1);
  await t.notThrowsAsync(vfs.fsync(fh1, false), 'reported once per file');
  for (const fh of [fh2, fh3]) {
    const e = await t.throwsAsync(vfs.fsync(fh, false));
    t.true(isFsError(e, 'EIO'), `fsync of fh ${fh}: ${String(e)}`);
    await t.notThrowsAsync(vfs.fsync(fh, false));
  }
  const fh4 = await vfs.open('/e', O_RDWR); // opened after the error: nothing to report
  await t.notThrowsAsync(vfs.fsync(fh4, false));
  const folio = filemapGetFolio(cache.findMapping((await vfs.fgetattr(fh1)).ino)!, 2)!;
  t.false(folio.has(PG_dirty | PG_writeback), 'not redirtied (as 6.18 does): clean and uptodate');
  for (const fh of [fh1, fh2, fh3, fh4]) await vfs.release(fh);
  const again = await s.reopen();
  t.deepEqual(await vfsReadPath(again.vfs, '/e'), Buffer.alloc(8 * KiB, 1), 'after a remount: the synced bytes, nothing of the failed write');
});

test('O_DSYNC: each write is written back before it returns', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: NO_TIMER });
  const { vfs, stats } = s.fs;
  const c = await vfs.create('/s', 0o644, O_RDWR, root);
  await vfs.release(c);
  const fh = await vfs.open('/s', O_RDWR | O_DSYNC);
  await vfs.write(fh, fill(4096, 7), 4096, 0);
  t.is(stats.snapshot().nr_dirty, 0);
  t.is(stats.c.wb_pages, 1);
  await vfs.release(fh);
});

test('a full store: the write that would need more blocks than are free fails with ENOSPC at write time (delalloc reservation)', async (t) => {
  const s = await openVfsStore(t, { writeback: true, sizeBytes: 4 * MiB, blockFileSize: 1 * MiB, dirty: NO_TIMER });
  const { vfs } = s.fs;
  const free = (await vfs.statfs()).bfree;
  const fh = await vfs.create('/full', 0o644, O_RDWR, root);
  const big = new Uint8Array((free + 8) * 4096).fill(9);
  const n = await vfs.write(fh, big, big.length, 0);
  t.is(n, free * 4096, 'a short write: as many pages as there are free blocks');
  const err = await t.throwsAsync(vfs.write(fh, big, 4096, n));
  t.true(isFsError(err, 'ENOSPC'), String(err));
  await t.notThrowsAsync(vfs.fsync(fh, false), 'everything accepted was written back');
  await vfs.release(fh);
  const again = await s.reopen();
  t.is((await vfsReadPath(again.vfs, '/full')).length, n);
});

test('--writeback off is write-through: the device is written before write returns, nothing stays dirty', async (t) => {
  const s = await openVfsStore(t, { writeback: false });
  const { vfs, stats } = s.fs;
  const fh = await vfs.create('/w', 0o644, O_RDWR, root);
  const before = stats.c.disk_write_ios;
  await vfs.write(fh, fill(8192, 8), 8192, 0);
  t.true(stats.c.disk_write_ios > before);
  t.is(stats.snapshot().nr_dirty, 0);
  t.is(stats.c.wb_pages, 0);
  await vfs.release(fh);
});

test('reclaim never drops a dirty folio: reading a file four times the cache while another file is dirty keeps every dirty page, written back intact later', async (t) => {
  const s = await openVfsStore(t, { writeback: true, cacheBytes: 1 * MiB, dirty: { ...NO_TIMER, dirtyBytes: 512 * KiB, dirtyRatio: 0, dirtyBackgroundBytes: 512 * KiB, dirtyBackgroundRatio: 0 } });
  const { vfs, stats } = s.fs;
  // A clean file of 4 MiB on the device.
  const big = await vfs.create('/big', 0o644, O_RDWR, root);
  for (let pos = 0; pos < 4 * MiB; pos += 128 * KiB) await vfs.write(big, fill(128 * KiB, pos >> 12), 128 * KiB, pos);
  await vfs.fsync(big, false);
  // 64 dirty pages of another file (under both thresholds: nothing writes them back).
  const d = await vfs.create('/dirty', 0o644, O_RDWR, root);
  const data = fill(256 * KiB, 11);
  await vfs.write(d, data, data.length, 0);
  t.is(stats.snapshot().nr_dirty, 64);
  const stolen = stats.c.pgsteal;
  for (let pos = 0; pos < 4 * MiB; pos += 128 * KiB) await vfsRead(vfs, big, 128 * KiB, pos);
  t.true(stats.c.pgsteal - stolen >= 512, `reclaim ran: ${stats.c.pgsteal - stolen} pages`);
  t.is(stats.snapshot().nr_dirty, 64, 'every dirty page is still there');
  t.is(stats.c.wb_pages, 1024, 'none of them was written back (only /big was, by its fsync)');
  await vfs.fsync(d, false);
  for (const fh of [big, d]) await vfs.release(fh);
  const again = await s.reopen();
  t.deepEqual(new Uint8Array(await vfsReadPath(again.vfs, '/dirty')), data);
});

test('a write to a page under writeback does not wait for it: the page is dirty again, and the next fsync writes the new bytes', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: NO_TIMER });
  const { vfs, queue, cache } = s.fs;
  const fh = await vfs.create('/r', 0o644, O_RDWR, root);
  await vfs.write(fh, new Uint8Array(4096).fill(1), 4096, 0);
  queue.faults.configure({ writeUs: 2_000_000 }); // the writeback's bio takes 2 s
  const first = vfs.fsync(fh, false);
  const mapping = cache.findMapping((await vfs.fgetattr(fh)).ino)!;
  const folio = filemapGetFolio(mapping, 0)!;
  t.true(folio.has(PG_writeback), 'the fsync started the writeback');
  await vfs.write(fh, new Uint8Array(100).fill(2), 100, 10);
  t.true(folio.has(PG_writeback) && folio.has(PG_dirty), 'the write returned during the writeback, and made the page dirty again');
  await first;
  queue.faults.configure({ writeUs: 0 });
  t.true(folio.has(PG_dirty), 'the first fsync wrote the bytes that were dirty when it started');
  await vfs.fsync(fh, false);
  t.false(folio.has(PG_dirty | PG_writeback));
  await vfs.release(fh);
  const again = await s.reopen();
  const want = new Uint8Array(4096).fill(1);
  want.fill(2, 10, 110);
  t.deepEqual(new Uint8Array(await vfsReadPath(again.vfs, '/r')), want);
});

test('a truncate into a block under writeback (its extent not attached yet) zeroes its tail on disk: a later extension reads zeros there (fsx, --cache-size 1M over nbdkit)', async (t) => {
  const s = await openVfsStore(t, { writeback: true, dirty: NO_TIMER });
  const { vfs, queue, cache } = s.fs;
  const fh = await vfs.create('/t', 0o644, O_RDWR, root);
  await vfs.write(fh, new Uint8Array(16 * KiB).fill(7), 16 * KiB, 0);
  queue.faults.configure({ writeUs: 300_000 }); // the writeback's bio takes 0.3 s
  const first = vfs.fsync(fh, false); // writeback of new blocks: attached only at the batch's commit
  const mapping = cache.findMapping((await vfs.fgetattr(fh)).ino)!;
  t.true(filemapGetFolio(mapping, 3)!.has(PG_writeback), 'page 3 is under writeback');
  await vfs.ftruncate(fh, 3 * 4096 + 100); // into page 3, while its bio is in flight
  await first;
  queue.faults.configure({ writeUs: 0 });
  await vfs.fsync(fh, false);
  cache.dropCaches();
  await vfs.write(fh, new Uint8Array(10).fill(9), 10, 64 * KiB); // extend: page 3's tail is inside the file again
  const got = new Uint8Array(await vfsRead(vfs, fh, 4096, 3 * 4096));
  const want = new Uint8Array(4096);
  want.fill(7, 0, 100);
  t.deepEqual(got, want, 'the bytes past the truncation point read as zeros');
  await vfs.release(fh);
});
