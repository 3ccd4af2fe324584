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

/**
 * An FsError from another copy of errors.ts (src/ loaded through tsx beside dist/, or two
 * installs) fails `instanceof`; its name and code still say what it is.
 */
function codeOf(err: unknown): ErrorCode | undefined {
  if (err instanceof FsError) return err.code;
  if (err instanceof Error && err.name === 'FsError') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(ERRNO, code)) return code as ErrorCode;
  }
  return undefined;
}

export function errnoFromError(err: unknown, log: (msg: string) => void, op: string): number {
  const code = codeOf(err);
  if (code !== undefined) return -ERRNO[code];
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  log(`unexpected error in ${op}, replied EIO: ${detail}`);
  return -ERRNO.EIO;
}
