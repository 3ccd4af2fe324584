/**
 * A scheduler's own tunables, the files of /sys/block/<dev>/queue/iosched/ (struct
 * elv_fs_entry in include/linux/elevator.h), and the parsing their store functions share.
 * Each entry is bound to one elevator instance: a scheduler switch allocates a new
 * elevator, so the new one starts from its defaults and the old one's values are gone.
 */

import { fsError } from '../errors.js';
import { parseInteger } from '../int.js';

/** The kernel's INT_MIN / INT_MAX: the range of an `int` scheduler tunable. */
export const INT_MIN = -(2 ** 31);
export const INT_MAX = 2 ** 31 - 1;

/** One file of the scheduler's iosched/ directory, over one elevator's data. */
export interface ElvFsEntry {
  /** The kernel's file name, e.g. `fifo_batch`. */
  readonly name: string;
  readonly doc: string;
  /** The value as the kernel prints it (`%d`), without the newline. */
  show(): string;
  /** Throws FsError EINVAL for a bad value (nothing changed). */
  store(text: string): void;
}

/**
 * kstrtoint for a scheduler tunable: an optional sign and decimal digits (surrounding
 * white space ignored) that fit an int, else EINVAL naming the tunable. The kernel parses
 * with base 0, so `0x10` is 16 and `010` is 8 there; both are refused here (EINVAL) rather
 * than read with another meaning. Out of the int range the kernel says ERANGE; here EINVAL.
 */
export function kstrtoint(name: string, text: string): number {
  const r = parseInteger(text, { min: INT_MIN, max: INT_MAX, base0: true });
  if (r.ok) return r.value;
  const s = text.trim();
  if (r.why === 'syntax') throw fsError('EINVAL', `${name}: not a whole decimal number: ${JSON.stringify(s)}`);
  throw fsError('EINVAL', `${name}: ${s} does not fit an int (${INT_MIN}..${INT_MAX})`);
}

/** The clamp of the kernel's STORE_INT / STORE_JIFFIES: a value outside min..max becomes the nearer end. */
export function clampInt(n: number, min: number, max: number): number {
  return n < min ? min : n > max ? max : n;
}
