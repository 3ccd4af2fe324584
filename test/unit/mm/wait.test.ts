import test from 'ava';
import { runIoCompletion } from '../../../src/block/completion.js';
import type { Folio } from '../../../src/mm/folio.js';
import { PG_locked, PG_waiters, PG_writeback } from '../../../src/mm/page.js';
import { filemapRemoveFolio } from '../../../src/mm/pagecache.js';
import {
  __folioLockAsyncSlow,
  __folioWaitBitAsyncSlow,
  folioEndWriteback,
  folioLockAsync,
  folioWaitBucket,
  PAGE_WAIT_TABLE_SIZE,
  folioTrylock,
  folioUnlock,
  folioWaitLockedAsync,
  folioWaitWritebackAsync,
} from '../../../src/mm/wait.js';
import { addFolio, rig } from './fake-fs.js';

/** Pages of one mapping, unlocked, indexes from 0. */
function pages(n: number) {
  const r = rig({ frames: 1024 });
  const ps: Folio[] = [];
  for (let i = 0; i < n; i++) {
    const p = addFolio(r.mapping, i)!;
    folioUnlock(p);
    ps.push(p);
  }
  return { ...r, ps };
}

/** Two distinct pages that hash to the same bucket. */
function collidingPair(ps: Folio[]): [Folio, Folio] {
  const seen = new Map<number, Folio>();
  for (const p of ps) {
    const b = folioWaitBucket(p);
    const other = seen.get(b);
    if (other) return [other, p];
    seen.set(b, p);
  }
  throw new Error('no collision');
}

test('folioTrylock is the fast path: true once, false while locked', (t) => {
  const { ps, stats } = pages(1);
  const p = ps[0]!;
  t.true(folioTrylock(p));
  t.false(folioTrylock(p));
  folioUnlock(p);
  t.false(p.has(PG_locked));
  t.is(stats.c.wait_page, 0);
  t.throws(() => folioUnlock(p), { message: /not locked/ });
});

test('folioLockAsync: free lock -> callback at once; held lock -> callback on unlock, holding the lock', (t) => {
  const { ps, stats, cache } = pages(1);
  const p = ps[0]!;
  let got = 0;
  folioLockAsync(p, () => got++);
  t.is(got, 1, 'called synchronously');
  t.is(stats.c.wait_page, 0);

  folioLockAsync(p, () => got++);
  t.is(got, 1, 'queued behind the holder');
  t.true(p.has(PG_waiters));
  t.is(stats.c.wait_page, 1);
  folioUnlock(p);
  t.is(got, 2);
  t.true(p.has(PG_locked), 'the waiter owns the lock now');
  t.false(p.has(PG_waiters));
  t.is(cache.waitTable.nrWaiting, 0);
  t.is(stats.c.wake_page, 1);
  folioUnlock(p);
  t.is(got, 2, 'never called twice');
});

test('the lock is handed to one waiter at a time; the others queue again', (t) => {
  const { ps } = pages(1);
  const p = ps[0]!;
  folioTrylock(p);
  const order: string[] = [];
  folioLockAsync(p, () => order.push('a'));
  folioLockAsync(p, () => order.push('b'));
  folioWaitLockedAsync(p, () => order.push('w')); // wants "unlocked", not the lock
  folioUnlock(p); // a takes the lock; b and w see it locked again and keep waiting
  t.deepEqual(order, ['a']);
  t.true(p.has(PG_waiters));
  folioUnlock(p); // a's unlock: b takes it
  t.deepEqual(order, ['a', 'b']);
  folioUnlock(p); // b's unlock: w runs
  t.deepEqual(order, ['a', 'b', 'w']);
  t.false(p.has(PG_locked));
  t.false(p.has(PG_waiters));
});

test('folioWaitLockedAsync: every waiter is called once, without taking the lock', (t) => {
  const { ps, stats, trace } = pages(1);
  const p = ps[0]!;
  trace.clear();
  folioTrylock(p);
  let calls = 0;
  for (let i = 0; i < 5; i++) folioWaitLockedAsync(p, () => calls++);
  t.is(stats.c.wait_page, 5);
  folioUnlock(p);
  t.is(calls, 5);
  t.false(p.has(PG_locked));
  folioTrylock(p);
  folioUnlock(p);
  t.is(calls, 5);
  const lines = trace.read();
  t.regex(lines[0]!, /^wait ino=7 index=0 bit=locked t=\d+$/);
  t.regex(lines.at(-1)!, /^wake ino=7 index=0 woken=5 spurious=0 t=\d+$/);
});

test('a wake calls only the entries of its page and bit; others in the bucket are spurious', (t) => {
  const { ps, stats, trace, cache } = pages(PAGE_WAIT_TABLE_SIZE * 2);
  const [a, b] = collidingPair(ps);
  t.is(folioWaitBucket(a), folioWaitBucket(b));
  folioTrylock(a);
  folioTrylock(b);
  const woke: string[] = [];
  folioWaitLockedAsync(a, () => woke.push('a'));
  folioWaitLockedAsync(b, () => woke.push('b1'));
  folioWaitLockedAsync(b, () => woke.push('b2'));
  trace.clear();
  folioUnlock(a);
  t.deepEqual(woke, ['a']);
  t.is(stats.c.wake_page, 1);
  t.is(stats.c.wake_spurious, 2);
  t.false(a.has(PG_waiters), 'no entry for a remains');
  t.true(b.has(PG_waiters), 'b still has waiters');
  t.regex(trace.read()[0]!, new RegExp(`^wake ino=7 index=${a.index} woken=1 spurious=2 `));
  folioUnlock(b);
  t.deepEqual(woke, ['a', 'b1', 'b2']);
  t.is(stats.c.wake_page, 3);
  t.is(stats.c.wake_spurious, 2);
  t.is(cache.waitTable.nrWaiting, 0);
});

test('same page, other bit: a writeback waiter is not woken by unlock and keeps PG_waiters', (t) => {
  const { ps, stats } = pages(1);
  const p = ps[0]!;
  folioTrylock(p);
  p.set(PG_writeback);
  const woke: string[] = [];
  folioWaitWritebackAsync(p, () => woke.push('wb'));
  folioWaitLockedAsync(p, () => woke.push('lock'));
  folioUnlock(p);
  t.deepEqual(woke, ['lock']);
  t.is(stats.c.wake_spurious, 1);
  t.true(p.has(PG_waiters));
  folioEndWriteback(p);
  t.deepEqual(woke, ['lock', 'wb']);
  t.false(p.has(PG_waiters));
});

test('no walk at all when PG_waiters is clear', (t) => {
  const { ps, stats } = pages(PAGE_WAIT_TABLE_SIZE * 2);
  const [a, b] = collidingPair(ps);
  folioTrylock(a);
  folioTrylock(b);
  folioWaitLockedAsync(b, () => {});
  folioUnlock(a); // a has no waiters: b's entry in the same bucket is not even looked at
  t.is(stats.c.wake_spurious, 0);
  t.is(stats.c.wake_page, 0);
  folioUnlock(b);
  t.is(stats.c.wake_page, 1);
});

test('RACE: unlock between a failed trylock and the enqueue does not lose the wake-up (lock)', (t) => {
  const { ps, cache } = pages(1);
  const p = ps[0]!;
  folioTrylock(p); // the holder (I/O in flight)
  t.false(folioTrylock(p)); // our fast path fails...
  folioUnlock(p); // ...the I/O completes now: PG_waiters is clear, nobody to wake
  let got = false;
  __folioLockAsyncSlow(p, () => (got = true)); // ...and only then do we queue
  t.true(got, 'the re-check after queueing took the lock');
  t.true(p.has(PG_locked));
  t.false(p.has(PG_waiters));
  t.is(cache.waitTable.nrWaiting, 0, 'the entry was taken back out');
  folioUnlock(p);
  t.false(p.has(PG_locked));
});

test('RACE: same for waiting on the unlock', (t) => {
  const { ps, cache } = pages(1);
  const p = ps[0]!;
  folioTrylock(p);
  t.true(p.has(PG_locked)); // the caller saw it locked...
  folioUnlock(p); // ...it is unlocked before the entry is queued
  let calls = 0;
  __folioWaitBitAsyncSlow(p, PG_locked, () => calls++);
  t.is(calls, 1);
  t.is(cache.waitTable.nrWaiting, 0);
  folioTrylock(p);
  folioUnlock(p);
  t.is(calls, 1, 'not called twice');
});

test('a callback that throws does not stop the others; the error surfaces after', (t) => {
  const { ps } = pages(1);
  const p = ps[0]!;
  folioTrylock(p);
  let calls = 0;
  folioWaitLockedAsync(p, () => {
    throw new Error('boom');
  });
  folioWaitLockedAsync(p, () => calls++);
  t.throws(() => folioUnlock(p), { message: 'boom' });
  t.is(calls, 1);
  t.false(p.has(PG_waiters));
});

test('a page deleted while locked still wakes its waiters on unlock (truncate: lock, delete, unlock)', (t) => {
  const { ps } = pages(1);
  const p = ps[0]!;
  folioTrylock(p);
  let woke = 0;
  folioWaitLockedAsync(p, () => woke++);
  filemapRemoveFolio(p);
  t.is(p.mapping, undefined);
  folioUnlock(p);
  t.is(woke, 1);
});

test('runIoCompletion: waiters woken inside a completion resume after it, once, in wake order', (t) => {
  const { ps } = pages(4);
  for (const p of ps) t.true(folioTrylock(p));
  const calls: string[] = [];
  // Reader A waits for page 0 and, when it resumes, expects every page of the "bio" unlocked.
  folioWaitLockedAsync(ps[0]!, () => calls.push(`A sees locked=${ps.filter((p) => (p.flags & PG_locked) !== 0).length}`));
  folioWaitLockedAsync(ps[2]!, () => calls.push('B'));
  runIoCompletion(() => {
    for (const p of ps) {
      folioUnlock(p);
      calls.push(`unlock ${p.index}`);
    }
  });
  t.deepEqual(calls, ['unlock 0', 'unlock 1', 'unlock 2', 'unlock 3', 'A sees locked=0', 'B']);
  // Outside a completion the wake is synchronous as before.
  t.true(folioTrylock(ps[1]!));
  let woken = false;
  folioWaitLockedAsync(ps[1]!, () => (woken = true));
  folioUnlock(ps[1]!);
  t.true(woken);
});

test('runIoCompletion: a throwing handler still resumes the waiters it woke, then rethrows', (t) => {
  const { ps } = pages(2);
  t.true(folioTrylock(ps[0]!));
  let woken = 0;
  folioWaitLockedAsync(ps[0]!, () => woken++);
  const err = t.throws(() =>
    runIoCompletion(() => {
      folioUnlock(ps[0]!);
      throw new Error('endio bug');
    }),
  );
  t.is(err?.message, 'endio bug');
  t.is(woken, 1);
  // Nothing is left queued for the next completion.
  runIoCompletion(() => undefined);
  t.is(woken, 1);
});

test('runIoCompletion: a nested completion joins the outer one; a resumed waiter may run its own', (t) => {
  const { ps } = pages(3);
  for (const p of ps) t.true(folioTrylock(p));
  const calls: string[] = [];
  folioWaitLockedAsync(ps[0]!, () => {
    calls.push('A');
    // A resumed reader that completes I/O itself (a hole, zero-filled): its wakes are its own.
    runIoCompletion(() => folioUnlock(ps[2]!));
    calls.push('A done');
  });
  folioWaitLockedAsync(ps[1]!, () => calls.push('B'));
  folioWaitLockedAsync(ps[2]!, () => calls.push('C'));
  runIoCompletion(() => {
    folioUnlock(ps[0]!);
    runIoCompletion(() => folioUnlock(ps[1]!));
    calls.push('outer end');
  });
  t.deepEqual(calls, ['outer end', 'A', 'C', 'A done', 'B']);
});
