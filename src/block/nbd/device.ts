/**
 * NbdDevice: a BlockDevice over one or more NBD connections to the same export.
 *
 *   read/write(sector, views) -> cut at maxTransferBytes -> commands -> least-busy connection
 *   flush()                   -> NBD_CMD_FLUSH on one connection (multi-conn: covers all)
 *
 *   state:  up --(a connection is lost)--> reconnecting --(all connected)--> up
 *                                              |  (reconnectMs passed)
 *                                              v
 *                                            down: waiting commands fail EIO; the next
 *                                                  command starts a new reconnect
 *
 * A lost connection (server restart, reset, no reply within timeoutMs) closes every
 * connection; the commands in flight wait and are sent again once reconnected (NBD reads
 * and writes are idempotent), at most MAX_ATTEMPTS times each. An error answered by the
 * server (EIO from nbdkit's error filter) fails the command at once, without a retry.
 * Every failure reaches the block layer as FsError EIO and counts in disk_errors.
 *
 * Several connections only when the server sets NBD_FLAG_CAN_MULTI_CONN (otherwise a
 * flush on one connection need not cover writes sent on another): without it, one
 * connection and a log line saying why.
 */

import { fsError } from '../../errors.js';
import { dbg } from '../../stats/debug.js';
import type { Stats } from '../../stats/registry.js';
import { SECTOR_SHIFT, SECTOR_SIZE, type Sector } from '../bio.js';
import type { BlockDevice, DeviceLimits } from '../blockdev.js';
import { NbdNegotiationError } from './handshake.js';
import {
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_WRITE,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_FLUSH,
  parseNbdUrl,
  type ExportInfo,
  type NbdUrl,
} from './proto.js';
import { connectNbd, NbdError, type NbdConnection } from './transport.js';
import type { LayerLog } from '../../stats/kmsg.js';

/** How often one command is sent before it fails with EIO (each lost connection is one). */
export const MAX_ATTEMPTS = 4;

export interface NbdDeviceOptions {
  stats: Stats;
  log?: LayerLog;
  /** Connections to open (1..16); more than 1 only if the server allows multi-conn. Default 1. */
  connections?: number;
  /** A command without a reply for this long kills its connection (ms). Default 30 000. */
  timeoutMs?: number;
  /** How long to keep reconnecting before waiting commands fail with EIO (ms). Default 30 000. */
  reconnectMs?: number;
  /** The device must be writable (mkfs, mount); default true. */
  writable?: boolean;
}

interface Command {
  type: typeof NBD_CMD_READ | typeof NBD_CMD_WRITE | typeof NBD_CMD_FLUSH;
  offset: number;
  length: number;
  views: Uint8Array[];
  attempts: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

type State = { kind: 'up'; conns: NbdConnection[] } | { kind: 'reconnecting'; since: number } | { kind: 'down' } | { kind: 'closed' };

/** Why an NBD device could not be opened: `unreachable`, `no-export`, or `unusable` (too small, read-only, ...). */
export class NbdOpenError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'no-export' | 'unusable',
  ) {
    super(message);
  }
}

export class NbdDevice implements BlockDevice {
  readonly nrSectors: number;
  readonly limits: DeviceLimits;
  readonly canFlush: boolean;
  /** Bytes per command at most: maxPayload rounded down to the alignment. */
  private readonly chunk: number;
  private state: State;
  /** Commands waiting for a connection (while reconnecting). */
  private waiting: Command[] = [];
  /** Commands accepted and not finished (waiting, in flight or being retried); close() waits for them. */
  private pending = 0;
  private idleWaiters: (() => void)[] = [];
  /** A reconnect loop is running (at most one). */
  private reconnecting = false;
  private readonly log: LayerLog;

  private constructor(
    readonly description: string,
    private readonly url: NbdUrl,
    readonly info: ExportInfo,
    conns: NbdConnection[],
    private readonly stats: Stats,
    private readonly opts: Required<Omit<NbdDeviceOptions, 'stats' | 'log'>> & { log: LayerLog },
  ) {
    this.log = opts.log;
    this.nrSectors = Math.floor(info.sizeBytes / SECTOR_SIZE);
    const align = Math.max(info.minBlock, SECTOR_SIZE);
    this.chunk = Math.floor(Math.min(info.maxPayload, 1 << 30) / align) * align;
    this.limits = { logicalBlockSize: align, physicalBlockSize: Math.max(info.preferredBlock, align), maxTransferBytes: this.chunk };
    this.canFlush = (info.flags & NBD_FLAG_SEND_FLUSH) !== 0;
    this.state = { kind: 'up', conns };
    for (const c of conns) c.onLost = (err) => this.lost(err.message);
  }

  /**
   * Connect to `nbd://HOST[:PORT][/EXPORT]`. Rejects with NbdOpenError: 'unreachable'
   * (refused, no answer, not NBD), 'no-export', 'unusable' (read-only when writable is
   * wanted, a block size above 4096 or a transfer limit below it).
   */
  static async open(urlText: string, o: NbdDeviceOptions): Promise<NbdDevice> {
    const url = parseNbdUrl(urlText);
    const opts = {
      connections: o.connections ?? 1,
      timeoutMs: o.timeoutMs ?? 30_000,
      reconnectMs: o.reconnectMs ?? 30_000,
      writable: o.writable ?? true,
      log: o.log ?? (() => {}),
    };
    const where = `${urlText}`;
    const first = await connectOrExplain(url, where, opts.timeoutMs);
    const info = first.info;
    const close = (): Promise<void> => first.disconnect();
    if (opts.writable && info.flags & NBD_FLAG_READ_ONLY) {
      await close();
      throw new NbdOpenError(`${where}: the export is read-only`, 'unusable');
    }
    if (info.minBlock > 4096 || Math.min(info.maxPayload, 1 << 30) < 4096) {
      await close();
      throw new NbdOpenError(`${where}: block sizes min ${info.minBlock} / max ${info.maxPayload} do not allow 4 KiB pages`, 'unusable');
    }
    let n = opts.connections;
    if (n > 1 && !(info.flags & NBD_FLAG_CAN_MULTI_CONN)) {
      opts.log(`${where}: the server does not allow multi-conn (NBD_FLAG_CAN_MULTI_CONN): using 1 connection, not ${n}`, { level: 'warn', subsystem: 'nbd' });
      n = 1;
    }
    const conns = [first];
    try {
      while (conns.length < n) conns.push(await connectOrExplain(url, where, opts.timeoutMs));
    } catch (err) {
      await Promise.all(conns.map((c) => c.disconnect()));
      throw err;
    }
    const dev = new NbdDevice(where, url, info, conns, o.stats, { ...opts, connections: n });
    dbg.block('connected to %s: %d bytes, flags 0x%s, block sizes %d/%d/%d, %d connection(s), via %s', where, info.sizeBytes, info.flags.toString(16), info.minBlock, info.preferredBlock, info.maxPayload, n, info.via);
    if (!dev.canFlush) {
      opts.log(`${where}: WARNING: the server cannot flush (no NBD_FLAG_SEND_FLUSH): writes are not guaranteed durable, fsync will fail with EIO`, { level: 'warn', subsystem: 'nbd' });
    }
    o.stats.gauge('direct_io', () => 1); // no client-side cache: every read goes to the server
    return dev;
  }

  get connectionCount(): number {
    return this.state.kind === 'up' ? this.state.conns.length : 0;
  }

  read(sector: Sector, segments: Uint8Array[]): Promise<void> {
    return this.io(NBD_CMD_READ, sector, segments);
  }

  write(sector: Sector, segments: Uint8Array[]): Promise<void> {
    return this.io(NBD_CMD_WRITE, sector, segments);
  }

  flush(): Promise<void> {
    if (!this.canFlush) {
      this.stats.c.disk_errors++;
      return Promise.reject(fsError('EIO', `${this.description}: the server cannot flush; durability is not guaranteed`));
    }
    this.stats.c.disk_flushes++;
    return this.command(NBD_CMD_FLUSH, 0, 0, []);
  }

  /** Wait for commands in progress, then NBD_CMD_DISC on every connection. */
  async close(): Promise<void> {
    if (this.state.kind === 'closed') return;
    while (this.pending > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const st = this.state;
    this.state = { kind: 'closed' };
    if (st.kind === 'up') await Promise.all(st.conns.map((c) => c.disconnect()));
  }

  private async io(type: typeof NBD_CMD_READ | typeof NBD_CMD_WRITE, sector: Sector, segments: Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const s of segments) bytes += s.byteLength;
    const op = type === NBD_CMD_READ ? 'read' : 'write';
    if (!Number.isSafeInteger(sector) || sector < 0) throw fsError('EINVAL', `${op}: bad sector ${sector}`);
    if (bytes === 0 || bytes % this.limits.logicalBlockSize !== 0 || (sector * SECTOR_SIZE) % this.limits.logicalBlockSize !== 0) {
      throw fsError('EINVAL', `${op}: ${bytes} bytes at sector ${sector} is not aligned to ${this.limits.logicalBlockSize}`);
    }
    if (sector + (bytes >> SECTOR_SHIFT) > this.nrSectors) throw fsError('EINVAL', `${op}: beyond the device end ${this.nrSectors}`);
    const parts = cutViews(segments, this.chunk);
    let pos = sector * SECTOR_SIZE;
    const all: Promise<void>[] = [];
    for (const p of parts) {
      all.push(this.command(type, pos, p.bytes, p.views));
      pos += p.bytes;
    }
    const results = await Promise.allSettled(all);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private command(type: Command['type'], offset: number, length: number, views: Uint8Array[]): Promise<void> {
    if (this.state.kind === 'closed') return Promise.reject(fsError('EIO', `${this.description} is closed`));
    this.pending++;
    return new Promise<void>((resolve, reject) => {
      const cmd: Command = { type, offset, length, views, attempts: 0, resolve, reject };
      this.dispatch(cmd);
    }).finally(() => this.ioDone());
  }

  /** Send on the least busy connection, or wait for a reconnect. */
  private dispatch(cmd: Command): void {
    const st = this.state;
    if (st.kind !== 'up') {
      this.waiting.push(cmd);
      if (st.kind === 'down') void this.reconnect();
      return;
    }
    if (st.conns.some((c) => !c.alive)) {
      // Died before its loss was reported (e.g. between a reconnect and its onLost hook).
      this.lost('a connection closed');
      this.dispatch(cmd);
      return;
    }
    let conn = st.conns[0]!;
    for (const c of st.conns) if (c.inFlightCount() < conn.inFlightCount()) conn = c;
    cmd.attempts++;
    const { c } = this.stats;
    if (cmd.type === NBD_CMD_READ) c.disk_read_ios++;
    else if (cmd.type === NBD_CMD_WRITE) c.disk_write_ios++;
    conn.submit(cmd.type, 0, cmd.offset, cmd.length, cmd.views).then(
      () => {
        if (cmd.type === NBD_CMD_READ) c.disk_read_bytes += cmd.length;
        else if (cmd.type === NBD_CMD_WRITE) c.disk_write_bytes += cmd.length;
        cmd.resolve();
      },
      (err: NbdError) => {
        if (err.kind === 'lost' && cmd.attempts < MAX_ATTEMPTS && this.state.kind !== 'closed') {
          c.nbd_retries++;
          this.dispatch(cmd);
          return;
        }
        this.failCommand(cmd, err.kind === 'lost' && cmd.attempts >= MAX_ATTEMPTS ? `${err.message} (${cmd.attempts} attempts)` : err.message);
      },
    );
  }

  private failCommand(cmd: Command, why: string): void {
    this.stats.c.disk_errors++;
    const what = cmd.type === NBD_CMD_READ ? 'read' : cmd.type === NBD_CMD_WRITE ? 'write' : 'flush';
    cmd.reject(fsError('EIO', `${this.description}: ${what} of ${cmd.length} bytes at ${cmd.offset}: ${why}`));
  }

  /** A connection died: drop them all and reconnect (their commands come back through dispatch). */
  private lost(reason: string): void {
    const st = this.state;
    if (st.kind !== 'up') return;
    this.log(`${this.description}: connection lost (${reason}); reconnecting for up to ${this.opts.reconnectMs} ms`, { level: 'err', subsystem: 'nbd' });
    this.state = { kind: 'reconnecting', since: performance.now() };
    for (const conn of st.conns) conn.destroy('another connection of the device was lost');
    void this.reconnect();
  }

  /** Try to connect every connection again, with backoff, until reconnectMs has passed. */
  private async reconnect(): Promise<void> {
    if (this.state.kind === 'down') this.state = { kind: 'reconnecting', since: performance.now() };
    const st = this.state;
    if (st.kind !== 'reconnecting') return;
    if (this.reconnecting) return;
    this.reconnecting = true;
    let delay = 50;
    let why = '';
    try {
      while (performance.now() - st.since < this.opts.reconnectMs) {
        const conns: NbdConnection[] = [];
        try {
          while (conns.length < this.opts.connections) {
            const left = Math.max(100, this.opts.reconnectMs - (performance.now() - st.since));
            conns.push(await connectNbd(this.url, { connectTimeoutMs: Math.min(left, this.opts.timeoutMs), timeoutMs: this.opts.timeoutMs }));
          }
          const bad = this.incompatible(conns[0]!.info);
          if (bad) throw new Error(bad);
        } catch (err) {
          for (const c of conns) void c.disconnect();
          why = (err as Error).message;
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 1000);
          continue;
        }
        if ((this.state as State).kind === 'closed') {
          for (const c of conns) void c.disconnect();
          return;
        }
        this.stats.c.nbd_reconnects++;
        this.log(`${this.description}: reconnected; resending ${this.waiting.length} command(s)`, { level: 'notice', subsystem: 'nbd' });
        for (const c of conns) c.onLost = (err) => this.lost(err.message);
        this.state = { kind: 'up', conns };
        const waiting = this.waiting;
        this.waiting = [];
        for (const cmd of waiting) this.dispatch(cmd);
        return;
      }
      this.log(`${this.description}: the server is gone (${why}); failing ${this.waiting.length} command(s) with EIO`, { level: 'err', subsystem: 'nbd' });
      this.state = { kind: 'down' };
      const waiting = this.waiting;
      this.waiting = [];
      for (const cmd of waiting) this.failCommand(cmd, `the server is unreachable (${why})`);
    } finally {
      this.reconnecting = false;
    }
  }

  /** A reconnected export must still hold the device. */
  private incompatible(info: ExportInfo): string | undefined {
    if (info.sizeBytes < this.nrSectors * SECTOR_SIZE) return `the export shrank to ${info.sizeBytes} bytes`;
    if (info.flags & NBD_FLAG_READ_ONLY && this.opts.writable) return 'the export is read-only now';
    return undefined;
  }

  private ioDone(): void {
    if (--this.pending === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/** Connect once; a failure becomes an NbdOpenError in one line. */
async function connectOrExplain(url: NbdUrl, where: string, timeoutMs: number): Promise<NbdConnection> {
  try {
    return await connectNbd(url, { connectTimeoutMs: Math.min(timeoutMs, 10_000), timeoutMs });
  } catch (err) {
    if (err instanceof NbdNegotiationError && err.kind === 'no-export') throw new NbdOpenError(`${where}: ${err.message}`, 'no-export');
    throw new NbdOpenError(`cannot reach ${where}: ${(err as Error).message}`, 'unreachable');
  }
}

/** Cut a list of views into runs of at most `max` bytes (subarray, no copy). */
export function cutViews(views: readonly Uint8Array[], max: number): { bytes: number; views: Uint8Array[] }[] {
  const out: { bytes: number; views: Uint8Array[] }[] = [];
  let cur = { bytes: 0, views: [] as Uint8Array[] };
  for (const v of views) {
    let done = 0;
    while (done < v.byteLength) {
      const n = Math.min(v.byteLength - done, max - cur.bytes);
      cur.views.push(n === v.byteLength ? v : v.subarray(done, done + n));
      cur.bytes += n;
      done += n;
      if (cur.bytes === max) {
        out.push(cur);
        cur = { bytes: 0, views: [] };
      }
    }
  }
  if (cur.bytes > 0) out.push(cur);
  return out;
}
