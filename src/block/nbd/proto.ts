/**
 * NBD wire format: the constants and the fixed-size messages of the protocol, as described
 * in doc/proto.md of the NetworkBlockDevice/nbd project (fixed newstyle negotiation,
 * simple replies only: we never ask for structured replies). Every number is big-endian.
 *
 *   handshake   S: "NBDMAGIC" "IHAVEOPT" u16 handshake flags     C: u32 client flags
 *   option      C: "IHAVEOPT" u32 option u32 length data
 *   opt reply   S: u64 0x3e889045565a9 u32 option u32 type u32 length data
 *   request     C: u32 0x25609513 u16 cmd flags u16 type u64 handle u64 offset u32 length [data]
 *   reply       S: u32 0x67446698 u32 error u64 handle [data of a successful read]
 *
 * Also the device URL: nbd://HOST[:PORT][/EXPORT] (port 10809 by default, export "" =
 * the server's default export).
 */

export const NBD_MAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const NBD_IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const NBD_OPT_REPLY_MAGIC = 0x3e889045565a9n;
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_DEFAULT_PORT = 10809;

// Handshake flags (server) and client flags.
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// Options and option replies.
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_GO = 7;
export const NBD_REP_ACK = 1;
export const NBD_REP_INFO = 3;
/** Error replies have bit 31 set. */
export const NBD_REP_FLAG_ERROR = 0x80000000;
export const NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR + 1;
export const NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR + 2;
export const NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR + 3;
export const NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR + 4;
export const NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR + 5;
export const NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR + 6;
export const NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR + 8;

// NBD_REP_INFO types.
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_BLOCK_SIZE = 3;

// Transmission flags.
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;

// Commands and command flags.
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_FLAG_FUA = 1 << 0;

/** Header sizes. */
export const REQUEST_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const OPT_REPLY_HEADER_BYTES = 20;

/** Block-size defaults when the server sends no NBD_INFO_BLOCK_SIZE (proto.md, "Block size constraints"). */
export const DEFAULT_MIN_BLOCK = 1;
export const DEFAULT_PREFERRED_BLOCK = 4096;
/** A client SHOULD NOT send a payload larger than 32 MiB unless the server says more is fine. */
export const DEFAULT_MAX_PAYLOAD = 32 << 20;

/** What the negotiation found out about the export. */
export interface ExportInfo {
  sizeBytes: number;
  /** Transmission flags (NBD_FLAG_*). */
  flags: number;
  minBlock: number;
  preferredBlock: number;
  maxPayload: number;
  /** How the export was entered: NBD_OPT_GO, or the old NBD_OPT_EXPORT_NAME fallback. */
  via: 'go' | 'export-name';
}

export type NbdCommand = typeof NBD_CMD_READ | typeof NBD_CMD_WRITE | typeof NBD_CMD_DISC | typeof NBD_CMD_FLUSH;

/** The 28-byte request header. */
export function encodeRequest(type: NbdCommand, cmdFlags: number, handle: bigint, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_BYTES);
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(cmdFlags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(handle, 8);
  b.writeBigUInt64BE(BigInt(offset), 16);
  b.writeUInt32BE(length, 24);
  return b;
}

/** An option: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.allocUnsafe(16);
  h.writeBigUInt64BE(NBD_IHAVEOPT, 0);
  h.writeUInt32BE(option, 8);
  h.writeUInt32BE(data.length, 12);
  return Buffer.concat([h, data]);
}

/** NBD_OPT_GO's data: the export name and the info requests (NBD_INFO_BLOCK_SIZE: we honour limits). */
export function encodeGo(exportName: string, infos: readonly number[]): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const b = Buffer.allocUnsafe(4 + name.length + 2 + 2 * infos.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + name.length);
  infos.forEach((info, i) => b.writeUInt16BE(info, 6 + name.length + 2 * i));
  return b;
}

/** Names of the option reply errors, for messages. */
export function repErrorName(type: number): string {
  const names: Record<number, string> = {
    [NBD_REP_ERR_UNSUP]: 'unsupported option',
    [NBD_REP_ERR_POLICY]: 'refused by server policy',
    [NBD_REP_ERR_INVALID]: 'invalid option',
    [NBD_REP_ERR_PLATFORM]: 'not supported on the server platform',
    [NBD_REP_ERR_TLS_REQD]: 'the server requires TLS',
    [NBD_REP_ERR_UNKNOWN]: 'no such export',
    [NBD_REP_ERR_SHUTDOWN]: 'the server is shutting down',
    [NBD_REP_ERR_BLOCK_SIZE_REQD]: 'the server requires block size negotiation',
  };
  return names[type] ?? `error reply 0x${type.toString(16)}`;
}

/** errno names of the NBD error values (proto.md, "Error values"). */
export function nbdErrorName(err: number): string {
  const names: Record<number, string> = { 1: 'EPERM', 5: 'EIO', 12: 'ENOMEM', 22: 'EINVAL', 28: 'ENOSPC', 75: 'EOVERFLOW', 95: 'ENOTSUP', 108: 'ESHUTDOWN' };
  return names[err] ?? `error ${err}`;
}

export interface NbdUrl {
  host: string;
  port: number;
  exportName: string;
}

/** Parse `nbd://HOST[:PORT][/EXPORT]`; throws Error with the reason (callers make it a UsageError). */
export function parseNbdUrl(url: string): NbdUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`device URL '${url}' is not a URL (expected nbd://HOST[:PORT][/EXPORT])`);
  }
  if (u.protocol !== 'nbd:') throw new Error(`device URL '${url}': only nbd:// is supported`);
  if (u.hostname === '') throw new Error(`device URL '${url}' has no host`);
  if (u.username || u.password || u.search || u.hash) throw new Error(`device URL '${url}': no user, query or fragment expected`);
  const port = u.port === '' ? NBD_DEFAULT_PORT : Number(u.port);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port, exportName: decodeURIComponent(u.pathname.replace(/^\//, '')) };
}
