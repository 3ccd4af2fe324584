import test from 'ava';
import { addToPageCacheLru, deleteFromPageCache } from '../../../src/mm/filemap.js';
import { PG_locked, PG_waiters, PG_writeback, type Page } from '../../../src/mm/page.js';
import {
  __lockPageAsyncSlow,
  __waitOnPageBitAsyncSlow,
  endPageWriteback,
  lockPageAsync,
  pageWaitBucket,
  PAGE_WAIT_TABLE_SIZE,
  runIoCompletion,
  trylockPage,
  unlockPage,
  waitOnPageLockedAsync,
  waitOnPageWritebackAsync,
} from '../../../src/mm/wait.js';
import { rig } from './fake-fs.js';

/** Pages of one mapping, unlocked, indexes from 0. */
function pages(n: number) {
  const r = rig({ frames: 1024 });
  const ps: Page[] = [];
  for (let i = 0; i < n; i++) {
    const p = addToPageCacheLru(r.mapping, i)!;
    unlockPage(p);
    ps.push(p);
  }
  return { ...r, ps };
}

/** Two distinct pages that hash to the same bucket. */
function collidingPair(ps: Page[]): [Page, Page] {
  const seen = new Map<number, Page>();
  for (const p of ps) {
    const b = pageWaitBucket(p);
    const other = seen.get(b);
    if (other) return [other, p];
    seen.set(b, p);
  }
  throw new Error('no collision');
}

test('trylockPage is the fast path: true once, false while locked', (t) => {
  const { ps, stats } = pages(1);
  const p = ps[0]!;
  t.true(trylockPage(p));
  t.false(trylockPage(p));
  unlockPage(p);
  t.false(p.has(PG_locked));
  t.is(stats.c.wait_page, 0);
  t.throws(() => unlockPage(p), { message: /not locked/ });
});

test('lockPageAsync: free lock -> callback at once; held lock -> callback on unlock, holding the lock', (t) => {
  const { ps, stats, cache } = pages(1);
  const p = ps[0]!;
  let got = 0;
  lockPageAsync(p, () => got++);
  t.is(got, 1, 'called synchronously');
  t.is(stats.c.wait_page, 0);

  lockPageAsync(p, () => got++);
  t.is(got, 1, 'queued behind the holder');
  t.true(p.has(PG_waiters));
  t.is(stats.c.wait_page, 1);
  unlockPage(p);
  t.is(got, 2);
  t.true(p.has(PG_locked), 'the waiter owns the lock now');
  t.false(p.has(PG_waiters));
  t.is(cache.waitTable.nrWaiting, 0);
  t.is(stats.c.wake_page, 1);
  unlockPage(p);
  t.is(got, 2, 'never called twice');
});

test('the lock is handed to one waiter at a time; the others queue again', (t) => {
  const { ps } = pages(1);
  const p = ps[0]!;
  trylockPage(p);
  const order: string[] = [];
  lockPageAsync(p, () => order.push('a'));
  lockPageAsync(p, () => order.push('b'));
  waitOnPageLockedAsync(p, () => order.push('w')); // wants "unlocked", not the lock
  unlockPage(p); // a takes the lock; b and w see it locked again and keep waiting
  t.deepEqual(order, ['a']);
  t.true(p.has(PG_waiters));
  unlockPage(p); // a's unlock: b takes it
  t.deepEqual(order, ['a', 'b']);
  unlockPage(p); // b's unlock: w runs
  t.deepEqual(order, ['a', 'b', 'w']);
  t.false(p.has(PG_locked));
  t.false(p.has(PG_waiters));
});

test('waitOnPageLockedAsync: every waiter is called once, without taking the lock', (t) => {
  const { ps, stats, trace } = pages(1);
  const p = ps[0]!;
  trace.clear();
  trylockPage(p);
  let calls = 0;
  for (let i = 0; i < 5; i++) waitOnPageLockedAsync(p, () => calls++);
  t.is(stats.c.wait_page, 5);
  unlockPage(p);
  t.is(calls, 5);
  t.false(p.has(PG_locked));
  trylockPage(p);
  unlockPage(p);
  t.is(calls, 5);
  const lines = trace.read();
  t.regex(lines[0]!, /^wait ino=7 index=0 bit=locked t=\d+$/);
  t.regex(lines.at(-1)!, /^wake ino=7 index=0 woken=5 spurious=0 t=\d+$/);
});

test('a wake calls only the entries of its page and bit; others in the bucket are spurious', (t) => {
  const { ps, stats, trace, cache } = pages(PAGE_WAIT_TABLE_SIZE * 2);
  const [a, b] = collidingPair(ps);
  t.is(pageWaitBucket(a), pageWaitBucket(b));
  trylockPage(a);
  trylockPage(b);
  const woke: string[] = [];
  waitOnPageLockedAsync(a, () => woke.push('a'));
  waitOnPageLockedAsync(b, () => woke.push('b1'));
  waitOnPageLockedAsync(b, () => woke.push('b2'));
  trace.clear();
  unlockPage(a);
  t.deepEqual(woke, ['a']);
  t.is(stats.c.wake_page, 1);
  t.is(stats.c.wake_spurious, 2);
  t.false(a.has(PG_waiters), 'no entry for a remains');
  t.true(b.has(PG_waiters), 'b still has waiters');
  t.regex(trace.read()[0]!, new RegExp(`^wake ino=7 index=${a.index} woken=1 spurious=2 `));
  unlockPage(b);
  t.deepEqual(woke, ['a', 'b1', 'b2']);
  t.is(stats.c.wake_page, 3);
  t.is(stats.c.wake_spurious, 2);
  t.is(cache.waitTable.nrWaiting, 0);
});

test('same page, other bit: a writeback waiter is not woken by unlock and keeps PG_waiters', (t) => {
  const { ps, stats } = pages(1);
  const p = ps[0]!;
  trylockPage(p);
  p.set(PG_writeback);
  const woke: string[] = [];
  waitOnPageWritebackAsync(p, () => woke.push('wb'));
  waitOnPageLockedAsync(p, () => woke.push('lock'));
  unlockPage(p);
  t.deepEqual(woke, ['lock']);
  t.is(stats.c.wake_spurious, 1);
  t.true(p.has(PG_waiters));
  endPageWriteback(p);
  t.deepEqual(woke, ['lock', 'wb']);
  t.false(p.has(PG_waiters));
});

test('no walk at all when PG_waiters is clear', (t) => {
  const { ps, stats } = pages(PAGE_WAIT_TABLE_SIZE * 2);
  const [a, b] = collidingPair(ps);
  trylockPage(a);
  trylockPage(b);
  waitOnPageLockedAsync(b, () => {});
  unlockPage(a); // a has no waiters: b's entry in the same bucket is not even looked at
  t.is(stats.c.wake_spurious, 0);
  t.is(stats.c.wake_page, 0);
  unlockPage(b);
  t.is(stats.c.wake_page, 1);
});

test('RACE: unlock between a failed trylock and the enqueue does not lose the wake-up (lock)', (t) => {
  const { ps, cache } = pages(1);
  const p = ps[0]!;
  trylockPage(p); // the holder (I/O in flight)
  t.false(trylockPage(p)); // our fast path fails...
  unlockPage(p); // ...the I/O completes now: PG_waiters is clear, nobody to wake
  let got = false;
  __lockPageAsyncSlow(p, () => (got = true)); // ...and only then do we queue
  t.true(got, 'the re-check after queueing took the lock');
  t.true(p.has(PG_locked));
  t.false(p.has(PG_waiters));
  t.is(cache.waitTable.nrWaiting, 0, 'the entry was taken back out');
  unlockPage(p);
  t.false(p.has(PG_locked));
});

test('RACE: same for waiting on the unlock', (t) => {
  const { ps, cache } = pages(1);
  const p = ps[0]!;
  trylockPage(p);
  t.true(p.has(PG_locked)); // the caller saw it locked...
  unlockPage(p); // ...it is unlocked before the entry is queued
  let calls = 0;
  __waitOnPageBitAsyncSlow(p, PG_locked, () => calls++);
  t.is(calls, 1);
  t.is(cache.waitTable.nrWaiting, 0);
  trylockPage(p);
  unlockPage(p);
  t.is(calls, 1, 'not called twice');
});

test('a callback that throws does not stop the others; the error surfaces after', (t) => {
  const { ps } = pages(1);
  const p = ps[0]!;
  trylockPage(p);
  let calls = 0;
  waitOnPageLockedAsync(p, () => {
    throw new Error('boom');
  });
  waitOnPageLockedAsync(p, () => calls++);
  t.throws(() => unlockPage(p), { message: 'boom' });
  t.is(calls, 1);
  t.false(p.has(PG_waiters));
});

test('a page deleted while locked still wakes its waiters on unlock (truncate: lock, delete, unlock)', (t) => {
  const { ps } = pages(1);
  const p = ps[0]!;
  trylockPage(p);
  let woke = 0;
  waitOnPageLockedAsync(p, () => woke++);
  deleteFromPageCache(p);
  t.is(p.mapping, undefined);
  unlockPage(p);
  t.is(woke, 1);
});

test('runIoCompletion: waiters woken inside a completion resume after it, once, in wake order', (t) => {
  const { ps } = pages(4);
  for (const p of ps) t.true(trylockPage(p));
  const calls: string[] = [];
  // Reader A waits for page 0 and, when it resumes, expects every page of the "bio" unlocked.
  waitOnPageLockedAsync(ps[0]!, () => calls.push(`A sees locked=${ps.filter((p) => (p.flags & PG_locked) !== 0).length}`));
  waitOnPageLockedAsync(ps[2]!, () => calls.push('B'));
  runIoCompletion(() => {
    for (const p of ps) {
      unlockPage(p);
      calls.push(`unlock ${p.index}`);
    }
  });
  t.deepEqual(calls, ['unlock 0', 'unlock 1', 'unlock 2', 'unlock 3', 'A sees locked=0', 'B']);
  // Outside a completion the wake is synchronous as before.
  t.true(trylockPage(ps[1]!));
  let woken = false;
  waitOnPageLockedAsync(ps[1]!, () => (woken = true));
  unlockPage(ps[1]!);
  t.true(woken);
});

test('runIoCompletion: a throwing handler still resumes the waiters it woke, then rethrows', (t) => {
  const { ps } = pages(2);
  t.true(trylockPage(ps[0]!));
  let woken = 0;
  waitOnPageLockedAsync(ps[0]!, () => woken++);
  const err = t.throws(() =>
    runIoCompletion(() => {
      unlockPage(ps[0]!);
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
  for (const p of ps) t.true(trylockPage(p));
  const calls: string[] = [];
  waitOnPageLockedAsync(ps[0]!, () => {
    calls.push('A');
    // A resumed reader that completes I/O itself (a hole, zero-filled): its wakes are its own.
    runIoCompletion(() => unlockPage(ps[2]!));
    calls.push('A done');
  });
  waitOnPageLockedAsync(ps[1]!, () => calls.push('B'));
  waitOnPageLockedAsync(ps[2]!, () => calls.push('C'));
  runIoCompletion(() => {
    unlockPage(ps[0]!);
    runIoCompletion(() => unlockPage(ps[1]!));
    calls.push('outer end');
  });
  t.deepEqual(calls, ['outer end', 'A', 'C', 'A done', 'B']);
});
