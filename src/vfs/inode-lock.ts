/**
 * i_rwsem, the part of it the vfs needs: writers of one inode (write(2) and truncate) go
 * one at a time, in the order they came (the kernel's inode_lock / inode_unlock around
 * generic_file_write_iter and do_truncate). Reads do not take it, as in the kernel's
 * buffered read path; they rely on page locks and i_size.
 *
 * Why it matters here: a write yields to the event loop between its pages (a partial page
 * is read from the device first). A truncate that ran in such a gap set i_size, dropped the
 * write's pages and freed their blocks, and the write then extended i_size again over
 * them: the cache showed bytes the store had lost.
 *
 * JS cannot sleep, so a waiter is a promise: `inodeLock` resolves when the lock is yours
 * and hands back the function that releases it.
 */

export class InodeLocks {
  /** Per locked inode: the release of the last one in line (the queue's tail). */
  private readonly tails = new Map<number, Promise<void>>();

  /** inode_lock: resolves with `inodeUnlock` once every earlier holder has released. */
  async inodeLock(ino: number): Promise<() => void> {
    const before = this.tails.get(ino);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.tails.set(ino, mine);
    if (before) await before;
    return () => {
      if (this.tails.get(ino) === mine) this.tails.delete(ino); // nobody in line behind us
      release();
    };
  }

  /** Run `fn` holding the inode's lock; released when it settles, also on a throw. */
  async withInodeLock<T>(ino: number, fn: () => Promise<T>): Promise<T> {
    const inodeUnlock = await this.inodeLock(ino);
    try {
      return await fn();
    } finally {
      inodeUnlock();
    }
  }

  /** Inodes locked or waited for now (0 when idle; for tests). */
  get size(): number {
    return this.tails.size;
  }
}
