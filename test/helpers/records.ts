/**
 * Records for the crash cycles (test/e2e/crash-cycles.test.ts, test/helpers/crash-writer.ts).
 *
 * File `w<id>` holds record `seq` at offset `seq * REC_SIZE`; REC_SIZE is not a multiple of
 * the page size, so records straddle pages and a page holds parts of two records:
 *
 *   0       4      8       12                          REC_SIZE-4  REC_SIZE
 *   | magic | file | seq   | payload (xorshift of file, seq) | crc32 |
 *
 * Every byte of a record is a function of (file, seq), so any byte of a file can be
 * checked on its own: it is the expected byte, or (past the acknowledged records) 0.
 */

import { crc32 } from 'node:zlib';

export const REC_SIZE = 1500;
export const REC_MAGIC = 0x43524841; // "AHRC"

export function recordFor(file: number, seq: number): Buffer {
  const b = Buffer.alloc(REC_SIZE);
  b.writeUInt32LE(REC_MAGIC, 0);
  b.writeUInt32LE(file, 4);
  b.writeUInt32LE(seq, 8);
  let x = (Math.imul(file + 1, 0x9e3779b1) ^ Math.imul(seq + 1, 0x85ebca6b)) | 1;
  for (let i = 12; i < REC_SIZE - 4; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  b.writeUInt32LE(crc32(b.subarray(0, REC_SIZE - 4)), REC_SIZE - 4);
  return b;
}

/** A record read back: what it is, checked by magic and crc. */
export type Parsed = { kind: 'valid'; file: number; seq: number } | { kind: 'zero' } | { kind: 'garbage' };

export function parseRecord(b: Buffer): Parsed {
  if (b.every((x) => x === 0)) return { kind: 'zero' };
  if (b.length !== REC_SIZE || b.readUInt32LE(0) !== REC_MAGIC) return { kind: 'garbage' };
  if (crc32(b.subarray(0, REC_SIZE - 4)) !== b.readUInt32LE(REC_SIZE - 4)) return { kind: 'garbage' };
  return { kind: 'valid', file: b.readUInt32LE(4), seq: b.readUInt32LE(8) };
}

export const fileName = (id: number): string => `w${id}`;

/** Every byte of the writer's scratch files (never 0, rare in records). */
export const SCRATCH_BYTE = 0xa5;
