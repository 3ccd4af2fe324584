/**
 * InodeLocks (i_rwsem for writers): one holder per inode at a time, in arrival order,
 * released on a throw, other inodes never waiting, nothing left behind when idle.
 */

import test from 'ava';
import { InodeLocks } from '../../../src/vfs/inode-lock.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('holders of one inode run one at a time, in the order they came', async (t) => {
  const locks = new InodeLocks();
  const log: string[] = [];
  let inside = 0;
  const job = (name: string, turns: number) =>
    locks.withInodeLock(7, async () => {
      inside++;
      t.is(inside, 1, `${name} shares the lock`);
      log.push(`${name} in`);
      for (let i = 0; i < turns; i++) await turn();
      log.push(`${name} out`);
      inside--;
    });
  await Promise.all([job('a', 3), job('b', 1), job('c', 0)]);
  t.deepEqual(log, ['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  t.is(locks.size, 0);
});

test('a throwing holder releases the lock; the next one runs', async (t) => {
  const locks = new InodeLocks();
  const failed = locks.withInodeLock(1, async () => {
    await turn();
    throw new Error('boom');
  });
  const next = locks.withInodeLock(1, async () => 'ran');
  await t.throwsAsync(failed, { message: 'boom' });
  t.is(await next, 'ran');
  t.is(locks.size, 0);
});

test('different inodes do not wait for each other', async (t) => {
  const locks = new InodeLocks();
  const unlock1 = await locks.inodeLock(1);
  let ran = false;
  await locks.withInodeLock(2, async () => {
    ran = true;
  });
  t.true(ran, 'inode 2 ran while inode 1 was held');
  let second = false;
  const waiting = locks.withInodeLock(1, async () => {
    second = true;
  });
  await turn();
  t.false(second, 'inode 1 is still held');
  unlock1();
  await waiting;
  t.true(second);
  t.is(locks.size, 0);
});
