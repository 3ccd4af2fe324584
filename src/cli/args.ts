/**
 * One parser for the numeric command-line values of every command (sizes are size.ts).
 * Options are declared to yargs as strings with `requiresArg` and parsed here, so that
 * a value that is not a number is named as typed (never echoed as NaN), a missing value
 * is refused instead of defaulted, and every refusal is one UsageError line naming the
 * option and what it expects.
 */

import { UsageError } from '../errors.js';
import { describeIntRule, parseInteger } from '../int.js';

/** The text of one value: refuses an option given twice (yargs makes an array) or without a value. */
export function optionText(name: string, raw: unknown): string {
  if (Array.isArray(raw)) throw new UsageError(`${name} is given more than once`);
  if (raw === undefined || raw === '' || typeof raw === 'boolean') throw new UsageError(`${name} needs a value`);
  return String(raw);
}

/** A whole number from min to max (decimal digits; src/int.ts, the one integer parser). */
export function parseWholeNumber(name: string, raw: unknown, rule: { min: number; max: number }): number {
  const text = optionText(name, raw);
  const r = parseInteger(text, rule);
  if (!r.ok) throw new UsageError(`bad ${name} '${text}': expected ${describeIntRule(rule)}`);
  return r.value;
}

/** A number of seconds > 0 and at most max (fractions allowed: `0.5`). */
export function parseSeconds(name: string, raw: unknown, { max }: { max: number }): number {
  const text = optionText(name, raw);
  const expected = `expected a number of seconds > 0, at most ${max}`;
  if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(text)) throw new UsageError(`bad ${name} '${text}': ${expected}`);
  const v = Number(text);
  if (!(Number.isFinite(v) && v > 0 && v <= max)) throw new UsageError(`bad ${name} '${text}': ${expected}`);
  return v;
}
