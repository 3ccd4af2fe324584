/**
 * The binary trace ring (src/stats/trace.ts): what `read()` formats equals, byte for byte,
 * the text lines the emitters built before the ring stored records (the templates below
 * are those lines, copied from the call sites as they were), for random fields of every
 * event kind; wraparound and overrun keep the newest `capacity` events in order; the
 * reader's pid goes on the line when known.
 */

import test from 'ava';
import fc from 'fast-check';
import { Trace, TraceEvent, type TraceArg, type TraceEventId } from '../../../src/stats/trace.js';

/** One event: its id, the arguments the emitter passes, and the line the old code printed. */
interface Case {
  ev: TraceEventId;
  args: TraceArg[];
  old: string;
}

// Values as the emitters see them: page indexes, sectors, byte counts, inode numbers
// (non-negative integers up to 2^53), prev_pos (-1 or a position), small counts.
const uint = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const int = fc.oneof(uint, fc.constant(-1), fc.integer({ min: -(2 ** 31), max: 2 ** 31 }));
const op = fc.constantFrom('read', 'write', 'flush');
const status = fc.constantFrom('ok', 'EIO', 'ENOSPC', 'ETIMEDOUT');
const trigger = fc.constantFrom('sync', 'async');
const reason = fc.constantFrom('initial', 'sequential', 'marker', 'oversize', 'context', 'random', 'window', 'forced');

const cases: fc.Arbitrary<Case>[] = [
  fc.tuple(uint, uint, uint, uint).map(([ino, fh, pos, len]) => ({ ev: TraceEvent.read, args: [ino, fh, pos, len], old: `read ino=${ino} fh=${fh} pos=${pos} len=${len}` })),
  fc.tuple(trigger, uint, uint, uint, uint, uint, uint, uint, fc.nat({ max: 9 }), reason).map(([tr, ino, fh, index, req, start, size, asyncSize, order, r]) => ({
    ev: TraceEvent.ra,
    args: [tr, ino, fh, index, req, start, size, asyncSize, order, r],
    old: `ra ${tr} ino=${ino} fh=${fh} index=${index} req=${req} ` + `start=${start} size=${size} async=${asyncSize} order=${order} reason=${r}`,
  })),
  fc.tuple(trigger, uint, uint, uint, fc.nat({ max: 9 }), uint, uint, uint, uint, int).map(([kind, ino, index, reqCount, order, size, asyncSize, raPages, mmapMiss, prevPos]) => ({
    ev: kind === 'sync' ? TraceEvent.pageCacheSyncRa : TraceEvent.pageCacheAsyncRa,
    args: [ino, index, reqCount, order, size, asyncSize, raPages, mmapMiss, prevPos],
    old:
      `page_cache_${kind}_ra: ino=${ino.toString(16)} index=${index} req_count=${reqCount} order=${order} ` +
      `size=${size} async_size=${asyncSize} ra_pages=${raPages} mmap_miss=${mmapMiss} prev_pos=${prevPos}`,
  })),
  fc.tuple(uint, uint, uint, uint).map(([ino, index, nr, la]) => ({
    ev: TraceEvent.pageCacheRaUnbounded,
    args: [ino, index, nr, la],
    old: `page_cache_ra_unbounded: ino=${ino.toString(16)} index=${index} nr_to_read=${nr} lookahead_size=${la}`,
  })),
  fc.tuple(uint, uint, fc.nat({ max: 9 }), uint, uint, uint).map(([ino, start, order, size, asyncSize, raPages]) => ({
    ev: TraceEvent.pageCacheRaOrder,
    args: [ino, start, order, size, asyncSize, raPages],
    old: `page_cache_ra_order: ino=${ino.toString(16)} index=${start} order=${order} size=${size} async_size=${asyncSize} ra_pages=${raPages}`,
  })),
  fc.tuple(op, uint, uint).map(([o, sector, size]) => ({ ev: TraceEvent.bioSubmit, args: [o, sector, size], old: `bio submit op=${o} sector=${sector} bytes=${size}` })),
  fc.tuple(uint, uint, uint).map(([sector, size, parts]) => ({ ev: TraceEvent.bioSplit, args: [sector, size, parts], old: `bio split sector=${sector} bytes=${size} parts=${parts}` })),
  fc.tuple(op, uint, uint, status).map(([o, sector, size, s]) => ({
    ev: TraceEvent.bioComplete,
    args: [o, sector, size, s],
    old: `bio complete op=${o} sector=${sector} bytes=${size} status=${s}`,
  })),
  fc.tuple(uint, fc.constantFrom('finish', 'full', 'schedule')).map(([n, r]) => ({ ev: TraceEvent.plugFlush, args: [n, r], old: `plug flush requests=${n} reason=${r}` })),
  fc.tuple(op, uint, uint, uint).map(([o, sector, bytes, inflight]) => ({
    ev: TraceEvent.rqDispatch,
    args: [o, sector, bytes, inflight],
    old: `rq dispatch op=${o} sector=${sector} bytes=${bytes} inflight=${inflight}`,
  })),
  fc.tuple(op, uint, uint).map(([o, sector, bytes]) => ({ ev: TraceEvent.rqInject, args: [o, sector, bytes], old: `rq inject op=${o} sector=${sector} bytes=${bytes} status=EIO` })),
  fc.tuple(op, uint, uint, status, fc.double({ min: 0, max: 1e7, noNaN: true })).map(([o, sector, bytes, s, ms]) => ({
    ev: TraceEvent.rqComplete,
    args: [o, sector, bytes, s, ms],
    old: `rq complete op=${o} sector=${sector} bytes=${bytes} status=${s} ms=${ms.toFixed(3)}`,
  })),
  fc.tuple(fc.constantFrom('none', 'mq-deadline', 'bfq', 'kyber'), fc.constantFrom('none', 'mq-deadline', 'bfq', 'kyber'), uint).map(([from, to, moved]) => ({
    ev: TraceEvent.rqScheduler,
    args: [from, to, moved],
    old: `rq scheduler from=${from} to=${to} moved=${moved}`,
  })),
  fc.tuple(uint, uint, fc.constantFrom('locked', 'writeback')).map(([ino, index, bit]) => ({ ev: TraceEvent.wait, args: [ino, index, bit], old: `wait ino=${ino} index=${index} bit=${bit}` })),
  fc.tuple(uint, uint, uint, uint).map(([ino, index, n, spurious]) => ({
    ev: TraceEvent.wake,
    args: [ino, index, n, spurious],
    old: `wake ino=${ino} index=${index} woken=${n} spurious=${spurious}`,
  })),
  fc.tuple(uint, uint).map(([ino, index]) => ({ ev: TraceEvent.reclaim, args: [ino, index], old: `reclaim ino=${ino} index=${index}` })),
  fc.tuple(uint, uint, uint).map(([dirty, wb, thresh]) => ({
    ev: TraceEvent.balanceDirtyPages,
    args: [dirty, wb, thresh],
    old: `balance_dirty_pages dirty=${dirty} writeback=${wb} thresh=${thresh} throttled`,
  })),
];

function emitCase(trace: Trace, c: Case): void {
  const a = c.args;
  trace.emit(c.ev, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
}

test('every event kind formats to the old text line, for random fields', (t) => {
  t.is(cases.length, Object.keys(TraceEvent).length - 2, 'one generator per event id (page_cache sync/async share one; `text` is emitText\'s)');
  fc.assert(
    fc.property(fc.array(fc.oneof(...cases), { minLength: 1, maxLength: 40 }), (events) => {
      const trace = new Trace(64);
      for (const c of events) emitCase(trace, c);
      const lines = trace.read();
      for (let i = 0; i < events.length; i++) {
        const m = / t=(\d+)$/.exec(lines[i]!);
        if (!m) return false;
        if (lines[i]!.slice(0, m.index) !== events[i]!.old) return false;
      }
      return lines.length === events.length;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('wraparound: a full ring keeps the newest `capacity` events, oldest first; overrun many times over still does', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 60 }), (capacity, n) => {
      const trace = new Trace(capacity);
      for (let i = 0; i < n; i++) trace.emit(TraceEvent.reclaim, 7, i);
      const got = trace.read().map((l) => Number(/ index=(\d+) /.exec(l)![1]));
      const want = Array.from({ length: Math.min(n, capacity) }, (_, k) => n - Math.min(n, capacity) + k);
      return trace.length === want.length && JSON.stringify(got) === JSON.stringify(want);
    }),
  );
  t.pass();
});

test('reads between emits (formatted lines kept per slot) still see each overwritten slot\'s new event', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.oneof(fc.constant('read' as const), fc.nat({ max: 3 })), { maxLength: 60 }), (capacity, ops) => {
      const trace = new Trace(capacity);
      const model: number[] = [];
      let next = 0;
      for (const op of ops) {
        if (op === 'read') {
          const got = trace.read().map((l) => Number(/ index=(\d+) /.exec(l)![1]));
          if (JSON.stringify(got) !== JSON.stringify(model)) return false;
        } else {
          for (let k = 0; k <= op; k++) {
            trace.emit(TraceEvent.reclaim, 7, next);
            model.push(next++);
            if (model.length > capacity) model.shift();
          }
        }
      }
      return true;
    }),
  );
  t.pass();
});

test('clear empties the ring; records written after it are the only ones read', (t) => {
  const trace = new Trace(4);
  for (let i = 0; i < 6; i++) trace.emit(TraceEvent.reclaim, 1, i);
  trace.clear();
  t.deepEqual(trace.read(), []);
  trace.emit(TraceEvent.wake, 1, 2, 3, 0);
  t.is(trace.read().length, 1);
  t.regex(trace.read()[0]!, /^wake ino=1 index=2 woken=3 spurious=0 t=\d+$/);
});

test('off: nothing is recorded', (t) => {
  const trace = new Trace(4);
  trace.enabled = false;
  trace.emit(TraceEvent.reclaim, 1, 2);
  t.deepEqual(trace.read(), []);
});

test('the pid current when the event was recorded goes on its line before t=; none when 0', (t) => {
  const trace = new Trace(8);
  trace.pid = 4242;
  trace.emit(TraceEvent.bioSubmit, 'read', 8, 4096);
  trace.pid = 0;
  trace.emit(TraceEvent.bioComplete, 'read', 8, 4096, 'ok');
  const [a, b] = trace.read();
  t.regex(a!, /^bio submit op=read sector=8 bytes=4096 pid=4242 t=\d+$/);
  t.regex(b!, /^bio complete op=read sector=8 bytes=4096 status=ok t=\d+$/);
});

test('timestamps are non-decreasing microseconds', (t) => {
  const trace = new Trace(100);
  for (let i = 0; i < 100; i++) trace.emit(TraceEvent.reclaim, 1, i);
  const ts = trace.read().map((l) => Number(/ t=(\d+)$/.exec(l)![1]));
  for (let i = 1; i < ts.length; i++) t.true(ts[i]! >= ts[i - 1]!);
});

test('emitText keeps a rare event\'s line as formatted, in order with the records, and through the sink', (t) => {
  const trace = new Trace(4);
  trace.emit(TraceEvent.reclaim, 7, 1);
  trace.pid = 42;
  trace.emitText('writeback reason=fsync inodes=7:2,9:1 pages=3 failed=0 dirty=0 writeback=0');
  trace.pid = 0;
  trace.emit(TraceEvent.reclaim, 7, 2);
  const lines = trace.read().map((l) => l.replace(/ t=\d+$/, ''));
  t.deepEqual(lines, ['reclaim ino=7 index=1', 'writeback reason=fsync inodes=7:2,9:1 pages=3 failed=0 dirty=0 writeback=0 pid=42', 'reclaim ino=7 index=2']);
  for (let i = 0; i < 4; i++) trace.emit(TraceEvent.reclaim, 8, i); // overwritten like any record
  t.false(trace.read().some((l) => l.startsWith('writeback')));
  const sunk: string[] = [];
  const sinkTrace = new Trace(4, { sink: (l) => sunk.push(l) });
  sinkTrace.emitText('writeback reason=sync inodes=3:1 pages=1 failed=0 dirty=0 writeback=0');
  t.is(sinkTrace.length, 0);
  t.regex(sunk[0]!, /^writeback reason=sync inodes=3:1 pages=1 failed=0 dirty=0 writeback=0 t=\d+$/);
});
