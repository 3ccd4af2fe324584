import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { isFsError, UsageError } from '../../../src/errors.js';
import { MetaStore, ROOT_INO } from '../../../src/fs/meta.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { readSuperblock } from '../../../src/fs/superblock.js';
import { MiB, SMALL, SMALL_BLOCKS, snapshotTree, tmpDir } from './helpers.js';

test('mkfs lays out blocks/, meta/ and aheadfs.json with the asked sizes', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  const progress: [number, number][] = [];
  const sb = await mkfs(store, { ...SMALL, onProgress: (d, total) => progress.push([d, total]) });

  t.like(sb, { format: 'aheadfs', version: 1, blockSize: 4096, blockFileSize: MiB, blockFileCount: 8, sizeBytes: 8 * MiB });
  t.regex(sb.uuid, /^[0-9a-f-]{36}$/);
  t.false(Number.isNaN(Date.parse(sb.createdAt)));
  t.deepEqual(await readSuperblock(store), sb);

  const blocks = fs.readdirSync(path.join(store, 'blocks')).sort();
  t.deepEqual(blocks, ['000000.blk', '000001.blk', '000002.blk', '000003.blk', '000004.blk', '000005.blk', '000006.blk', '000007.blk']);
  for (const b of blocks) {
    const st = fs.statSync(path.join(store, 'blocks', b));
    t.is(st.size, MiB);
  }
  t.true(fs.existsSync(path.join(store, 'meta', 'data.mdb')));
  t.false(fs.existsSync(path.join(store, 'aheadfs.json.tmp')));
  t.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => [i * MiB, 8 * MiB]));

  const meta = await MetaStore.open(store, sb);
  t.teardown(() => meta.close());
  const root = meta.getInode(ROOT_INO);
  t.is(root.mode, 0o40755);
  t.is(root.nlink, 2);
  t.deepEqual(meta.readdir(ROOT_INO), []);
  t.deepEqual(meta.statfs(), { blocks: SMALL_BLOCKS, bfree: SMALL_BLOCKS, files: SMALL_BLOCKS, ffree: SMALL_BLOCKS - 1 });
  t.deepEqual(meta.allocatorState().extents, [{ start: 0, len: SMALL_BLOCKS }]);
});

test('block files are preallocated (not sparse) where the filesystem allows it', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  await mkfs(store, { sizeBytes: 2 * MiB, blockFileSize: MiB });
  const st = fs.statSync(path.join(store, 'blocks', '000000.blk'));
  // fallocate gives real blocks; ftruncate (the fallback) would give st.blocks == 0.
  t.true(st.blocks * 512 >= MiB, `st_blocks ${st.blocks}`);
});

const badSizes: [string, { sizeBytes: number; blockFileSize: number }, RegExp][] = [
  ['zero size', { sizeBytes: 0, blockFileSize: MiB }, /size must be a positive/],
  ['negative block file size', { sizeBytes: MiB, blockFileSize: -4096 }, /block file size must be a positive/],
  ['fractional size', { sizeBytes: 4096.5, blockFileSize: 4096 }, /positive whole number/],
  ['size not a multiple of 4096', { sizeBytes: MiB + 512, blockFileSize: MiB + 512 }, /multiple of 4096/],
  ['block file size not a multiple of 4096', { sizeBytes: 8 * MiB, blockFileSize: 1000 }, /multiple of 4096/],
  ['block file larger than the device', { sizeBytes: MiB, blockFileSize: 2 * MiB }, /must not exceed/],
  ['size not a multiple of the block file size', { sizeBytes: 3 * MiB, blockFileSize: 2 * MiB }, /multiple of the block file size/],
];

for (const [name, sizes, message] of badSizes) {
  test(`mkfs refuses ${name} with a one-line UsageError before creating anything`, async (t) => {
    const store = path.join(tmpDir(t), 'store');
    const err = await t.throwsAsync(mkfs(store, sizes), { instanceOf: UsageError, message });
    t.false(err?.message.includes('\n'));
    t.false(fs.existsSync(store));
  });
}

test('mkfs refuses an existing store without force and changes nothing', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  const sb = await mkfs(store, SMALL);
  const before = snapshotTree(store);
  await t.throwsAsync(mkfs(store, { sizeBytes: 4 * MiB, blockFileSize: MiB }), { instanceOf: UsageError, message: /already holds an aheadfs store.*--force/ });
  t.deepEqual(snapshotTree(store), before);
  t.deepEqual(await readSuperblock(store), sb);
});

test('mkfs refuses a non-empty directory without force', async (t) => {
  const store = tmpDir(t);
  fs.writeFileSync(path.join(store, 'precious.txt'), 'keep me');
  await t.throwsAsync(mkfs(store, SMALL), { instanceOf: UsageError, message: /not empty/ });
  t.deepEqual(fs.readdirSync(store), ['precious.txt']);
});

test('mkfs refuses a path that is a file', async (t) => {
  const file = path.join(tmpDir(t), 'file');
  fs.writeFileSync(file, 'x');
  await t.throwsAsync(mkfs(file, SMALL), { instanceOf: UsageError, message: /not a directory/ });
  t.is(fs.readFileSync(file, 'utf8'), 'x');
});

test('mkfs --force replaces the store parts and nothing else', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  const old = await mkfs(store, SMALL);
  const oldMeta = await MetaStore.open(store, old);
  await oldMeta.create(ROOT_INO, 'old-file', 0o644, 0, 0);
  await oldMeta.close();
  fs.writeFileSync(path.join(store, 'aheadfs.log'), 'old log');
  fs.writeFileSync(path.join(store, 'lock'), '12345');
  fs.writeFileSync(path.join(store, 'notes.txt'), 'mine');

  const sb = await mkfs(store, { sizeBytes: 4 * MiB, blockFileSize: 2 * MiB, force: true });
  t.not(sb.uuid, old.uuid);
  t.deepEqual(fs.readdirSync(store).sort(), ['aheadfs.json', 'blocks', 'meta', 'notes.txt']);
  t.is(fs.readFileSync(path.join(store, 'notes.txt'), 'utf8'), 'mine');
  t.deepEqual(fs.readdirSync(path.join(store, 'blocks')).sort(), ['000000.blk', '000001.blk']);
  const meta = await MetaStore.open(store, sb);
  t.teardown(() => meta.close());
  t.deepEqual(meta.readdir(ROOT_INO), []);
  t.is(meta.statfs().blocks, 1024);
});

test('mkfs --force works on a non-empty directory that is not a store', async (t) => {
  const store = tmpDir(t);
  fs.writeFileSync(path.join(store, 'other'), 'x');
  await mkfs(store, { sizeBytes: MiB, blockFileSize: MiB, force: true });
  t.deepEqual(fs.readdirSync(store).sort(), ['aheadfs.json', 'blocks', 'meta', 'other']);
});

test('readSuperblock: not a store, corrupt JSON, wrong format or version, inconsistent sizes', async (t) => {
  const dir = tmpDir(t);
  const err = await t.throwsAsync(readSuperblock(dir));
  t.true(isFsError(err, 'EINVAL'));
  t.regex(err!.message, /is not an aheadfs store \(no aheadfs\.json\)/);

  const sbFile = path.join(dir, 'aheadfs.json');
  const good = { format: 'aheadfs', version: 1, uuid: 'u', blockSize: 4096, blockFileSize: MiB, blockFileCount: 2, sizeBytes: 2 * MiB, createdAt: 'now' };
  const cases: [unknown, RegExp][] = [
    ['{not json', /corrupt \(not JSON\)/],
    [{ ...good, format: 'ext4' }, /not an aheadfs superblock/],
    [{ ...good, version: 3 }, /unsupported version 3/],
    [{ ...good, version: 2 }, /version 2 without an nbd:\/\/ device/],
    [{ ...good, blockSize: 512 }, /block size 512/],
    [{ ...good, sizeBytes: 3 * MiB }, /!= sizeBytes/],
    [{ ...good, blockFileCount: 0 }, /blockFileCount/],
  ];
  for (const [content, re] of cases) {
    fs.writeFileSync(sbFile, typeof content === 'string' ? content : JSON.stringify(content));
    const e = await t.throwsAsync(readSuperblock(dir));
    t.true(isFsError(e, 'EINVAL'), String(e));
    t.regex(e!.message, re);
  }
  fs.writeFileSync(sbFile, JSON.stringify(good));
  t.like(await readSuperblock(dir), { sizeBytes: 2 * MiB, device: 'files' });
  // A store on an NBD export: version 2, the URL, no block files.
  const nbd = { format: 'aheadfs', version: 2, device: 'nbd', url: 'nbd://h:1/x', uuid: 'u', blockSize: 4096, sizeBytes: 2 * MiB, createdAt: 'now' };
  fs.writeFileSync(sbFile, JSON.stringify(nbd));
  t.deepEqual(await readSuperblock(dir), nbd);
  fs.writeFileSync(sbFile, JSON.stringify({ ...nbd, url: 'http://h/' }));
  await t.throwsAsync(readSuperblock(dir), { message: /version 2 without an nbd:\/\/ device/ });
});

test('a store whose meta/ is missing or belongs to another size is refused at open', async (t) => {
  const store = path.join(tmpDir(t), 'store');
  const sb = await mkfs(store, SMALL);
  const e1 = await t.throwsAsync(MetaStore.open(store, { ...sb, sizeBytes: 4 * MiB, blockFileCount: 4 }));
  t.true(isFsError(e1, 'EINVAL'));
  t.regex(e1!.message, /describes 2048 blocks but aheadfs.json 1024/);
  fs.rmSync(path.join(store, 'meta'), { recursive: true });
  const e2 = await t.throwsAsync(MetaStore.open(store, sb));
  t.true(isFsError(e2, 'EINVAL'));
  t.false(fs.existsSync(path.join(store, 'meta')), 'open must not create an empty meta/');
});
