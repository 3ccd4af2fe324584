import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { allocAligned } from '../../../src/block/aligned.js';
import { bioAlloc } from '../../../src/block/bio.js';
import { BlockFilesDevice, blockFileName, coalesceViews, mapSector, splitByFile, type DeviceGeometry } from '../../../src/block/device.js';
import { blkFinishPlug, blkStartPlug } from '../../../src/block/plug.js';
import { RequestQueue } from '../../../src/block/queue.js';
import { isFsError } from '../../../src/errors.js';
import { Stats } from '../../../src/stats/registry.js';
import { Trace } from '../../../src/stats/trace.js';

const execFileP = promisify(execFile);

const FILE_SIZE = 64 * 1024; // 128 sectors per block file
const SECTORS_PER_FILE = FILE_SIZE / 512;
const GEOM: DeviceGeometry = { blockFileSize: FILE_SIZE, blockFileCount: 3 };

/** Every sector starts with its own number (u32 LE), the rest is filled with sector & 0xff. */
function sectorImage(sector: number): Uint8Array {
  const u = new Uint8Array(512).fill(sector & 0xff);
  new DataView(u.buffer).setUint32(0, sector, true);
  return u;
}

function sectorOf(buf: Uint8Array, i: number): number {
  return new DataView(buf.buffer, buf.byteOffset + i * 512, 4).getUint32(0, true);
}

function mkStore(root: string, geom = GEOM): string {
  const dir = fs.mkdtempSync(path.join(root, 'aheadfs-blk-'));
  const blocks = path.join(dir, 'blocks');
  fs.mkdirSync(blocks);
  for (let f = 0; f < geom.blockFileCount; f++) {
    const data = new Uint8Array(geom.blockFileSize);
    for (let s = 0; s < geom.blockFileSize / 512; s++) data.set(sectorImage(f * (geom.blockFileSize / 512) + s), s * 512);
    fs.writeFileSync(path.join(blocks, blockFileName(f)), data);
  }
  return blocks;
}

function rmStore(blocks: string): void {
  fs.rmSync(path.dirname(blocks), { recursive: true, force: true });
}

test('sector math: file and offset of a sector', (t) => {
  t.deepEqual(mapSector(0, FILE_SIZE), { file: 0, offset: 0 });
  t.deepEqual(mapSector(127, FILE_SIZE), { file: 0, offset: 127 * 512 });
  t.deepEqual(mapSector(128, FILE_SIZE), { file: 1, offset: 0 });
  t.deepEqual(mapSector(300, FILE_SIZE), { file: 2, offset: (300 - 256) * 512 });
  t.is(blockFileName(7), '000007.blk');
});

test('splitByFile cuts a segment that crosses a block-file boundary with subarray', (t) => {
  const seg = new Uint8Array(8192);
  const parts = splitByFile(124 * 512, [seg], FILE_SIZE);
  t.is(parts.length, 2);
  t.like(parts[0], { file: 0, offset: 124 * 512, bytes: 2048 });
  t.like(parts[1], { file: 1, offset: 0, bytes: 6144 });
  t.is(parts[0]!.views[0]!.buffer, seg.buffer, 'a view, not a copy');
  t.is(parts[1]!.views[0]!.byteOffset, 2048);
  // Three files in one request.
  t.deepEqual(
    splitByFile(100 * 512, [new Uint8Array(200 * 512)], FILE_SIZE).map((p) => [p.file, p.bytes / 512]),
    [[0, 28], [1, 128], [2, 44]],
  );
});

test('coalesceViews joins neighbouring views of one buffer only', (t) => {
  const a = allocAligned(16384);
  const out = coalesceViews([a.subarray(0, 4096), a.subarray(4096, 8192), a.subarray(12288), new Uint8Array(512)]);
  t.deepEqual(out.map((v) => [v.byteOffset, v.byteLength]), [[0, 8192], [12288, 4096], [0, 512]]);
});

test('read across a block-file boundary returns the right sectors, one syscall per file', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const stats = new Stats();
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats });
  t.teardown(() => dev.close());
  t.is(dev.nrSectors, 3 * SECTORS_PER_FILE);
  const buf = allocAligned(8192);
  await dev.read(124, [buf.subarray(0, 4096), buf.subarray(4096)]);
  t.deepEqual(Array.from({ length: 16 }, (_, i) => sectorOf(buf, i)), Array.from({ length: 16 }, (_, i) => 124 + i));
  t.is(stats.c.disk_read_ios, 2);
  t.is(stats.c.disk_read_bytes, 8192);
  t.is(stats.c.disk_errors, 0);
  t.is(stats.snapshot().direct_io, dev.directIo ? 1 : 0);
});

test('write then read back across a boundary; flush fdatasyncs the files written', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const stats = new Stats();
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats });
  t.teardown(() => dev.close());
  const out = allocAligned(3 * 4096);
  for (let i = 0; i < out.length; i++) out[i] = (i * 7) & 0xff;
  await dev.write(250, [out.subarray(0, 4096), out.subarray(4096)]); // files 1 and 2
  t.is(stats.c.disk_write_bytes, 3 * 4096);
  t.is(stats.c.disk_write_ios, 2);
  await dev.flush();
  t.is(stats.c.disk_flushes, 2);
  await dev.flush();
  t.is(stats.c.disk_flushes, 2, 'nothing written since');
  const back = allocAligned(3 * 4096);
  await dev.read(250, [back]);
  t.deepEqual(back, out);
  // Straight from the files, too: sectors 256..273 are the first 9 KiB of file 2.
  const f2 = fs.readFileSync(path.join(blocks, blockFileName(2)));
  t.deepEqual(new Uint8Array(f2.subarray(0, 9216)), out.subarray(3072));
  t.is(sectorOf(new Uint8Array(f2), 40), 296, 'sectors outside the write are untouched');
});

test('unaligned, empty and out-of-range requests are rejected with EINVAL', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const stats = new Stats();
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats });
  t.teardown(() => dev.close());
  const buf = allocAligned(8192);
  const cases: [number, Uint8Array[]][] = [
    [dev.nrSectors - 8, [buf]], // runs past the end
    [dev.nrSectors, [buf.subarray(0, 512)]],
    [-1, [buf.subarray(0, 512)]],
    [1.5, [buf.subarray(0, 512)]],
    [0, [buf.subarray(0, 100)]],
    [0, []],
  ];
  for (const [sector, segs] of cases) {
    const err = await t.throwsAsync(dev.read(sector, segs));
    t.true(isFsError(err, 'EINVAL'), `${sector}: ${String(err)}`);
  }
  t.is(stats.c.disk_read_ios, 0);
  t.is(stats.c.disk_errors, 0);
});

test('a truncated block file gives EIO on read (short read), never a throw', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const stats = new Stats();
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats });
  t.teardown(() => dev.close());
  // Cut while open (open refuses a block file of the wrong size).
  fs.truncateSync(path.join(blocks, blockFileName(1)), 4096);
  const buf = allocAligned(8192);
  await dev.read(SECTORS_PER_FILE, [buf.subarray(0, 4096)]); // the part still there
  t.is(sectorOf(buf, 0), SECTORS_PER_FILE);
  const err = await t.throwsAsync(dev.read(SECTORS_PER_FILE + 4, [buf])); // runs past the cut
  t.true(isFsError(err, 'EIO'), String(err));
  t.is(stats.c.disk_errors, 1);
  const err2 = await t.throwsAsync(dev.read(SECTORS_PER_FILE + 16, [buf])); // wholly past it
  t.true(isFsError(err2, 'EIO'));
  t.is(stats.c.disk_errors, 2);
});

/** Does this kernel accept O_DIRECT in `dir`? (tmpfs refused it before Linux 6.6.) */
function kernelAcceptsDirect(dir: string): boolean {
  const p = path.join(dir, `odirect-${process.pid}`);
  try {
    fs.closeSync(fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(p, { force: true });
  }
}

const hasShm = fs.existsSync('/dev/shm');
(hasShm ? test : test.skip)('tmpfs (/dev/shm): directIo matches what the kernel allows there, and I/O works', async (t) => {
  const blocks = mkStore('/dev/shm');
  t.teardown(() => rmStore(blocks));
  const accepts = kernelAcceptsDirect(path.dirname(blocks));
  const stats = new Stats();
  const logs: string[] = [];
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats, log: (m) => logs.push(m) });
  t.teardown(() => dev.close());
  t.is(dev.directIo, accepts, accepts ? 'tmpfs takes O_DIRECT since Linux 6.6' : 'refused: buffered fallback');
  t.is(stats.snapshot().direct_io, accepts ? 1 : 0);
  t.is(logs.length, accepts ? 0 : 1);
  const buf = allocAligned(4096);
  buf.fill(0xab);
  await dev.write(130, [buf]);
  const back = allocAligned(4096);
  await dev.read(130, [back]);
  t.deepEqual(back, buf);
});

test('O_DIRECT refused (EINVAL at open): buffered fallback, logged once, gauge 0, I/O works', async (t) => {
  // A character device refuses O_DIRECT with EINVAL on every kernel: make the last block
  // file one (reads give zeros, writes vanish); the real files 0 and 1 must still work.
  // A bind mount, not a symlink: block files are opened O_NOFOLLOW.
  const blocks = mkStore(os.tmpdir());
  const last = path.join(blocks, blockFileName(2));
  await execFileP('mount', ['--bind', '/dev/zero', last]);
  t.teardown(async () => {
    await execFileP('umount', [last]);
    rmStore(blocks);
  });
  const stats = new Stats();
  const logs: string[] = [];
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats, log: (m) => logs.push(m) });
  t.teardown(() => dev.close());
  t.false(dev.directIo);
  t.is(stats.snapshot().direct_io, 0);
  t.is(logs.length, 1);
  t.regex(logs[0]!, /O_DIRECT refused .*EINVAL/);
  const buf = allocAligned(8192);
  buf.fill(0x5a);
  await dev.write(124, [buf]); // crosses files 0 and 1
  const back = allocAligned(8192);
  await dev.read(124, [back]);
  t.deepEqual(back, buf);
  await dev.read(2 * SECTORS_PER_FILE, [back.subarray(0, 4096)]);
  t.true(back.subarray(0, 4096).every((b) => b === 0), 'file 2 is /dev/zero');
  // Forcing O_DIRECT there is an error, not a silent fallback.
  const err = await t.throwsAsync(BlockFilesDevice.open(blocks, GEOM, { stats: new Stats(), direct: true }));
  t.true(isFsError(err, 'EINVAL'), String(err));
});

test('direct: false opens buffered without probing', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const logs: string[] = [];
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats: new Stats(), direct: false, log: (m) => logs.push(m) });
  t.teardown(() => dev.close());
  t.false(dev.directIo);
  t.deepEqual(logs, []);
});

test('open: bad geometry is EINVAL, a missing block file is ENOENT', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  for (const geom of [{ blockFileSize: 1000, blockFileCount: 1 }, { blockFileSize: FILE_SIZE, blockFileCount: 0 }]) {
    const err = await t.throwsAsync(BlockFilesDevice.open(blocks, geom, { stats: new Stats() }));
    t.true(isFsError(err, 'EINVAL'), String(err));
  }
  const err = await t.throwsAsync(BlockFilesDevice.open(blocks, { blockFileSize: FILE_SIZE, blockFileCount: 4 }, { stats: new Stats() }));
  t.true(isFsError(err, 'ENOENT'), String(err));
});

test('after close, I/O is EIO', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats: new Stats() });
  const pending = dev.read(0, [allocAligned(4096)]);
  await dev.close(); // waits for the read in progress
  await t.notThrowsAsync(pending);
  const err = await t.throwsAsync(dev.read(0, [allocAligned(4096)]));
  t.true(isFsError(err, 'EIO'));
});

test.serial('queue over the real device: plugged reads merge into one request and land in the views', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const stats = new Stats();
  const dev = await BlockFilesDevice.open(blocks, GEOM, { stats });
  t.teardown(() => dev.close());
  const q = new RequestQueue(dev, { stats, trace: new Trace(64) });
  const arena = allocAligned(32 * 4096);
  const statuses: (string | undefined)[] = [];
  const plug = blkStartPlug();
  // 32 pages from sector 64 on (crossing into file 1 at sector 128), submitted backwards.
  for (let p = 31; p >= 0; p--) {
    q.submitBio(bioAlloc('read', 64 + p * 8, [arena.subarray(p * 4096, (p + 1) * 4096)], (b) => statuses.push(b.status)));
  }
  blkFinishPlug(plug);
  await q.drain();
  t.is(statuses.length, 32);
  t.true(statuses.every((s) => s === undefined));
  t.is(stats.c.plug_merge, 31, 'each earlier page front-merges into the one request');
  t.is(stats.c.rq_dispatch, 1);
  for (let i = 0; i < 256; i++) if (sectorOf(arena, i) !== 64 + i) return t.fail(`sector ${64 + i} wrong`);
  t.is(stats.c.disk_read_ios, 3, 'sectors 64..319 span three block files: one syscall each');
});

test('open refuses a regular block file of the wrong size (naming it and the size expected) and a symlinked one', async (t) => {
  const blocks = mkStore(os.tmpdir());
  t.teardown(() => rmStore(blocks));
  const f1 = path.join(blocks, blockFileName(1));
  fs.truncateSync(f1, FILE_SIZE - 4096);
  const short = await t.throwsAsync(BlockFilesDevice.open(blocks, GEOM, { stats: new Stats() }));
  t.true(isFsError(short, 'EINVAL'), String(short));
  t.regex(short!.message, new RegExp(`block file ${f1} is ${FILE_SIZE - 4096} bytes, expected ${FILE_SIZE}`));

  fs.truncateSync(f1, FILE_SIZE);
  const elsewhere = path.join(path.dirname(blocks), 'elsewhere.blk');
  fs.renameSync(f1, elsewhere);
  fs.symlinkSync(elsewhere, f1);
  const link = await t.throwsAsync(BlockFilesDevice.open(blocks, GEOM, { stats: new Stats() }));
  t.true(isFsError(link, 'EINVAL'), String(link));
  t.regex(link!.message, /symlink/);
});
