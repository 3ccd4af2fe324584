/**
 * The one integer parser of aheadfs (used by every layer, like errors.ts): command-line values (src/cli/args.ts), the knob
 * table (src/knobs/table.ts: mount flags and control files alike), the scheduler's
 * iosched/ files (kstrtoint, src/block/elv-attrs.ts) and the fault-injection files all
 * parse whole numbers here, so that a value means the same wherever it is typed.
 *
 * It says what is wrong (`syntax`, `range`, `multiple`) and leaves the wording to the
 * caller: a UsageError line at the command line, an EINVAL (and a kmsg line) for a file.
 */

export interface IntRule {
  min: number;
  max: number;
  /** The value must be a multiple of this (max_sectors_kb: 4). */
  multipleOf?: number;
  /**
   * Refuse a leading zero (`010`) and so the kernel's base-0 forms: where the kernel
   * parses with base 0 (kstrtoint(s, 0), debugfs attributes) `010` is 8 and `0x10` is 16
   * there; refused here rather than read with another meaning. Without it (the kernel's
   * base 10: queue/read_ahead_kb) `010` is 10.
   */
  base0?: boolean;
}

export type IntResult = { ok: true; value: number } | { ok: false; why: 'syntax' | 'range' | 'multiple' };

/** Surrounding white space ignored; an optional sign; decimal digits. */
export function parseInteger(text: string, rule: IntRule): IntResult {
  const s = text.trim();
  const re = rule.base0 ? /^[+-]?(0|[1-9]\d*)$/ : /^[+-]?\d+$/;
  if (!re.test(s)) return { ok: false, why: 'syntax' };
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < rule.min || n > rule.max) return { ok: false, why: 'range' };
  if (rule.multipleOf !== undefined && n % rule.multipleOf !== 0) return { ok: false, why: 'multiple' };
  return { ok: true, value: n === 0 ? 0 : n }; // '-0' is 0
}

/** What a value under `rule` must be, for messages: `a whole number from 4 to 32768, a multiple of 4`. */
export function describeIntRule(rule: IntRule): string {
  const base = `a whole number from ${rule.min} to ${rule.max}`;
  return rule.multipleOf === undefined ? base : `${base}, a multiple of ${rule.multipleOf}`;
}
