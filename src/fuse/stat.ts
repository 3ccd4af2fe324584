/**
 * Attribute conversions between the vfs's `Attr` and what fuse-native sends to libfuse.
 *
 * `statArray` mirrors fuse-native's private getStatArray() (index.js, as patched): 21
 * uint32 words, 64-bit fields split low/high, times in whole milliseconds (words 12-17)
 * plus the nanoseconds below the millisecond (words 18-20). We need it for the fgetattr
 * override in AheadFuse, which replies through the raw signal.
 */

import type Fuse from 'fuse-native';
import type { Attr, StatFs } from '../vfs/types.js';

const TWO32 = 4294967296;

export function attrToStat(a: Attr): Fuse.Stat {
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    nlink: a.nlink,
    ino: a.ino,
    rdev: a.rdev,
    blksize: a.blksize,
    blocks: a.blocks,
    atime: a.atimeMs,
    mtime: a.mtimeMs,
    ctime: a.ctimeMs,
  };
}

function setDouble(arr: Uint32Array, idx: number, n: number): void {
  arr[idx] = n % TWO32;
  arr[idx + 1] = Math.floor(n / TWO32);
}

function ms(t: number | Date): number {
  return typeof t === 'number' ? t : t.getTime();
}

/**
 * Nanoseconds below the millisecond of a time in (fractional) milliseconds, to the
 * microsecond: a double holds a time of this century in ms to about 0.25 us.
 */
function subMsNanos(t: number): number {
  return (Math.round((t - Math.floor(t)) * 1e3) % 1000) * 1000;
}

export function statArray(s: Fuse.Stat): Uint32Array {
  const ints = new Uint32Array(21);
  ints[0] = s.mode;
  ints[1] = s.uid;
  ints[2] = s.gid;
  setDouble(ints, 3, s.size);
  ints[5] = s.dev ?? 0;
  ints[6] = s.nlink || 1;
  ints[7] = s.ino ?? 0;
  ints[8] = s.rdev ?? 0;
  ints[9] = s.blksize ?? 0;
  setDouble(ints, 10, s.blocks ?? 0);
  setDouble(ints, 12, ms(s.atime));
  setDouble(ints, 14, ms(s.mtime));
  setDouble(ints, 16, ms(s.ctime));
  ints[18] = subMsNanos(ms(s.atime));
  ints[19] = subMsNanos(ms(s.mtime));
  ints[20] = subMsNanos(ms(s.ctime));
  return ints;
}

export function toFuseStatFs(s: StatFs): Fuse.StatFs {
  return { ...s };
}
