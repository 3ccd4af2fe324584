/**
 * One NBD connection in the transmission phase: requests go out with a fresh handle
 * each, simple replies come back in any order and are matched by handle; a read's
 * payload is copied straight into the caller's views (page frames).
 *
 *   submit(READ, off, len, views) --> [header] ........ reply(handle, error=0) + len bytes --> views
 *   submit(WRITE, off, len, views) -> [header][views] .. reply(handle, error)
 *
 * The socket reads into a buffer of ours (net's `onread`): a 64 KiB scratch buffer for
 * reply headers, and, while a read's payload is arriving, the caller's view itself, so
 * the payload lands in the page frame without a copy (what comes along with a header in
 * the scratch buffer is copied).
 *
 * Failures are of two kinds, told apart by NbdError.kind:
 *   'server': the server answered with an error (EIO, ENOSPC, ...): the request is done.
 *   'lost':   the connection died (closed, reset, protocol violation, or a request got no
 *             reply within timeoutMs): every request in flight on it fails with 'lost';
 *             the device decides whether to retry them on a new connection.
 */

import net, { type Socket } from 'node:net';
import { negotiate, NbdNegotiationError, SocketReader } from './handshake.js';
import {
  encodeRequest,
  NBD_CMD_DISC,
  NBD_CMD_READ,
  NBD_SIMPLE_REPLY_MAGIC,
  nbdErrorName,
  SIMPLE_REPLY_BYTES,
  type ExportInfo,
  type NbdCommand,
  type NbdUrl,
} from './proto.js';

/** The socket's read buffer outside read payloads. */
const SCRATCH_BYTES = 64 * 1024;

export class NbdError extends Error {
  constructor(
    message: string,
    readonly kind: 'server' | 'lost',
  ) {
    super(message);
  }
}

interface InFlight {
  type: NbdCommand;
  /** Views a read's payload is copied into (in order). */
  views: Uint8Array[];
  length: number;
  sentMs: number;
  resolve: () => void;
  reject: (err: NbdError) => void;
}

export interface ConnectOptions {
  /** Connect + handshake must finish within this (ms). */
  connectTimeoutMs: number;
  /** A request without a reply for this long kills the connection (ms). */
  timeoutMs: number;
  now?: () => number;
}

/** Open a TCP connection to `url` and negotiate its export. Rejects with NbdNegotiationError or a socket error. */
export async function connectNbd(url: NbdUrl, opts: ConnectOptions): Promise<NbdConnection> {
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  // Until the connection exists: everything into scratch, copied to the handshake's reader.
  let next: () => Uint8Array = () => scratch;
  let sink: (n: number, buf: Uint8Array) => void = (n) => reader.push(Buffer.from(scratch.subarray(0, n)));
  const sock = net.connect({
    host: url.host,
    port: url.port,
    noDelay: true,
    onread: {
      buffer: () => next(),
      callback: (n: number, buf: Uint8Array): boolean => {
        sink(n, buf);
        return true; // keep reading
      },
    },
  });
  const reader = new SocketReader(sock);
  const timer = setTimeout(() => sock.destroy(new Error(`no NBD handshake from ${url.host}:${url.port} within ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
  try {
    const info = await negotiate(sock, reader, url.exportName);
    const conn = new NbdConnection(sock, info, reader.detach(), scratch, opts);
    next = () => conn.nextReadBuffer();
    sink = (n, buf) => conn.onRead(n, buf);
    return conn;
  } catch (err) {
    reader.detach();
    sock.destroy();
    throw err instanceof NbdNegotiationError ? err : new NbdNegotiationError(String((err as Error).message ?? err), 'closed');
  } finally {
    clearTimeout(timer);
  }
}

export class NbdConnection {
  /** Requests sent and not answered, by handle; insertion order = oldest first. */
  private readonly inFlight = new Map<bigint, InFlight>();
  private nextHandle = 1n;
  /** Received bytes not yet parsed (part of a reply header). */
  private pending: Buffer = Buffer.alloc(0);
  /** The read whose payload is arriving, and how much of it is still to come. */
  private payload: { handle: bigint; req: InFlight; views: Uint8Array[]; left: number } | undefined;
  private dead: NbdError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Called once when the connection dies (not after a clean disconnect()). */
  onLost: (err: NbdError) => void = () => {};

  constructor(
    private readonly sock: Socket,
    readonly info: ExportInfo,
    leftover: Buffer,
    private readonly scratch: Buffer,
    private readonly opts: ConnectOptions,
  ) {
    this.now = opts.now ?? (() => performance.now());
    sock.on('error', (err) => this.fail(`connection error: ${err.message}`));
    sock.on('close', () => this.fail('the server closed the connection'));
    if (leftover.length > 0) this.receive(leftover);
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Send one command. `views` are the data of a write, or where a read's data goes;
   * `length` is their total. Resolves on a successful reply; rejects with NbdError.
   */
  submit(type: NbdCommand, cmdFlags: number, offset: number, length: number, views: Uint8Array[]): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const handle = this.nextHandle++;
      this.inFlight.set(handle, { type, views, length, sentMs: this.now(), resolve, reject });
      this.sock.cork();
      this.sock.write(encodeRequest(type, cmdFlags, handle, offset, length));
      if (type !== NBD_CMD_READ) for (const v of views) this.sock.write(v);
      this.sock.uncork();
      this.armTimer();
    });
  }

  /** NBD_CMD_DISC and a clean close (the server finishes what it has). In-flight requests fail 'lost'. */
  disconnect(): Promise<void> {
    if (this.dead) return Promise.resolve();
    this.sock.write(encodeRequest(NBD_CMD_DISC, 0, 0n, 0, 0));
    const closed = new Promise<void>((resolve) => this.sock.once('close', () => resolve()));
    this.sock.end();
    this.fail('disconnected', { quiet: true });
    return closed;
  }

  /** Kill the connection now (timeouts, protocol errors, close without DISC). */
  destroy(reason: string): void {
    this.fail(reason);
  }

  /** Where the socket's next read goes: the payload's next view, or scratch. */
  nextReadBuffer(): Uint8Array {
    const p = this.payload;
    return p && !this.dead && p.views.length > 0 ? p.views[0]! : this.scratch;
  }

  /** `n` bytes were read into `buf` (what nextReadBuffer returned before the read). */
  onRead(n: number, buf: Uint8Array): void {
    if (this.dead) return;
    const p = this.payload;
    if (buf === this.scratch || !p || p.views[0] !== buf) {
      this.receive(this.scratch.subarray(0, n));
      return;
    }
    // Read straight into the payload's view.
    p.left -= n;
    if (n === buf.byteLength) p.views.shift();
    else p.views[0] = buf.subarray(n);
    if (p.left === 0) this.endPayload(p);
  }

  private receive(b: Buffer): void {
    let off = 0;
    while (off < b.length && !this.dead) {
      if (this.payload) {
        off += this.copyPayload(b, off);
        continue;
      }
      const need = SIMPLE_REPLY_BYTES - this.pending.length;
      const take = Math.min(need, b.length - off);
      this.pending = this.pending.length === 0 && take === SIMPLE_REPLY_BYTES ? b.subarray(off, off + take) : Buffer.concat([this.pending, b.subarray(off, off + take)]);
      off += take;
      if (this.pending.length === SIMPLE_REPLY_BYTES) {
        const h = this.pending;
        this.pending = Buffer.alloc(0);
        this.reply(h);
      }
    }
  }

  /** A complete 16-byte simple reply header. */
  private reply(h: Buffer): void {
    const magic = h.readUInt32BE(0);
    if (magic !== NBD_SIMPLE_REPLY_MAGIC) return this.fail(`protocol error: reply magic 0x${magic.toString(16)}`);
    const error = h.readUInt32BE(4);
    const handle = h.readBigUInt64BE(8);
    const req = this.inFlight.get(handle);
    if (!req) return this.fail(`protocol error: reply for unknown handle ${handle}`);
    if (error === 0 && req.type === NBD_CMD_READ && req.length > 0) {
      // A copy of the view list: it is consumed here, and a retry after a lost connection needs it whole.
      this.payload = { handle, req, views: req.views.slice(), left: req.length };
      return;
    }
    this.inFlight.delete(handle);
    if (error === 0) req.resolve();
    else req.reject(new NbdError(`server error ${nbdErrorName(error)}`, 'server'));
  }

  /** Copy read payload from `b` at `off` into the current read's views; returns bytes used. */
  private copyPayload(b: Buffer, off: number): number {
    const p = this.payload!;
    let used = 0;
    while (p.left > 0 && off + used < b.length) {
      const v = p.views[0]!;
      const n = Math.min(v.byteLength, b.length - off - used);
      v.set(b.subarray(off + used, off + used + n));
      used += n;
      p.left -= n;
      if (n === v.byteLength) p.views.shift();
      else p.views[0] = v.subarray(n);
    }
    if (p.left === 0) this.endPayload(p);
    return used;
  }

  private endPayload(p: NonNullable<NbdConnection['payload']>): void {
    this.payload = undefined;
    this.inFlight.delete(p.handle);
    p.req.resolve();
  }

  /** One timer per connection, due when the oldest request times out. */
  private armTimer(): void {
    if (this.timer || this.dead) return;
    const oldest = this.inFlight.values().next().value as InFlight | undefined;
    if (!oldest) return;
    const wait = Math.max(0, oldest.sentMs + this.opts.timeoutMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const first = this.inFlight.values().next().value as InFlight | undefined;
      if (first && this.now() - first.sentMs >= this.opts.timeoutMs) {
        this.fail(`no reply within ${this.opts.timeoutMs} ms`);
      } else this.armTimer();
    }, wait);
    this.timer.unref();
  }

  private fail(reason: string, opts: { quiet?: boolean } = {}): void {
    if (this.dead) return;
    const err = new NbdError(reason, 'lost');
    this.dead = err;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!opts.quiet) this.sock.destroy();
    const reqs = [...this.inFlight.values()];
    this.inFlight.clear();
    this.payload = undefined;
    for (const r of reqs) r.reject(err);
    if (!opts.quiet) this.onLost(err);
  }
}
