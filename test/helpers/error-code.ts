import { isFsError, type ErrorCode } from '../../src/errors.js';

/** The FsError code `fn` throws, or 'none' when it returns; any other throw is rethrown. */
export function errorCodeOf(fn: () => unknown): ErrorCode | 'none' {
  try {
    fn();
  } catch (err) {
    if (isFsError(err)) return err.code;
    throw err;
  }
  return 'none';
}
