/**
 * Print the README's knob table from the knob table (src/knobs/table.ts):
 *
 *   npx tsx scripts/gen-knob-table.ts          # markdown table on stdout
 *
 * `knobTable()` is exported so that a test can compare it with README.md's
 * `### Knobs` section (test/unit/readme-knobs.test.ts).
 */

import { fileURLToPath } from 'node:url';
import { KNOB_LIST } from '../src/knobs/table.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function knobTable(): string {
  const rows = KNOB_LIST.map((k) => {
    const flag = k.flag === undefined ? '' : `\`--${k.flag}\``;
    const file = k.control === undefined ? '' : `\`${k.control}\`${k.readOnly ? ' (read-only)' : ''}`;
    const def = k.format(k.default);
    return `| \`${k.name}\` | ${k.type} | ${k.unit} | ${cell(k.expected)} | ${cell(def)} | ${flag} | ${file} | ${cell(k.doc)} |`;
  });
  return ['| knob | type | unit | takes | default | mount flag | control file (`.aheadfs/`) | meaning |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(knobTable());
}
