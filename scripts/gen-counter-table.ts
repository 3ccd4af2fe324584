/**
 * Print the README's counter table from the registry (src/stats/registry.ts):
 *
 *   npx tsx scripts/gen-counter-table.ts          # markdown table on stdout
 *
 * `counterTable()` is exported so that a test can compare it with README.md's
 * `## Counters` section.
 */

import { fileURLToPath } from 'node:url';
import { COUNTERS, COUNTER_NAMES } from '../src/stats/registry.js';

export function counterTable(): string {
  const rows = COUNTER_NAMES.map((name) => {
    const c = COUNTERS[name];
    const kind = c.kind === 'gauge' ? ' (gauge)' : '';
    return `| \`${name}\` | ${c.unit}${kind} | ${c.doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| name | unit | meaning |', '|---|---|---|', ...rows].join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(counterTable());
}
