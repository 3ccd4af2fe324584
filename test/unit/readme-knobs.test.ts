/**
 * The README's `### Knobs` table is the one generated from the knob table
 * (src/knobs/table.ts; regenerate with `npx tsx scripts/gen-knob-table.ts`), and names
 * every knob once, as the counter table does for counters.
 */

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { knobTable } from '../../scripts/gen-knob-table.js';
import { KNOB_LIST } from '../../src/knobs/table.js';

async function knobsSection(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('\n### Knobs\n');
  if (start < 0) throw new Error('README.md has no "### Knobs" section');
  const next = readme.slice(start + 1).search(/\n##+ /);
  return next < 0 ? readme.slice(start) : readme.slice(start, start + 1 + next);
}

test('every knob of the table is in the README, and every name there is a knob', async (t) => {
  const names = [...(await knobsSection()).matchAll(/^\| `([a-z0-9_/]+)` \|/gm)].map((m) => m[1]!);
  const known = KNOB_LIST.map((k) => k.name);
  t.deepEqual(known.filter((n) => !names.includes(n)), [], 'knobs missing from the README');
  t.deepEqual(names.filter((n) => !known.includes(n)), [], 'README names that are not knobs');
  t.is(new Set(names).size, names.length, 'no name twice');
});

test('the README table is the generated one (types, ranges, defaults, flags, files, meanings)', async (t) => {
  t.true((await knobsSection()).includes(knobTable()), 'run: npx tsx scripts/gen-knob-table.ts');
});
