/**
 * The README's `## Counters` table and the registry (src/stats/registry.ts) name the same
 * counters, in both directions, with the registry's unit and doc line
 * (regenerate the table with `npx tsx scripts/gen-counter-table.ts`).
 */

import test from 'ava';
import { readFile } from 'node:fs/promises';
import { counterTable } from '../../scripts/gen-counter-table.js';
import { COUNTER_NAMES } from '../../src/stats/registry.js';

async function countersSection(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('\n## Counters\n');
  if (start < 0) throw new Error('README.md has no "## Counters" section');
  const next = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, next < 0 ? undefined : next);
}

function tableNames(section: string): string[] {
  return [...section.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]!);
}

test('every counter in the registry is in the README table, and every name in the table is in the registry', async (t) => {
  const names = tableNames(await countersSection());
  const registry = new Set<string>(COUNTER_NAMES);
  const documented = new Set(names);
  t.deepEqual(COUNTER_NAMES.filter((n) => !documented.has(n)), [], 'counters missing from the README');
  t.deepEqual(names.filter((n) => !registry.has(n)), [], 'README names that are not counters');
  t.is(names.length, documented.size, 'no name twice');
});

test('the README table is the generated one (units and meanings match the registry)', async (t) => {
  t.true((await countersSection()).includes(counterTable()), 'run: npx tsx scripts/gen-counter-table.ts');
});
