/**
 * The one error module of aheadfs.
 *
 * Every layer throws (or passes to a callback) an `FsError` with a POSIX code; only
 * `src/fuse` turns a code into an errno value, and only `src/cli` turns an error into
 * a one-line message and an exit code. `UsageError` is bad input on the command line
 * (exit code 2, nothing changed on disk).
 */

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOPNOTSUPP: 95,
  ENOTCONN: 107,
  ECANCELED: 125,
} as const;

export type ErrorCode = keyof typeof ERRNO;

export class FsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? code, options);
    this.name = 'FsError';
    this.code = code;
  }
}

/** Shorthand: `throw fsError('ENOENT', 'no such file: /a')`. */
export function fsError(code: ErrorCode, message?: string, cause?: unknown): FsError {
  return new FsError(code, message ? `${code}: ${message}` : code, cause === undefined ? undefined : { cause });
}

export function isFsError(err: unknown, code?: ErrorCode): err is FsError {
  return err instanceof FsError && (code === undefined || err.code === code);
}

/**
 * Wrap an error from node's fs (which carries `code: 'EIO'` etc.) as an FsError; anything
 * unknown becomes EIO so that an I/O failure never surfaces as a crash.
 */
export function toFsError(err: unknown, context?: string): FsError {
  if (err instanceof FsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const known = typeof code === 'string' && code in ERRNO ? (code as ErrorCode) : 'EIO';
  const msg = err instanceof Error ? err.message : String(err);
  return fsError(known, context ? `${context}: ${msg}` : msg, err);
}

/** Bad command-line input: one line on stderr, exit code 2, nothing changed on disk. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
