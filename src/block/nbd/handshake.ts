/**
 * The NBD negotiation phase (proto.md, "Fixed newstyle negotiation"), client side:
 *
 *   S: NBDMAGIC IHAVEOPT flags        C: client flags (FIXED_NEWSTYLE [| NO_ZEROES])
 *   C: NBD_OPT_GO(name, [NBD_INFO_BLOCK_SIZE])
 *   S: NBD_REP_INFO(EXPORT: size, flags)  [NBD_REP_INFO(BLOCK_SIZE: min, preferred, max)]  NBD_REP_ACK
 *        or an error reply: NBD_REP_ERR_UNKNOWN (no such export), _POLICY, _TLS_REQD, ...
 *        or NBD_REP_ERR_UNSUP (an old server): fall back to
 *   C: NBD_OPT_EXPORT_NAME(name)      S: size, flags [, 124 zero bytes]   (or a close: no such export)
 *
 * Then the connection is in the transmission phase. Block-size limits default as the spec
 * says when the server sends none. Errors are NbdNegotiationError with the reason in words.
 */

import type { Socket } from 'node:net';
import {
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MIN_BLOCK,
  DEFAULT_PREFERRED_BLOCK,
  encodeGo,
  encodeOption,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_IHAVEOPT,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_MAGIC,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_REPLY_MAGIC,
  NBD_REP_ACK,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_FLAG_ERROR,
  NBD_REP_INFO,
  OPT_REPLY_HEADER_BYTES,
  repErrorName,
  type ExportInfo,
} from './proto.js';

export class NbdNegotiationError extends Error {
  constructor(
    message: string,
    /** 'no-export': the export name is not known to the server; 'refused': another option error; 'protocol': not NBD or broken. */
    readonly kind: 'no-export' | 'refused' | 'protocol' | 'closed',
  ) {
    super(message);
  }
}

/**
 * Reads exact byte counts from a socket during negotiation; the bytes come from push()
 * (the socket reads into a buffer of ours, transport.ts). After it, `detach()` hands the
 * bytes already received (none, for a well-behaved server) to the transport.
 */
export class SocketReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;
  /** Bytes received (the reader keeps `b`: pass a copy of a reused buffer). */
  push(b: Buffer): void {
    this.chunks.push(b);
    this.have += b.length;
    this.wake();
  }
  private readonly onEnd = (): void => {
    this.ended ??= new NbdNegotiationError('the server closed the connection during the handshake', 'closed');
    this.wake();
  };
  private readonly onError = (err: Error): void => {
    this.ended ??= new NbdNegotiationError(err.message, 'closed');
    this.wake();
  };

  constructor(private readonly sock: Socket) {
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
    sock.on('error', this.onError);
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.wake();
    });
  }

  /** Stop listening; returns the bytes received and not read. */
  detach(): Buffer {
    this.sock.off('end', this.onEnd);
    this.sock.off('close', this.onEnd);
    this.sock.off('error', this.onError);
    return Buffer.concat(this.chunks);
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.have >= w.n) {
      const all = Buffer.concat(this.chunks);
      this.chunks = all.length > w.n ? [all.subarray(w.n)] : [];
      this.have -= w.n;
      this.waiter = undefined;
      w.resolve(all.subarray(0, w.n));
    } else if (this.ended) {
      this.waiter = undefined;
      w.reject(this.ended);
    }
  }
}

/** Run the negotiation on a connected socket; resolves in the transmission phase. */
export async function negotiate(sock: Socket, reader: SocketReader, exportName: string): Promise<ExportInfo> {
  const hello = await reader.read(18);
  if (hello.readBigUInt64BE(0) !== NBD_MAGIC) throw new NbdNegotiationError('not an NBD server (no NBDMAGIC greeting)', 'protocol');
  if (hello.readBigUInt64BE(8) !== NBD_IHAVEOPT) throw new NbdNegotiationError('the server speaks the oldstyle protocol; only fixed newstyle is supported', 'protocol');
  const hsFlags = hello.readUInt16BE(16);
  if (!(hsFlags & NBD_FLAG_FIXED_NEWSTYLE)) throw new NbdNegotiationError('the server does not offer fixed newstyle negotiation', 'protocol');
  const noZeroes = (hsFlags & NBD_FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? NBD_FLAG_C_NO_ZEROES : 0));
  sock.write(clientFlags);

  sock.write(encodeOption(NBD_OPT_GO, encodeGo(exportName, [NBD_INFO_BLOCK_SIZE])));
  let size: number | undefined;
  let flags = 0;
  let minBlock = DEFAULT_MIN_BLOCK;
  let preferredBlock = DEFAULT_PREFERRED_BLOCK;
  let maxPayload = DEFAULT_MAX_PAYLOAD;
  for (;;) {
    const h = await reader.read(OPT_REPLY_HEADER_BYTES);
    if (h.readBigUInt64BE(0) !== NBD_OPT_REPLY_MAGIC) throw new NbdNegotiationError('bad option reply magic', 'protocol');
    const option = h.readUInt32BE(8);
    const type = h.readUInt32BE(12);
    const len = h.readUInt32BE(16);
    if (option !== NBD_OPT_GO) throw new NbdNegotiationError(`reply to option ${option}, expected ${NBD_OPT_GO} (NBD_OPT_GO)`, 'protocol');
    if (len > 1 << 20) throw new NbdNegotiationError(`option reply of ${len} bytes`, 'protocol');
    const data = len > 0 ? await reader.read(len) : Buffer.alloc(0);
    if (type === NBD_REP_ACK) break;
    if (type === NBD_REP_ERR_UNSUP) return exportNameFallback(sock, reader, exportName, noZeroes);
    if (type & NBD_REP_FLAG_ERROR) {
      const text = data.length > 0 ? `: ${data.toString('utf8')}` : '';
      const what = `export '${exportName}': ${repErrorName(type)}${text}`;
      throw new NbdNegotiationError(what, type === NBD_REP_ERR_UNKNOWN ? 'no-export' : 'refused');
    }
    if (type !== NBD_REP_INFO || data.length < 2) continue; // other replies: ignored, as the spec allows
    const info = data.readUInt16BE(0);
    if (info === NBD_INFO_EXPORT && data.length >= 12) {
      size = Number(data.readBigUInt64BE(2));
      flags = data.readUInt16BE(10);
    } else if (info === NBD_INFO_BLOCK_SIZE && data.length >= 14) {
      minBlock = data.readUInt32BE(2);
      preferredBlock = data.readUInt32BE(6);
      maxPayload = data.readUInt32BE(10);
    }
  }
  if (size === undefined) throw new NbdNegotiationError('NBD_OPT_GO ended without NBD_INFO_EXPORT', 'protocol');
  return checked({ sizeBytes: size, flags, minBlock, preferredBlock, maxPayload, via: 'go' });
}

/** An old server without NBD_OPT_GO: NBD_OPT_EXPORT_NAME, whose refusal is a closed connection. */
async function exportNameFallback(sock: Socket, reader: SocketReader, exportName: string, noZeroes: boolean): Promise<ExportInfo> {
  sock.write(encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(exportName, 'utf8')));
  let b: Buffer;
  try {
    b = await reader.read(noZeroes ? 10 : 134);
  } catch (err) {
    if (err instanceof NbdNegotiationError && err.kind === 'closed') {
      throw new NbdNegotiationError(`export '${exportName}': the server closed the connection (no such export?)`, 'no-export');
    }
    throw err;
  }
  const info: ExportInfo = {
    sizeBytes: Number(b.readBigUInt64BE(0)),
    flags: b.readUInt16BE(8),
    minBlock: DEFAULT_MIN_BLOCK,
    preferredBlock: DEFAULT_PREFERRED_BLOCK,
    maxPayload: DEFAULT_MAX_PAYLOAD,
    via: 'export-name',
  };
  return checked(info);
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** The spec's constraints on block sizes: powers of two, min <= preferred, min 1..64 KiB. */
function checked(info: ExportInfo): ExportInfo {
  const { minBlock, preferredBlock, maxPayload } = info;
  if (!isPow2(minBlock) || minBlock > 65536 || !isPow2(preferredBlock) || preferredBlock < minBlock || maxPayload < minBlock) {
    throw new NbdNegotiationError(`bad block sizes from the server (min ${minBlock}, preferred ${preferredBlock}, max ${maxPayload})`, 'protocol');
  }
  if (!Number.isSafeInteger(info.sizeBytes)) throw new NbdNegotiationError(`export size ${info.sizeBytes} is too large`, 'protocol');
  return info;
}
