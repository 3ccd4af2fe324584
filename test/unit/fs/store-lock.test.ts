/**
 * The store lock (src/fs/store-lock.ts): a kernel OFD lock, not a pid file. A second
 * taker is refused even from the same process, even after `rm <store>/lock`; a holder
 * killed with SIGKILL leaves nothing that keeps the store locked; symlinks are refused.
 */

import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFsError } from '../../../src/errors.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { isStoreLocked, lockStore } from '../../../src/fs/store-lock.js';
import { MiB, makeStore, tmpDir } from './helpers.js';

const LOCK_MODULE = fileURLToPath(new URL('../../../src/fs/store-lock.ts', import.meta.url));

test('a second lockStore is refused while the first holds the lock, also in the same process', async (t) => {
  const { store } = await makeStore(t);
  const lock = await lockStore(store);
  t.teardown(() => lock.release());
  t.is(fs.readFileSync(path.join(store, 'lock'), 'utf8'), `${process.pid}\n`, 'the pid is in the lock file');
  t.deepEqual(await isStoreLocked(store), { locked: true, pid: process.pid });

  const err = await t.throwsAsync(lockStore(store));
  t.true(isFsError(err, 'EBUSY'), String(err));
  t.regex(err!.message, /already mounted \(daemon pid \d+\)/);
  t.deepEqual(await isStoreLocked(store), { locked: true, pid: process.pid }, 'the refused attempt did not disturb the holder');

  lock.release();
  t.false(fs.existsSync(path.join(store, 'lock')), 'release removes the lock file');
  t.deepEqual(await isStoreLocked(store), { locked: false });
  const again = await lockStore(store);
  again.release();
});

test('removing the lock file does not let a second taker in (the superblock is locked too)', async (t) => {
  const { store } = await makeStore(t);
  const lock = await lockStore(store);
  t.teardown(() => lock.release());
  fs.rmSync(path.join(store, 'lock'));

  t.true((await isStoreLocked(store)).locked);
  const err = await t.throwsAsync(lockStore(store));
  t.true(isFsError(err, 'EBUSY'), String(err));
  t.false(fs.existsSync(path.join(store, 'lock')), 'the refused taker removed the lock file it made');
});

test('a holder killed with SIGKILL leaves the store free: nothing to recover, its pid is reported', async (t) => {
  const { store } = await makeStore(t);
  const code = `import { lockStore } from ${JSON.stringify(LOCK_MODULE)}; await lockStore(${JSON.stringify(store)}); console.log('locked'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => (d.toString().includes('locked') ? res() : undefined));
    child.on('exit', (c) => rej(new Error(`the child exited (${c}) before taking the lock`)));
  });
  t.deepEqual(await isStoreLocked(store), { locked: true, pid: child.pid });
  await t.throwsAsync(lockStore(store), { message: /already mounted/ });

  const exited = new Promise((res) => child.on('exit', res));
  child.kill('SIGKILL');
  await exited;
  t.is(fs.readFileSync(path.join(store, 'lock'), 'utf8').trim(), String(child.pid), 'the pid file is left behind');
  t.deepEqual(await isStoreLocked(store), { locked: false }, 'the kernel dropped the lock');
  const lock = await lockStore(store);
  t.is(lock.previousPid, child.pid);
  lock.release();
});

test('a symlinked lock file or superblock is refused, not followed', async (t) => {
  const { store } = await makeStore(t);
  const victim = path.join(tmpDir(t), 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.symlinkSync(victim, path.join(store, 'lock'));
  const err = await t.throwsAsync(lockStore(store));
  t.true(isFsError(err, 'EINVAL'), String(err));
  t.regex(err!.message, /symlink/);
  t.is(fs.readFileSync(victim, 'utf8'), 'precious\n');
  fs.rmSync(path.join(store, 'lock'));

  fs.renameSync(path.join(store, 'aheadfs.json'), victim);
  fs.symlinkSync(victim, path.join(store, 'aheadfs.json'));
  await t.throwsAsync(lockStore(store), { message: /symlink/ });
  t.false(fs.existsSync(path.join(store, 'lock')), 'nothing left behind');
});

test('mkfs --force takes the lock: a locked store is not replaced', async (t) => {
  const { store, sb } = await makeStore(t);
  const lock = await lockStore(store);
  t.teardown(() => lock.release());
  const err = await t.throwsAsync(mkfs(store, { sizeBytes: 2 * MiB, blockFileSize: MiB, force: true }));
  t.true(isFsError(err, 'EBUSY'), String(err));
  t.is(JSON.parse(fs.readFileSync(path.join(store, 'aheadfs.json'), 'utf8')).uuid, sb.uuid, 'the store is untouched');
  t.is(fs.readdirSync(path.join(store, 'blocks')).length, sb.blockFileCount);
});
