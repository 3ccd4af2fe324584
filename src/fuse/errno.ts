/**
 * The one place where an error becomes an errno value for FUSE.
 *
 * fuse-native wants NEGATIVE errno values (`Fuse.ENOENT === -2`). An FsError carries a
 * stable code from errors.ts's ERRNO table; anything else is a bug or an unexpected
 * failure below us: it is logged and replied as EIO so that the caller gets an error,
 * never a hung request and never a crash of the daemon.
 */

import { ERRNO, FsError, type ErrorCode } from '../errors.js';

export function errnoOf(code: ErrorCode): number {
  return -ERRNO[code];
}

export function errnoFromError(err: unknown, log: (msg: string) => void, op: string): number {
  if (err instanceof FsError) return -ERRNO[err.code];
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  log(`unexpected error in ${op}, replied EIO: ${detail}`);
  return -ERRNO.EIO;
}
