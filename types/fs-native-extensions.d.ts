/**
 * Type declarations for fs-native-extensions 1.5.1 (CommonJS), covering only what aheadfs
 * uses. On Linux the locks are open file description locks (fcntl F_OFD_SETLK): owned by
 * the open file description, so two fds of one process conflict, closing another fd of
 * the same file does not drop them, and the kernel drops them when the last fd closes
 * (also on kill -9).
 */
declare module 'fs-native-extensions' {
  /**
   * Take a lock on [offset, offset + length) (length 0: to the end of the file) without
   * waiting. Exclusive (needs an fd open for writing) unless `shared` (needs reading).
   * Returns false when another open file description holds a conflicting lock.
   */
  export function tryLock(fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): boolean;
  export function tryLock(fd: number, opts?: { shared?: boolean }): boolean;
  export function unlock(fd: number, offset?: number, length?: number): void;
  /** The same, waiting (in the thread pool) until the lock is free. */
  export function waitForLock(fd: number, opts?: { shared?: boolean }): Promise<void>;
}
