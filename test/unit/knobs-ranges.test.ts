/**
 * One knob, one range: for every knob with both a mount flag and a writable control file
 * (src/knobs/table.ts), `aheadfs mount --<flag> V` (parseTunables, what the CLI runs before
 * anything else) and a write of V to `.aheadfs/<file>` of an open filesystem accept and
 * refuse the same values. Values: integers around each edge of the knob's range, the
 * table's own words (on, off, 1, none, ...), number-like text (`+8`, `010`, `0x10`, `1e3`,
 * ` 8 `) and arbitrary strings (fast-check).
 */

import test from 'ava';
import fc from 'fast-check';
import { knobOptions, parseTunables } from '../../src/cli/mount.js';
import { isFsError, UsageError } from '../../src/errors.js';
import { KNOB_LIST, type Knob } from '../../src/knobs/table.js';
import { openVfsStore } from './fs/helpers.js';

/** The flags' defaults, as yargs hands them to parseTunables when not given. */
function defaultArgs(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(knobOptions()).flatMap(([flag, o]) => (o.default === undefined ? [] : [[flag, o.default]])));
}

function acceptedAtMount(k: Knob<unknown>, value: string): boolean {
  try {
    parseTunables({ ...defaultArgs(), [k.flag!]: value });
    return true;
  } catch (err) {
    if (err instanceof UsageError) return false;
    throw err;
  }
}

/** Values worth trying for `k`: its rule's edges, its words, and number-like text. */
function candidates(k: Knob<unknown>): fc.Arbitrary<string> {
  const words = fc.constantFrom('on', 'off', '0', '1', '2', '3', '-1', '+8', '010', '0x10', '1e3', ' 8 ', '8\n', '', 'none', 'mq-deadline', 'cfq', '4.18', '6.18', 'read', 'read,flush', 'trim', '0-7', '7-0', '1M', '4K');
  const arbs: fc.Arbitrary<string>[] = [words, fc.string({ maxLength: 12 }), fc.constant(k.format(k.default))];
  const r = k.rule;
  if (r !== undefined) {
    const edges = [r.min, r.max].flatMap((e) => [e - 5, e + 5]);
    arbs.push(fc.integer({ min: Math.max(Number.MIN_SAFE_INTEGER, Math.min(...edges)), max: Math.min(Number.MAX_SAFE_INTEGER, Math.max(...edges)) }).map(String));
    arbs.push(fc.constantFrom(...[r.min - 1, r.min, r.min + 1, r.max - 1, r.max, r.max + 1, 2 ** 31, 2 ** 53].map(String)));
  }
  return fc.oneof(...arbs);
}

const BOTH = KNOB_LIST.filter((k) => k.flag !== undefined && k.control !== undefined && !k.readOnly);

test('the table has knobs with both a flag and a file (the property below is not empty)', (t) => {
  t.true(BOTH.length >= 10, BOTH.map((k) => k.name).join(' '));
});

for (const k of BOTH) {
  test(`--${k.flag} and .aheadfs/${k.control} accept and refuse the same values`, async (t) => {
    const { fs } = await openVfsStore(t, { writeback: true }); // the vm/ files exist on writeback mounts
    const acceptedAtRuntime = (value: string): boolean => {
      try {
        fs.control.write(k.control!, value);
        return true;
      } catch (err) {
        if (isFsError(err, 'EINVAL')) return false;
        throw err;
      }
    };
    fc.assert(
      fc.property(candidates(k), (value) => {
        const atMount = acceptedAtMount(k, value);
        const atRuntime = acceptedAtRuntime(value);
        if (atMount !== atRuntime) t.log(`${JSON.stringify(value)}: mount ${atMount ? 'accepts' : 'refuses'}, file ${atRuntime ? 'accepts' : 'refuses'}`);
        return atMount === atRuntime;
      }),
      { numRuns: 300 },
    );
    t.pass();
  });
}

/** Flag values worth trying for any knob (sizes too: --cache-size). */
function anyValue(k: Knob<unknown>): fc.Arbitrary<string> {
  const range = fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`);
  return fc.oneof(candidates(k), range, fc.constantFrom('1M', '4G', '4096M', '1025K', '6.5M', '268435456', '4294967296', '3600', '0.5', '.25'));
}

for (const k of KNOB_LIST.filter((x) => x.flag !== undefined)) {
  test(`--${k.flag}: what the CLI passes on to the daemon (format) parses back to the same value`, (t) => {
    fc.assert(
      fc.property(anyValue(k), (text) => {
        let v: unknown;
        try {
          v = k.parse(text);
        } catch {
          return true; // refused: nothing is passed on
        }
        t.deepEqual(k.parse(k.format(v)), v, `${JSON.stringify(text)} -> ${k.format(v)}`);
        return true;
      }),
      { numRuns: 200 },
    );
  });
}
