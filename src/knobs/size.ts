/**
 * Sizes on the command line: `4096`, `64K`, `64M`, `1G`, `2T`, optionally followed by
 * `B` or `iB` (`64MiB`, `64MB`): all binary multiples (K = 1024). Fractions are allowed
 * when they come out to whole bytes (`1.5G`); anything else is a UsageError.
 */

import { UsageError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`bad ${what} '${text}': expected a number of bytes with an optional K, M, G or T suffix (e.g. 64M)`);
  const unitKey = m[2]!.toUpperCase();
  if (unitKey === '' && m[3] && m[3].toLowerCase() === 'ib') {
    throw new UsageError(`bad ${what} '${text}': 'iB' needs a unit (KiB, MiB, GiB, TiB)`);
  }
  const bytes = Number(m[1]) * UNITS[unitKey]!;
  if (!Number.isSafeInteger(bytes)) {
    throw new UsageError(`bad ${what} '${text}': not a whole number of bytes`);
  }
  if (bytes === 0) throw new UsageError(`bad ${what} '${text}': must be greater than zero`);
  return bytes;
}

/** `1073741824` -> `1 GiB`, `1536` -> `1.5 KiB`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${s} ${units[i]}`;
}
