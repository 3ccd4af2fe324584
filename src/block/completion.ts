/**
 * The I/O completion context ("interrupt context" for our bios). The block layer's
 * bio_endio (RequestQueue.bioEndIo) runs every bio's endIo inside `runIoCompletion`, so a
 * filesystem's completion callback never enters it itself.
 *
 * Waiters woken while a completion runs (folio unlocks, end of writeback) are not resumed
 * inside it but right after it returns, in wake order: the kernel's async waiters are the
 * same (wake_page_function queues io_uring task work; a sleeping reader only becomes
 * runnable). A 32-page bio then resumes its reader once, with every folio unlocked,
 * instead of 32 times from inside the unlock loop.
 */

/** > 0 while a completion handler runs; wakes then queue their callbacks. */
let completionDepth = 0;
/** Callbacks woken during the current completion, in wake order (the task work). */
let taskWork: (() => void)[] = [];

/** True inside runIoCompletion: a wake must defer its callbacks with `queueTaskWork`. */
export function inIoCompletion(): boolean {
  return completionDepth > 0;
}

/** Run `fn` once the outermost running completion has finished. Context: inIoCompletion(). */
export function queueTaskWork(fn: () => void): void {
  taskWork.push(fn);
}

/**
 * Run an I/O completion handler (a bio's end_io) in the completion context: the waiters
 * its unlocks wake are resumed right after it returns, in wake order. Nested calls join
 * the outermost one.
 *
 * Context: the block layer's bio completion (bioEndIo). If the handler or a callback
 * throws, every queued callback still runs and the first error is rethrown at the end.
 */
export function runIoCompletion(handler: () => void): void {
  completionDepth++;
  let handlerError: { err: unknown } | undefined;
  try {
    handler();
  } catch (err) {
    handlerError = { err };
  } finally {
    completionDepth--;
  }
  let workError: { err: unknown } | undefined;
  if (completionDepth === 0) {
    // Taken off the queue first: a callback runs outside any completion, so the wakes it
    // causes run at once (or are drained by a completion it runs itself).
    const work = taskWork;
    taskWork = [];
    workError = callEach(work);
  }
  const first = handlerError ?? workError;
  if (first) throw first.err;
}

/** Call every callback, even after one throws; the first error, if any. */
export function callEach(funcs: readonly (() => void)[]): { err: unknown } | undefined {
  let first: { err: unknown } | undefined;
  for (const fn of funcs) {
    try {
      fn();
    } catch (err) {
      first ??= { err };
    }
  }
  return first;
}
