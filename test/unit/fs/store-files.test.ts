/**
 * The store's own files, checked by lstat before anything opens them (src/fs/store-files.ts):
 * no member may be a symlink, block files must all be there with the superblock's size,
 * and a store others can read is reported. mkfs makes stores private.
 */

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { isFsError } from '../../../src/errors.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { checkStoreFiles, describeNotPrivate } from '../../../src/fs/store-files.js';
import { MiB, makeStore, tmpDir } from './helpers.js';

/** Every directory and file under `dir` (relative paths, '.' first) with its permission bits. */
function modes(dir: string): Map<string, number> {
  const out = new Map<string, number>([['.', fs.statSync(dir).mode & 0o7777]]);
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    out.set(path.relative(dir, p), fs.lstatSync(p).mode & 0o7777);
  }
  return out;
}

test('mkfs makes a private store: directories 0700, every file 0600', async (t) => {
  const { store, sb } = await makeStore(t);
  const m = modes(store);
  t.true(m.size > sb.blockFileCount + 4, [...m.keys()].join(' '));
  for (const [p, mode] of m) {
    const isDir = fs.lstatSync(path.join(store, p)).isDirectory();
    t.is(mode, isDir ? 0o700 : 0o600, `${p} mode ${mode.toString(8)}`);
  }
  t.deepEqual((await checkStoreFiles(store, sb)).notPrivate, []);
});

test('a store others can read is reported, with a fix', async (t) => {
  const { store, sb } = await makeStore(t);
  fs.chmodSync(store, 0o755);
  fs.chmodSync(path.join(store, 'blocks', '000001.blk'), 0o644);
  const r = await checkStoreFiles(store, sb);
  t.deepEqual(r.notPrivate, [
    { path: '.', mode: 0o755 },
    { path: 'blocks/000001.blk', mode: 0o644 },
  ]);
  t.regex(describeNotPrivate(store, r)!, /not private \(\. 0755, blocks\/000001\.blk 0644\).*chmod -R go-rwx/);
});

for (const member of ['aheadfs.log', 'lock', 'blocks/000002.blk', 'meta/data.mdb', 'meta/lock.mdb', 'blocks', 'meta']) {
  test(`a symlink at ${member} is refused with one line, and its target is untouched`, async (t) => {
    const { store, sb } = await makeStore(t);
    const victim = path.join(tmpDir(t), 'victim');
    const at = path.join(store, member);
    if (fs.existsSync(at)) fs.renameSync(at, victim);
    else fs.writeFileSync(victim, 'precious\n');
    const before = modes(path.dirname(victim));
    fs.symlinkSync(victim, at);
    const err = await t.throwsAsync(checkStoreFiles(store, sb));
    t.true(isFsError(err, 'EINVAL'), String(err));
    t.is(err!.message, `EINVAL: store ${store} has a symlink at ${member}; refusing a store whose files are not its own (remove the link)`);
    t.deepEqual(modes(path.dirname(victim)), before);
  });
}

test('block files of the wrong size or missing are refused, naming the file and the size expected', async (t) => {
  const { store, sb } = await makeStore(t);
  const f = path.join(store, 'blocks', '000003.blk');
  fs.truncateSync(f, MiB - 4096);
  await t.throwsAsync(checkStoreFiles(store, sb), { message: `EINVAL: store ${store} is damaged: block file blocks/000003.blk is ${MiB - 4096} bytes, expected ${MiB} (the superblock's block file size)` });
  fs.truncateSync(f, MiB + 4096);
  await t.throwsAsync(checkStoreFiles(store, sb), { message: /blocks\/000003\.blk is 1052672 bytes, expected 1048576/ });
  fs.rmSync(f);
  await t.throwsAsync(checkStoreFiles(store, sb), { message: /block file blocks\/000003\.blk is missing \(expected 1048576 bytes\)/ });
});

test('mkfs makes only the store private: missing parents get the usual mode', async (t) => {
  const root = tmpDir(t);
  const store = path.join(root, 'a', 'b', 'store');
  const old = process.umask(0o022);
  try {
    await mkfs(store, { sizeBytes: MiB, blockFileSize: MiB });
  } finally {
    process.umask(old);
  }
  t.is(fs.statSync(path.join(root, 'a')).mode & 0o777, 0o755);
  t.is(fs.statSync(path.join(root, 'a', 'b')).mode & 0o777, 0o755);
  t.is(fs.statSync(store).mode & 0o777, 0o700);
});
