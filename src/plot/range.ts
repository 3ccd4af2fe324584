/**
 * `aheadfs plot --from/--to` bounds. Each bound limits one dimension of the chart:
 *
 *   1500        x axis units: µs from the file's first line (--x time) or read number (--x read)
 *   2ms, 1.5s   time: µs, ms or s from the file's first line (us, µs, ms, s)
 *   page:4096   page offset (4 KiB pages); `p4096` means the same
 *
 * --from is inclusive, --to exclusive, as a window's [start, start+size). Kept apart from
 * chart.ts so that the CLI can check them without loading vega.
 */

import { UsageError } from '../errors.js';

export type RangeBound = { kind: 'x'; value: number } | { kind: 'time'; us: number } | { kind: 'page'; page: number };

const UNIT_US: Record<string, number> = { us: 1, 'µs': 1, ms: 1000, s: 1_000_000 };

/** Parse one --from/--to value; UsageError naming the option when it is not one of the forms. */
export function parseRangeBound(option: string, text: string): RangeBound {
  const page = /^(?:page:|p)(\d+)$/.exec(text);
  if (page) return { kind: 'page', page: Number(page[1]) };
  const time = /^(\d+(?:\.\d+)?)(us|µs|ms|s)$/.exec(text);
  if (time) return { kind: 'time', us: Number(time[1]) * UNIT_US[time[2]!]! };
  if (/^\d+(?:\.\d+)?$/.test(text)) return { kind: 'x', value: Number(text) };
  throw new UsageError(`bad ${option} '${text}': expected a number on the x axis, a time (500us, 2ms, 1.5s) or a page (page:N)`);
}

/** The limits a pair of bounds puts on the chart (undefined: unlimited on that side). */
export interface ChartRange {
  /** On the x axis as the chart draws it (time bounds are converted when x is time). */
  xFrom?: number;
  xTo?: number;
  /** Time in µs from the first line (used when x is the read number). */
  tFrom?: number;
  tTo?: number;
  pageFrom?: number;
  pageTo?: number;
}

export function chartRange(from: RangeBound | undefined, to: RangeBound | undefined): ChartRange {
  const r: ChartRange = {};
  const put = (b: RangeBound | undefined, side: 'From' | 'To'): void => {
    if (!b) return;
    if (b.kind === 'x') r[`x${side}`] = b.value;
    else if (b.kind === 'time') r[`t${side}`] = b.us;
    else r[`page${side}`] = b.page;
  };
  put(from, 'From');
  put(to, 'To');
  return r;
}
