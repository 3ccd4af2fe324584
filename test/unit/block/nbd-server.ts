/**
 * A scripted NBD server for the client's unit tests: fixed newstyle negotiation and simple
 * replies over an in-memory disk, with knobs for every path the client must handle
 * (option refusals, the NBD_OPT_EXPORT_NAME fallback, block sizes, flags, error replies,
 * dropped connections, requests never answered, replies out of order). Written from
 * doc/proto.md, independently of src/block/nbd (it encodes the messages itself).
 */

import net from 'node:net';

export interface Req {
  type: number;
  flags: number;
  handle: bigint;
  offset: number;
  length: number;
  /** Which connection (0, 1, ...) of the server's life it came on. */
  conn: number;
}

/** What to do with a request: answer it, answer with an NBD error, close the connection, never answer, or send half a read's reply and close. */
export type Action = 'ok' | { error: number } | 'close' | 'hang' | 'half';

export interface ScriptOpts {
  size?: number;
  /** Handshake flags (default FIXED_NEWSTYLE | NO_ZEROES). */
  hsFlags?: number;
  /** Transmission flags (default HAS_FLAGS | SEND_FLUSH | CAN_MULTI_CONN). */
  flags?: number;
  /** The export's name (default ''). Other names: NBD_REP_ERR_UNKNOWN (or a close after EXPORT_NAME). */
  exportName?: string;
  /** Answer NBD_OPT_GO with this error reply instead (e.g. 0x80000001 unsupported). */
  goError?: number;
  /** NBD_INFO_BLOCK_SIZE to send (min, preferred, max); none by default. */
  blockSize?: [number, number, number];
  /** Send garbage instead of the greeting. */
  garbage?: boolean;
  /** Per request; default 'ok'. */
  onRequest?: (req: Req) => Action;
  /** Hold replies and send them in reverse order once this many are pending. */
  reverseBatch?: number;
}

export class ScriptedServer {
  readonly disk: Buffer;
  readonly requests: Req[] = [];
  /** Client flags and NBD_OPT_GO payloads seen. */
  readonly clientFlags: number[] = [];
  readonly goNames: string[] = [];
  readonly goInfos: number[][] = [];
  connections = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(readonly opts: ScriptOpts = {}) {
    this.disk = Buffer.alloc(opts.size ?? 1 << 20);
    this.server = net.createServer((s) => this.serve(s));
  }

  static async start(opts: ScriptOpts = {}): Promise<ScriptedServer> {
    const s = new ScriptedServer(opts);
    await s.listen(0);
    return s;
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => {
      this.port = (this.server.address() as net.AddressInfo).port;
      resolve();
    }));
  }

  get url(): string {
    return `nbd://127.0.0.1:${this.port}/${this.opts.exportName ?? ''}`;
  }

  /** Close every connection (a server crash); keep listening. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Stop listening and close every connection. */
  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(sock: net.Socket): void {
    const conn = this.connections++;
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    const o = this.opts;
    let buf = Buffer.alloc(0);
    let phase: 'flags' | 'options' | 'transmission' = 'flags';
    const held: Buffer[] = [];
    const send = (b: Buffer): void => {
      if (o.reverseBatch) {
        held.push(b);
        if (held.length >= o.reverseBatch) while (held.length) sock.write(held.pop()!);
      } else sock.write(b);
    };
    if (o.garbage) {
      sock.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
      return;
    }
    const hello = Buffer.alloc(18);
    hello.write('NBDMAGIC', 0, 'latin1');
    hello.write('IHAVEOPT', 8, 'latin1');
    hello.writeUInt16BE(o.hsFlags ?? 3, 16);
    sock.write(hello);
    const flags = o.flags ?? (1 | 4 | 256);
    const optReply = (option: number, type: number, data: Buffer = Buffer.alloc(0)): void => {
      const h = Buffer.alloc(20);
      h.writeBigUInt64BE(0x3e889045565a9n, 0);
      h.writeUInt32BE(option, 8);
      h.writeUInt32BE(type >>> 0, 12);
      h.writeUInt32BE(data.length, 16);
      sock.write(Buffer.concat([h, data]));
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (phase === 'flags') {
          if (buf.length < 4) return;
          this.clientFlags.push(buf.readUInt32BE(0));
          buf = buf.subarray(4);
          phase = 'options';
        } else if (phase === 'options') {
          if (buf.length < 16) return;
          const len = buf.readUInt32BE(12);
          if (buf.length < 16 + len) return;
          const option = buf.readUInt32BE(8);
          const data = buf.subarray(16, 16 + len);
          buf = buf.subarray(16 + len);
          const wanted = o.exportName ?? '';
          if (option === 7) {
            const nameLen = data.readUInt32BE(0);
            const name = data.subarray(4, 4 + nameLen).toString('utf8');
            const n = data.readUInt16BE(4 + nameLen);
            this.goNames.push(name);
            this.goInfos.push(Array.from({ length: n }, (_, i) => data.readUInt16BE(6 + nameLen + 2 * i)));
            if (o.goError !== undefined) optReply(7, o.goError, Buffer.from('scripted refusal'));
            else if (name !== wanted) optReply(7, 0x80000006, Buffer.from(`no export ${name}`));
            else {
              const ex = Buffer.alloc(12);
              ex.writeUInt16BE(0, 0);
              ex.writeBigUInt64BE(BigInt(this.disk.length), 2);
              ex.writeUInt16BE(flags, 10);
              optReply(7, 3, ex);
              if (o.blockSize) {
                const bs = Buffer.alloc(14);
                bs.writeUInt16BE(3, 0);
                o.blockSize.forEach((v, i) => bs.writeUInt32BE(v, 2 + 4 * i));
                optReply(7, 3, bs);
              }
              optReply(7, 1);
              phase = 'transmission';
            }
          } else if (option === 1) {
            if (data.toString('utf8') !== wanted) return void sock.destroy();
            const r = Buffer.alloc((o.hsFlags ?? 3) & 2 ? 10 : 134);
            r.writeBigUInt64BE(BigInt(this.disk.length), 0);
            r.writeUInt16BE(flags, 8);
            sock.write(r);
            phase = 'transmission';
          } else optReply(option, 0x80000001);
        } else {
          if (buf.length < 28) return;
          const type = buf.readUInt16BE(6);
          const length = buf.readUInt32BE(24);
          const total = 28 + (type === 1 ? length : 0);
          if (buf.length < total) return;
          const req: Req = { type, flags: buf.readUInt16BE(4), handle: buf.readBigUInt64BE(8), offset: Number(buf.readBigUInt64BE(16)), length, conn };
          const payload = Buffer.from(buf.subarray(28, total));
          buf = buf.subarray(total);
          this.requests.push(req);
          if (type === 2) return void sock.end();
          const action = o.onRequest?.(req) ?? 'ok';
          if (action === 'close') return void sock.destroy();
          if (action === 'hang') continue;
          const h = Buffer.alloc(16);
          h.writeUInt32BE(0x67446698, 0);
          h.writeBigUInt64BE(req.handle, 8);
          if (typeof action === 'object') {
            h.writeUInt32BE(action.error, 4);
            send(h);
            continue;
          }
          if (action === 'half') {
            sock.write(Buffer.concat([h, this.disk.subarray(req.offset, req.offset + length / 2)]));
            return void sock.destroy();
          }
          if (type === 1) payload.copy(this.disk, req.offset);
          send(type === 0 ? Buffer.concat([h, this.disk.subarray(req.offset, req.offset + length)]) : h);
        }
      }
    });
  }
}
