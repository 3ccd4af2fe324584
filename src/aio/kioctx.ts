/**
 * The kioctx: Linux's native AIO (fs/aio.c, Linux 6.18: io_setup, io_submit, io_getevents,
 * io_cancel, io_destroy) over aheadfs's buffered read path, with the buffered-AIO idea of
 * the seeds (and of io_uring's IOCB_WAITQ reads since v5.9): a read that needs I/O does not
 * block the submitter; it waits on the folio wait queues (src/mm/wait.ts) and completes
 * into the ring when its pages are uptodate. One submitter thus keeps many reads in flight.
 *
 *   ioSubmit([iocb...])  (plugged when more than 2, like io_submit's AIO_PLUG_THRESHOLD)
 *     │ per iocb: nbytes/offset valid? (EINVAL) ─ a ring slot? (EAGAIN) ─ fd? (EBADF)
 *     │           opcode? (EINVAL) ─ rw flags? (EOPNOTSUPP) ─ mode? (EBADF)
 *     ├─ PREAD, every page it needs cached and uptodate:  the read loop runs to the end
 *     │     now (filemapReadV6 / filemapRead, synchronous) ─▶ event in the ring at submit
 *     ├─ PREAD with RWF_NOWAIT, a page missing: the cached prefix (a short read), or
 *     │     res = -EAGAIN, and no read of the missing pages started
 *     ├─ PREAD, a page missing: the read loop starts readahead / read_folio and queues
 *     │     itself on the folio wait queue (nothing blocks); the request goes on
 *     │     active_reqs (cancelable) ─▶ pages uptodate ─▶ copy ─▶ event in the ring
 *     └─ PWRITE: the buffered (write-through) write ─▶ event when it is done;
 *           RWF_NOWAIT: -EOPNOTSUPP (ext4_buffered_write_iter)
 *
 *   ring: completed events, oldest first ─▶ ioGetevents(minNr, nr, timeout) reaps them
 *
 * The ring's limits are the kernel's (ioctx_alloc, aio_setup_ring): nr_events is raised to
 * at least 4 per possible CPU, doubled, +2, and rounded up to fill the ring's pages (32-byte
 * io_events after a 32-byte header); a context reserves its nr_events (as passed) against
 * aio-max-nr (65536 by default; EAGAIN beyond). A request holds a slot from io_submit until
 * its event is reaped, and one slot stays empty (head == tail + 1 is full): at most
 * nr_events - 1 requests in flight or unreaped; io_submit gets EAGAIN for the first iocb
 * that finds none (or returns how many it submitted before it). NUM_POSSIBLE_CPUS is 1
 * here: one JS thread submits, so the kernel's per-CPU slot batches are one exact count.
 *
 * Differences from the kernel, on purpose:
 *   - io_cancel in 6.18 cancels only requests with a cancel function (aio_poll, USB
 *     gadgets): a read of a regular file gets EINVAL. Here a read that waits for I/O is on
 *     active_reqs and cancelable, like the seeds' buffered AIO (and io_uring's cancel of a
 *     queued read): its event comes at once with res = -ECANCELED. Its I/O still completes
 *     into the page cache; its bytes go nowhere: such a read is done into a private buffer
 *     and copied into the caller's only if it was not cancelled.
 *   - RWF_NOWAIT on a buffered read in 6.18 still starts the synchronous readahead before
 *     it answers -EAGAIN (filemap_get_pages); here the pages it lacks are not read (as
 *     IOCB_NOIO). The cached part it does read is read by the read loop, so a readahead
 *     marker there starts the asynchronous readahead, as in the kernel.
 *   - No eventfd (IOCB_FLAG_RESFD), no vectored or poll commands, no fsync commands.
 *
 * Errors: an iocb refused at submit throws (the first) or ends the batch (later ones), like
 * io_submit's return value; an I/O error comes back in the event as res = -errno (-EIO).
 */

import { ERRNO, fsError, toFsError, type ErrorCode } from '../errors.js';
import { blkFinishPlug, blkStartPlug, type Plug } from '../block/plug.js';
import { PAGE_SIZE, PG_uptodate } from '../mm/page.js';
import type { AddressSpace } from '../mm/pagecache.js';
import type { Stats } from '../stats/registry.js';
import type { ReadCallback } from '../vfs/types.js';

/** include/uapi/linux/aio_abi.h: the commands (only these two are supported). */
export const IOCB_CMD_PREAD = 0;
export const IOCB_CMD_PWRITE = 1;
/** include/uapi/linux/fs.h: per-I/O flags (aio_rw_flags). Only RWF_NOWAIT is supported. */
export const RWF_HIPRI = 0x1;
export const RWF_DSYNC = 0x2;
export const RWF_SYNC = 0x4;
export const RWF_NOWAIT = 0x8;
export const RWF_APPEND = 0x10;
const RWF_SUPPORTED = RWF_NOWAIT;

/** fs/aio.c: io_submit plugs a batch of more than this many iocbs. */
export const AIO_PLUG_THRESHOLD = 2;
/** /proc/sys/fs/aio-max-nr's default. */
export const AIO_MAX_NR_DEFAULT = 0x10000;
/** One submitting thread (see the overview). */
export const NUM_POSSIBLE_CPUS = 1;
/** sizeof(struct aio_ring) and sizeof(struct io_event). */
const AIO_RING_HEADER_BYTES = 32;
const IO_EVENT_BYTES = 32;

/** struct iocb, the fields aheadfs reads. */
export interface Iocb {
  /** aio_data: returned untouched in the event's `data`. */
  data?: bigint | number;
  /** aio_lio_opcode: IOCB_CMD_PREAD or IOCB_CMD_PWRITE. */
  opcode: number;
  /** aio_fildes: a file descriptor of the store (StoreFile.fd). */
  fd: number;
  /** aio_buf: read into / written from buf[0, nbytes). */
  buf: Uint8Array;
  /** aio_nbytes. */
  nbytes: number;
  /** aio_offset: the byte position in the file. */
  offset: number;
  /** aio_rw_flags: RWF_NOWAIT, or 0 (default). */
  rwFlags?: number;
}

/** struct io_event. */
export interface IoEvent {
  /** The iocb's aio_data. */
  data: bigint | number | undefined;
  /** The iocb itself (the kernel returns its user address). */
  obj: Iocb;
  /** Bytes transferred, or -errno (-EIO, -EAGAIN, -ECANCELED, ...). */
  res: number;
  res2: number;
}

/** What the kioctx needs of an open file (the store's file table provides it). */
export interface AioFile {
  readonly readable: boolean;
  readonly writable: boolean;
  /** The file's page cache: which pages are cached and uptodate. */
  readonly mapping: AddressSpace;
  /** The buffered read (callback style: synchronous when everything is cached). */
  read(buf: Uint8Array, len: number, pos: number, done: ReadCallback): void;
  /** The buffered write. */
  write(buf: Uint8Array, len: number, pos: number): Promise<number>;
}

/** The "system" the contexts belong to: aio-max-nr and aio_nr (one per store here). */
export class AioSystem {
  /** Sum of max_reqs of the live contexts (/proc/sys/fs/aio-nr). */
  nr = 0;
  constructor(
    /** /proc/sys/fs/aio-max-nr. */
    readonly maxNr: number = AIO_MAX_NR_DEFAULT,
    readonly lookup: (fd: number) => AioFile | undefined,
    /** The store's counters (aio_*). */
    readonly stats: Stats,
  ) {}
}

/** A submitted request (struct aio_kiocb). Invariant: `done` once its event was made. */
interface AioKiocb {
  readonly iocb: Iocb;
  done: boolean;
}

interface GeteventsWaiter {
  readonly minNr: number;
  readonly nr: number;
  readonly got: IoEvent[];
  readonly finish: (err?: Error) => void;
}

/** The ring's size for io_setup(nrEvents): ioctx_alloc and aio_setup_ring (Linux 6.18). */
export function aioRingSize(nrEvents: number): { nrEvents: number; ringPages: number } {
  let n = Math.max(nrEvents, NUM_POSSIBLE_CPUS * 4) * 2;
  n += 2; // "1 is required, 2 for good luck"
  const ringPages = Math.ceil((AIO_RING_HEADER_BYTES + IO_EVENT_BYTES * n) / PAGE_SIZE);
  return { nrEvents: Math.floor((ringPages * PAGE_SIZE - AIO_RING_HEADER_BYTES) / IO_EVENT_BYTES), ringPages };
}

function negErrno(err: unknown, context: string): number {
  return -ERRNO[toFsError(err, context).code];
}

function negCode(code: ErrorCode): number {
  return -ERRNO[code];
}

/** struct kioctx. */
export class Kioctx {
  /** ctx->max_reqs: nr_events as passed to io_setup (counted against aio-max-nr). */
  readonly maxReqs: number;
  /** ctx->nr_events: the ring's size after rounding. */
  readonly nrEvents: number;
  /**
   * reqs_available: free slots. Invariant: reqsAvailable + requests in flight + events in
   * the ring (unreaped) === nrEvents - 1.
   */
  private reqsAvailable: number;
  /** Completed events not yet reaped, oldest first. Invariant: length <= nrEvents - 1. */
  private readonly ring: IoEvent[] = [];
  /** active_reqs: the requests io_cancel can find (reads waiting for their pages). */
  private readonly active = new Map<Iocb, AioKiocb>();
  /** Requests whose I/O has not finished (also cancelled ones still reading): io_destroy waits for them. */
  private running = 0;
  private idle: (() => void)[] = [];
  private readonly waiters: GeteventsWaiter[] = [];
  private dead = false;
  /** The private buffers of reads that wait for I/O, reused (a new ArrayBuffer per read costs GC). */
  private readonly bounces = new BouncePool();

  /** Use ioSetup. */
  constructor(
    private readonly sys: AioSystem,
    nrEvents: number,
  ) {
    // io_setup: nr_events == 0 (or not a u32) is EINVAL.
    if (!Number.isSafeInteger(nrEvents) || nrEvents <= 0 || nrEvents > 0xffffffff) throw fsError('EINVAL', `io_setup: nr_events ${nrEvents}`);
    // ioctx_alloc: the doubled size must not overflow the ring ("nr_events too high").
    if (Math.max(nrEvents, NUM_POSSIBLE_CPUS * 4) * 2 > 0x10000000 / IO_EVENT_BYTES) throw fsError('EINVAL', `io_setup: nr_events ${nrEvents} is too high`);
    if (nrEvents > sys.maxNr) throw fsError('EAGAIN', `io_setup: nr_events ${nrEvents} is more than aio-max-nr (${sys.maxNr})`);
    if (sys.nr + nrEvents > sys.maxNr) throw fsError('EAGAIN', `io_setup: aio-nr ${sys.nr} + ${nrEvents} would pass aio-max-nr (${sys.maxNr})`);
    this.maxReqs = nrEvents;
    this.nrEvents = aioRingSize(nrEvents).nrEvents;
    this.reqsAvailable = this.nrEvents - 1;
    sys.nr += nrEvents;
  }

  /** io_destroy was called. */
  get destroyed(): boolean {
    return this.dead;
  }

  /** Requests in flight or completed and unreaped (slots taken). */
  get slotsUsed(): number {
    return this.nrEvents - 1 - this.reqsAvailable;
  }

  /** io_submit: returns how many iocbs were submitted; throws the first one's error if none was. */
  submit(iocbs: readonly Iocb[]): number {
    if (this.dead) throw fsError('EINVAL', 'io_submit: the context was destroyed');
    const nr = Math.min(iocbs.length, this.nrEvents);
    const plug: Plug | undefined = nr > AIO_PLUG_THRESHOLD ? blkStartPlug() : undefined;
    let i = 0;
    try {
      for (; i < nr; i++) this.submitOne(iocbs[i]!);
    } catch (err) {
      if (i === 0) throw err;
    } finally {
      blkFinishPlug(plug);
    }
    return i;
  }

  /** io_submit_one: refuse (throw, slot given back) or start the request. */
  private submitOne(iocb: Iocb): void {
    const { nbytes, offset, buf } = iocb;
    if (!Number.isSafeInteger(nbytes) || nbytes < 0) throw fsError('EINVAL', `io_submit: aio_nbytes ${nbytes}`);
    if (this.reqsAvailable === 0) throw fsError('EAGAIN', `io_submit: all ${this.nrEvents - 1} slots of the ring are taken (reap events first)`);
    const file = this.sys.lookup(iocb.fd);
    if (file === undefined) throw fsError('EBADF', `io_submit: no open file with fd ${iocb.fd}`);
    if (iocb.opcode !== IOCB_CMD_PREAD && iocb.opcode !== IOCB_CMD_PWRITE) throw fsError('EINVAL', `io_submit: opcode ${iocb.opcode} is not supported (IOCB_CMD_PREAD, IOCB_CMD_PWRITE)`);
    const rwFlags = iocb.rwFlags ?? 0;
    if ((rwFlags & ~RWF_SUPPORTED) !== 0) throw fsError('EOPNOTSUPP', `io_submit: rw flags 0x${rwFlags.toString(16)} (only RWF_NOWAIT is supported)`);
    const read = iocb.opcode === IOCB_CMD_PREAD;
    if (read ? !file.readable : !file.writable) throw fsError('EBADF', `io_submit: fd ${iocb.fd} is not open for ${read ? 'reading' : 'writing'}`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw fsError('EINVAL', `io_submit: aio_offset ${offset}`);
    if (buf.byteLength < nbytes) throw fsError('EINVAL', `io_submit: aio_nbytes ${nbytes} is more than the ${buf.byteLength}-byte buffer`);
    this.reqsAvailable--;
    this.sys.stats.c.aio_submit++;
    const req: AioKiocb = { iocb, done: false };
    const nowait = (rwFlags & RWF_NOWAIT) !== 0;
    if (read) this.aioRead(req, file, nowait);
    else this.aioWrite(req, file, nowait);
  }

  private aioRead(req: AioKiocb, file: AioFile, nowait: boolean): void {
    const { buf, nbytes, offset } = req.iocb;
    const cached = cachedPrefixBytes(file.mapping, offset, nbytes);
    if (cached === nbytes || (nowait && cached > 0)) {
      // Everything it needs is uptodate: the read loop finishes before it returns (a
      // short read of the cached part under RWF_NOWAIT, as filemap_read returns).
      this.sys.stats.c.aio_inline++;
      this.start();
      file.read(buf, cached, offset, (err, n) => {
        this.finished();
        this.complete(req, err ? negErrno(err, 'aio read') : n);
      });
      return;
    }
    if (nowait) {
      this.sys.stats.c.aio_eagain++;
      this.complete(req, negCode('EAGAIN'));
      return;
    }
    // Needs I/O: the read loop starts it and waits on the folio wait queues; until then the
    // request is cancelable. It reads into its own buffer (see the overview).
    this.active.set(req.iocb, req);
    this.sys.stats.c.aio_queued++;
    this.start();
    const bounce = this.bounces.get(nbytes);
    file.read(bounce, nbytes, offset, (err, n) => {
      this.finished();
      // Cancelled: nothing reaches the caller's buffer.
      if (!req.done) {
        if (!err) buf.set(bounce.subarray(0, n));
        this.complete(req, err ? negErrno(err, 'aio read') : n);
      }
      this.bounces.put(bounce);
    });
  }

  private aioWrite(req: AioKiocb, file: AioFile, nowait: boolean): void {
    if (nowait) {
      this.complete(req, negCode('EOPNOTSUPP')); // ext4_buffered_write_iter: no IOCB_NOWAIT
      return;
    }
    this.start();
    file.write(req.iocb.buf, req.iocb.nbytes, req.iocb.offset).then(
      (n) => {
        this.finished();
        this.complete(req, n);
      },
      (err: unknown) => {
        this.finished();
        this.complete(req, negErrno(err, 'aio write'));
      },
    );
  }

  private start(): void {
    this.running++;
  }

  private finished(): void {
    if (--this.running === 0) for (const f of this.idle.splice(0)) f();
  }

  /** aio_complete: the event goes into the ring (dropped when the context is dead); wake reapers. */
  private complete(req: AioKiocb, res: number): void {
    if (req.done) return;
    req.done = true;
    this.active.delete(req.iocb);
    if (this.dead) return;
    this.ring.push({ data: req.iocb.data, obj: req.iocb, res, res2: 0 });
    this.feedWaiters();
  }

  /** aio_read_events_ring: move up to `max` events out of the ring, freeing their slots. */
  private reap(into: IoEvent[], max: number): void {
    const n = Math.min(max, this.ring.length);
    if (n === 0) return;
    for (const e of this.ring.splice(0, n)) into.push(e);
    this.reqsAvailable += n;
  }

  private feedWaiters(): void {
    while (this.waiters.length > 0 && this.ring.length > 0) {
      const w = this.waiters[0]!;
      this.reap(w.got, w.nr - w.got.length);
      if (w.got.length < w.minNr) return;
      this.waiters.shift();
      w.finish();
    }
  }

  /**
   * io_getevents: between minNr and nr events, oldest first. Waits until minNr have come or
   * `timeoutMs` passed (then returns what came, maybe none); undefined waits for ever, 0
   * does not wait. EINVAL for a destroyed context (unless events were reaped meanwhile).
   */
  getevents(minNr: number, nr: number, timeoutMs?: number): Promise<IoEvent[]> {
    if (this.dead) return Promise.reject(fsError('EINVAL', 'io_getevents: the context was destroyed'));
    if (!Number.isSafeInteger(minNr) || !Number.isSafeInteger(nr) || minNr < 0 || nr < 0 || minNr > nr) {
      return Promise.reject(fsError('EINVAL', `io_getevents: min_nr ${minNr}, nr ${nr}`));
    }
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) return Promise.reject(fsError('EINVAL', `io_getevents: timeout ${timeoutMs} ms`));
    const got: IoEvent[] = [];
    if (this.waiters.length === 0) this.reap(got, nr);
    if (got.length >= minNr || timeoutMs === 0) return Promise.resolve(got);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: GeteventsWaiter = {
        minNr,
        nr,
        got,
        finish: (err) => {
          if (timer !== undefined) clearTimeout(timer);
          if (err !== undefined && got.length === 0) reject(err);
          else resolve(got);
        },
      };
      this.waiters.push(w);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          w.finish();
        }, timeoutMs);
      }
    });
  }

  /**
   * io_cancel: a read still waiting for its pages completes now with res = -ECANCELED (the
   * event comes through the ring, as the kernel's -EINPROGRESS says). EINVAL when `iocb` is
   * not a cancelable request of this context (unknown, finished, or a write).
   */
  cancel(iocb: Iocb): void {
    if (this.dead) throw fsError('EINVAL', 'io_cancel: the context was destroyed');
    const req = this.active.get(iocb);
    if (req === undefined) throw fsError('EINVAL', 'io_cancel: no such request in flight that can be cancelled');
    this.sys.stats.c.aio_cancel++;
    this.complete(req, negCode('ECANCELED'));
  }

  /**
   * io_destroy (kill_ioctx): the context dies (later calls get EINVAL), gives its
   * nr_events back to aio-nr, cancels what can be cancelled, drops unreaped events, wakes
   * io_getevents callers, and resolves once every request's I/O has finished.
   */
  async destroy(): Promise<void> {
    if (this.dead) throw fsError('EINVAL', 'io_destroy: the context was destroyed already');
    this.dead = true;
    this.sys.nr -= this.maxReqs;
    for (const req of [...this.active.values()]) {
      this.sys.stats.c.aio_cancel++;
      this.complete(req, negCode('ECANCELED'));
    }
    this.ring.length = 0;
    for (const w of this.waiters.splice(0)) w.finish(fsError('EINVAL', 'io_getevents: the context was destroyed'));
    if (this.running > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}

/**
 * Buffers for reads that wait for I/O: one free list per power-of-two size from 4 KiB to
 * 128 KiB (larger reads get a buffer of their own), each holding at most BOUNCE_KEEP.
 */
class BouncePool {
  private readonly free = new Map<number, Uint8Array[]>();

  get(bytes: number): Uint8Array {
    if (bytes > BOUNCE_MAX) return new Uint8Array(bytes);
    let size = PAGE_SIZE;
    while (size < bytes) size *= 2;
    return this.free.get(size)?.pop() ?? new Uint8Array(size);
  }

  put(buf: Uint8Array): void {
    if (buf.byteLength > BOUNCE_MAX) return;
    let list = this.free.get(buf.byteLength);
    if (list === undefined) this.free.set(buf.byteLength, (list = []));
    if (list.length < BOUNCE_KEEP) list.push(buf);
  }
}

const BOUNCE_MAX = 128 << 10;
const BOUNCE_KEEP = 64;

/**
 * Bytes of [pos, pos + len) (cut at i_size) that are cached and uptodate from `pos` on,
 * without a gap; `len` when the whole request is (also when it starts at or past EOF:
 * nothing to read).
 */
export function cachedPrefixBytes(mapping: AddressSpace, pos: number, len: number): number {
  const end = Math.min(pos + len, mapping.host.size);
  if (end <= pos) return len;
  const last = Math.ceil(end / PAGE_SIZE);
  let index = Math.floor(pos / PAGE_SIZE);
  while (index < last) {
    const folio = mapping.pages.get(index);
    if (folio === undefined || (folio.flags & PG_uptodate) === 0) return Math.max(0, index * PAGE_SIZE - pos);
    index = folio.nextIndex;
  }
  return len;
}
