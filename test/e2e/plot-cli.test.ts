/**
 * `aheadfs plot` as a user runs it (the real binary) on a saved trace of two streams far
 * apart: two panels in the SVG, the legend, and --from/--to narrowing what is charted.
 */

import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aheadfs } from '../helpers/cli.js';

const TWO_STREAMS = fileURLToPath(new URL('../fixtures/trace-two-streams.txt', import.meta.url));

test('plot draws two panels for two streams; --from/--to pages keep one of them; times cut the windows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-plot-cli-'));
  try {
    const all = join(dir, 'all.svg');
    const r = await aheadfs(['plot', TWO_STREAMS, '-o', all]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /inode 2, 45 readahead windows, 1024 reads/);
    const svg = await readFile(all, 'utf8');
    t.true(svg.includes('>pages 0-') && svg.includes('>pages 12288-'), 'a panel per stream');
    for (const entry of ['PG_readahead marker page', 'read', 'fh 2', 'fh 3']) t.true(svg.includes(`>${entry}</text>`), entry);

    const high = join(dir, 'high.svg');
    const h = await aheadfs(['plot', TWO_STREAMS, '-o', high, '--from', 'page:12288', '--windows', '0']);
    t.is(h.code, 0, h.stderr);
    t.regex(h.stdout, /512 reads/, 'only the reads of the stream from page 12288');
    t.false((await readFile(high, 'utf8')).includes('>pages 0-'), 'one panel');

    const early = await aheadfs(['plot', TWO_STREAMS, '-o', join(dir, 'early.png'), '--to', '10ms', '--windows', '0']);
    t.is(early.code, 0, early.stderr);
    const n = Number(/(\d+) readahead windows/.exec(early.stdout)?.[1]);
    t.true(n > 0 && n < 45, `${n} windows in the first 10 ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
