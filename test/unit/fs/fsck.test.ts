/**
 * The fsck checker on stores damaged on purpose through the metadata layer (MetaDb write
 * sets, as a bug in meta.ts would write them): each damage is found, named in one line,
 * and --repair fixes what it promises (then the store checks clean and opens).
 */

import test, { type ExecutionContext } from 'ava';
import { closeSync, copyFileSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkBeforeMount, fsckStore, type CheckSummary, type FsckResult } from '../../../src/fs/fsck/index.js';
import { checkLmdbHeader } from '../../../src/fs/fsck/lmdb-header.js';
import { walkLmdb } from '../../../src/fs/fsck/lmdb-walk.js';
import { MetaStore, ROOT_INO, type Extent } from '../../../src/fs/meta.js';
import { MetaDb, WriteSet, type StoredInode } from '../../../src/fs/metadb.js';
import { readSuperblock } from '../../../src/fs/superblock.js';
import { damageFreeList, lmdbRoot } from '../../helpers/lmdb.js';
import { makeStore, SMALL_BLOCKS, tmpDir } from './helpers.js';

interface Populated {
  store: string;
  /** Regular file of 8 blocks at /a. */
  a: number;
  /** Regular file of 4 blocks at /b and /d/b2. */
  b: number;
  d: number;
  aExtents: Extent[];
}

/** Write `blocks` blocks to file `ino` as the write path does: reserve, then attach. */
async function fill(meta: MetaStore, ino: number, blocks: number): Promise<void> {
  const runs = meta.allocateBlocks(ino, 0, blocks);
  let fileBlock = 0;
  const maps = runs.map((r) => {
    const e = { fileBlock, devBlock: r.start, len: r.len };
    fileBlock += r.len;
    return e;
  });
  await meta.attachExtents(ino, maps, blocks * 4096);
}

/** A store with a directory, two files (one hard-linked), a symlink; closed. */
async function populated(t: ExecutionContext): Promise<Populated> {
  const { store, sb } = await makeStore(t);
  const meta = await MetaStore.open(store, sb);
  const d = await meta.mkdir(ROOT_INO, 'd', 0o755, 0, 0);
  const a = await meta.create(ROOT_INO, 'a', 0o644, 0, 0);
  const b = await meta.create(ROOT_INO, 'b', 0o644, 0, 0);
  await meta.link(b, d, 'b2');
  await meta.symlink(d, 's', '../a', 0, 0);
  await fill(meta, a, 8);
  await fill(meta, b, 4);
  const aExtents = meta.fileExtents(a);
  await meta.close();
  return { store, a, b, d, aExtents };
}

/** Commit one write set straight into meta/, as a buggy operation would. */
async function damage(store: string, fn: (ws: WriteSet, db: MetaDb) => void): Promise<void> {
  const db = MetaDb.open(store, { create: false });
  const ws = new WriteSet();
  fn(ws, db);
  await db.commit(ws);
  await db.flushed();
  await db.close();
}

function inodeOf(db: MetaDb, ino: number): StoredInode {
  return { ...db.inodes.get(ino)! };
}

function checked(t: ExecutionContext, r: FsckResult): Extract<FsckResult, { state: 'checked' }> {
  if (r.state !== 'checked') throw new Error(`expected the records to be read, got: ${r.problems.join('; ')}`);
  t.pass();
  return r;
}

const messages = (c: CheckSummary): string[] => c.problems.map((p) => `${p.kind}: ${p.message}`);

/** Repair, then a fresh check must be clean and MetaStore must open the store. */
async function repairsClean(t: ExecutionContext, store: string): Promise<CheckSummary> {
  const r = checked(t, await fsckStore(store, { repair: true }));
  t.deepEqual(messages(r.after!), [], 'nothing left after the repair');
  const again = checked(t, await fsckStore(store, { repair: false }));
  t.deepEqual(messages(again.before), [], 'a second check is clean');
  const meta = await MetaStore.open(store, await readSuperblock(store));
  await meta.close();
  return again.before;
}

test('a store used through MetaStore checks clean, and its counts add up', async (t) => {
  const { store } = await populated(t);
  const r = checked(t, await fsckStore(store, { repair: false }));
  t.deepEqual(messages(r.before), []);
  t.deepEqual(r.before.orphans, []);
  t.like(r.before.counts, { inodes: 5, directories: 2, usedBlocks: 12, freeBlocks: SMALL_BLOCKS - 12, deviceBlocks: SMALL_BLOCKS });
  await checkBeforeMount(store);
});

test('a block owned by two files is found (and not "repaired" away)', async (t) => {
  const { store, a, b, aExtents } = await populated(t);
  const dev = aExtents[0]!.devBlock;
  await damage(store, (ws, db) => {
    ws.extentChanges(b, [{ kind: 'put', ext: { fileBlock: 4, devBlock: dev + 2, len: 2 } }]);
    ws.touchInode(b, { ...inodeOf(db, b), size: 6 * 4096 });
  });
  const r = checked(t, await fsckStore(store, { repair: false }));
  const want = `space: blocks ${dev + 2}-${dev + 3} belong to inode ${a} and to inode ${b}`;
  t.true(messages(r.before).includes(want), messages(r.before).join('\n'));
  await t.throwsAsync(checkBeforeMount(store), { message: /^metadata of .* is corrupt: .*; run aheadfs fsck / });
  const rep = checked(t, await fsckStore(store, { repair: true }));
  t.true(messages(rep.after!).includes(want), 'a double-owned block is left for a human');
});

test('a leaked block (neither free nor in a file) is found; --repair gives it back', async (t) => {
  const { store } = await populated(t);
  let leakStart = -1;
  await damage(store, (ws, db) => {
    const [first] = [...db.free.getRange()];
    leakStart = first!.key;
    ws.freeChanges([{ kind: 'del', start: first!.key }, { kind: 'put', start: first!.key + 3, len: first!.value - 3 }]);
  });
  const r = checked(t, await fsckStore(store, { repair: false }));
  t.deepEqual(messages(r.before), [
    `space: blocks ${leakStart}-${leakStart + 2} are neither free nor in a file (leaked)`,
    `space: 12 blocks used + ${SMALL_BLOCKS - 15} free = ${SMALL_BLOCKS - 3}, the device has ${SMALL_BLOCKS}`,
  ]);
  const after = await repairsClean(t, store);
  t.is(after.counts.freeBlocks, SMALL_BLOCKS - 12);
});

test('a wrong link count is found; --repair sets it from the names', async (t) => {
  const { store, b } = await populated(t);
  await damage(store, (ws, db) => ws.touchInode(b, { ...inodeOf(db, b), nlink: 5 }));
  const r = checked(t, await fsckStore(store, { repair: false }));
  t.deepEqual(messages(r.before), [`nlink: inode ${b} (file) has nlink 5, its names give 2`]);
  await repairsClean(t, store);
  const db = MetaDb.open(store, { create: false });
  t.is(db.inodes.get(b)!.nlink, 2);
  t.is(db.inodes.get(b)!.size, 4 * 4096, 'the rest of the record is kept');
  await db.close();
});

test('an orphan (nlink 0, no name) is listed, is not a problem, and --repair frees it with its blocks', async (t) => {
  const { store, a } = await populated(t);
  await damage(store, (ws, db) => {
    ws.delDirent(ROOT_INO, 'a');
    ws.touchInode(a, { ...inodeOf(db, a), nlink: 0 });
  });
  const r = checked(t, await fsckStore(store, { repair: false }));
  t.deepEqual(messages(r.before), []);
  t.deepEqual(r.before.orphans, [{ ino: a, blocks: 8 }]);
  await checkBeforeMount(store); // the mount frees orphans itself
  const after = await repairsClean(t, store);
  t.deepEqual(after.orphans, []);
  t.is(after.counts.freeBlocks, SMALL_BLOCKS - 4);
});

test('an extent past the end of the device is found; --repair drops it', async (t) => {
  const { store, a } = await populated(t);
  await damage(store, (ws, db) => {
    ws.extentChanges(a, [{ kind: 'put', ext: { fileBlock: 8, devBlock: SMALL_BLOCKS - 2, len: 4 } }]);
    ws.touchInode(a, { ...inodeOf(db, a), size: 12 * 4096 });
  });
  const r = checked(t, await fsckStore(store, { repair: false }));
  t.true(messages(r.before).includes(`extent: extent [${a},8] -> [${SMALL_BLOCKS - 2},4]: past the end of the device (${SMALL_BLOCKS} blocks)`), messages(r.before).join('\n'));
  await t.throwsAsync(checkBeforeMount(store), { message: /past the end of the device/ });
  await repairsClean(t, store);
});

test('a directory cut off from the root is unreachable; --repair frees it and fixes the counts it held', async (t) => {
  const { store, b, d } = await populated(t);
  await damage(store, (ws) => ws.delDirent(ROOT_INO, 'd'));
  const r = checked(t, await fsckStore(store, { repair: false }));
  const m = messages(r.before);
  t.true(m.includes(`unreachable: inode ${d} (directory, nlink 2, 0 blocks) is not reachable from the root`), m.join('\n'));
  t.true(m.includes(`nlink: inode ${ROOT_INO} (directory) has nlink 3, its names give 2`));
  t.true(m.includes(`nlink: inode ${b} (file) has nlink 2, its names give 1`));
  const after = await repairsClean(t, store);
  t.is(after.counts.inodes, 3, 'the directory and its symlink are gone, b stays');
});

test('a damaged inode record is reported and the repair is refused', async (t) => {
  const { store, b } = await populated(t);
  await damage(store, (_ws, db) => void db.inodes.putSync(b, { ...inodeOf(db, b), nlink: 'two' as unknown as number }));
  const r = checked(t, await fsckStore(store, { repair: true }));
  t.true(messages(r.before).includes(`record: inode record ${b}: nlink "two" is not a whole number`));
  t.is(r.before.refused, 'an inode record is damaged');
  t.deepEqual(r.repaired, [], 'nothing was changed');
  t.deepEqual(r.after, r.before);
});

/** A copy of a store's data.mdb, changed by `fn`, checked by checkLmdbHeader. */
function headerOf(t: ExecutionContext, store: string, fn: (fd: number) => void): string[] {
  const file = join(tmpDir(t), 'data.mdb');
  copyFileSync(join(store, 'meta', 'data.mdb'), file);
  const fd = openSync(file, 'r+');
  try {
    fn(fd);
  } finally {
    closeSync(fd);
  }
  return checkLmdbHeader(file);
}

test("LMDB's meta pages: zeroed, another magic, a root page outside the file are found before LMDB maps them", async (t) => {
  const { store } = await populated(t);
  t.deepEqual(headerOf(t, store, () => undefined), []);
  t.deepEqual(headerOf(t, store, (fd) => writeSync(fd, Buffer.alloc(4096), 0, 4096, 0)), ['meta page 0 is not a meta page (flags 0x0)']);
  t.deepEqual(headerOf(t, store, (fd) => writeSync(fd, Buffer.from([0xde, 0xc0, 0xef, 0xbf]), 0, 4, 4096 + 24)), ['meta page 1 has magic 0xbfefc0de, not 0xbeefc0de']);
  const big = Buffer.alloc(8);
  big.writeBigUInt64LE(1n << 40n);
  const r = headerOf(t, store, (fd) => writeSync(fd, big, 0, 8, 24 + 72 + 40)); // meta page 0: MDB_meta at 24, dbs[1] at +72, md_root at +40
  t.is(r.length, 1);
  t.regex(r[0]!, /^meta page 0: root page 1099511627776 of the main tree is outside pages 2\.\.\d+$/);
});

test("LMDB's B-tree pages: a page that names another page, a free-list word out of range are found without mapping the file", async (t) => {
  const { store } = await populated(t);
  const copy = (fn: (buf: Buffer) => void): string[] => {
    const file = join(tmpDir(t), 'data.mdb');
    copyFileSync(join(store, 'meta', 'data.mdb'), file);
    const buf = readFileSync(file);
    fn(buf);
    writeFileSync(file, buf);
    return walkLmdb(file);
  };
  t.deepEqual(copy(() => undefined), []);
  const main = copy((buf) => {
    const { ps, root } = lmdbRoot(buf, 1);
    buf.writeBigUInt64LE(BigInt(root + 1000), root * ps);
  });
  t.is(main.length, 1);
  t.regex(main[0]!, /^main tree: page \d+ says it is page \d+$/);
  const free = copy((buf) => damageFreeList(buf, 0x80004n));
  t.is(free.length, 1);
  t.regex(free[0]!, /^free-page tree: page \d+ node 0 lists page 524292, outside 2\.\.\d+$/);
});
