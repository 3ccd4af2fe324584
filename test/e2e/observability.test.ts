/**
 * Observability through a real mount: `.aheadfs/files` shows a held-open file's ra state
 * and per-handle figures, tracing can be switched off, and the `stats`, `trace` and
 * related CLI commands print what the control files hold.
 */

import test from 'ava';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRandomFile } from '../helpers/files.js';
import { clearTrace, control, dropCaches, readControl, waitForIdleDevice } from '../helpers/control.js';
import { spawn } from 'node:child_process';
import { aheadfs, BIN, sh } from '../helpers/cli.js';
import { withMount } from '../helpers/mount.js';

const MiB = 1 << 20;

/** Poll `ok` every 50 ms until it holds or `ms` passed (a loaded machine starts node slowly). */
async function waitFor(ok: () => boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const FILES_HEADER = '# path ino fh flags ra_start ra_size ra_async ra_pages prev_pos cached_pages ra_submitted ra_hit ra_wasted ra_order cached_folios';

interface FilesRow {
  path: string;
  ino: number;
  fh: number;
  flags: string;
  raStart: number;
  raSize: number;
  raAsync: number;
  raPages: number;
  prevPos: number;
  cached: number;
  raSubmitted: number;
  raHit: number;
  raWasted: number;
  raOrder: number;
  cachedFolios: number;
}

function parseFiles(text: string): FilesRow[] {
  const lines = text.trimEnd().split('\n');
  if (lines[0] !== FILES_HEADER) throw new Error(`unexpected files header: ${lines[0]}`);
  return lines.slice(1).map((line) => {
    const [path, ino, fh, flags, ...rest] = line.split(' ');
    const n = rest.map(Number);
    if (n.length !== 11 || n.some((v) => !Number.isInteger(v))) throw new Error(`malformed files line: ${line}`);
    return {
      path: path!,
      ino: Number(ino),
      fh: Number(fh),
      flags: flags!,
      raStart: n[0]!,
      raSize: n[1]!,
      raAsync: n[2]!,
      raPages: n[3]!,
      prevPos: n[4]!,
      cached: n[5]!,
      raSubmitted: n[6]!,
      raHit: n[7]!,
      raWasted: n[8]!,
      raOrder: n[9]!,
      cachedFolios: n[10]!,
    };
  });
}

for (const kernel of ['4.18', '6.18'] as const) {
test(`files: a file held open while it reads shows its ra state and its own readahead figures (--kernel ${kernel})`, async (t) => {
  await withMount(t, { size: '256M', mountArgs: ['--kernel', kernel] }, async (mnt) => {
    const file = join(mnt, 'held.bin');
    await writeRandomFile(file, 1 * MiB);
    await dropCaches(mnt);
    t.deepEqual(parseFiles(await readControl(mnt, 'files')), [], 'nothing open');

    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      for (let i = 0; i < 64; i++) await fh.read(buf, 0, 4096, i * 4096); // 64 sequential 4 KiB reads
      const rows = parseFiles(await readControl(mnt, 'files'));
      t.is(rows.length, 1, 'one open file');
      const row = rows[0]!;
      t.is(row.path, '/held.bin');
      t.true(row.ino > 0);
      t.true(row.fh > 0);
      t.regex(row.flags, /^0[0-7]+$/, 'octal open flags');
      t.is(Number.parseInt(row.flags, 8) & 3, 0, 'O_RDONLY');
      t.is(row.raPages, 32, 'read_ahead_kb 128');
      t.true(row.raSize > 0, 'a window was set up');
      if (kernel === '4.18') {
        // prev_pos = prev_index << 12 | prev_offset, as 4.18 keeps it: page 63, offset 0 (wrapped)
        t.is(row.prevPos, 63 * 4096, 'prev_pos names the last page read');
        t.is(row.raOrder, 0, 'order-0 pages only');
        t.is(row.cachedFolios, row.cached, 'one folio per page');
      } else {
        // 6.18's filemap_read keeps last_pos, the byte after the last one read.
        t.is(row.prevPos, 64 * 4096, 'prev_pos is where the last read ended');
        t.true(row.raOrder >= 2, `async windows raised ra->order (${row.raOrder})`);
        t.true(row.cachedFolios < row.cached, `large folios: ${row.cachedFolios} folios hold ${row.cached} pages`);
      }
      t.true(row.cached >= 64, 'the pages read (and ahead) are cached');
      t.true(row.raSubmitted >= row.cached - 1, 'this handle read its pages ahead');
      t.true(row.raHit > 0, 'reads found pages read ahead by this handle');
      t.true(row.raHit <= 63, 'page 0 was read on demand, not ahead');
      t.is(row.raWasted, 0);

      // drop_caches drops the unread window: wasted, and charged to this handle. The
      // last read's async window may still be in flight (locked pages are not dropped).
      await waitForIdleDevice(mnt);
      await dropCaches(mnt);
      const after = parseFiles(await readControl(mnt, 'files'))[0]!;
      // submitted = page 0 (the first read's own page) + pages read ahead (hit or wasted)
      t.is(after.raWasted, row.raSubmitted - 1 - row.raHit, 'every read-ahead page not read was wasted');
    } finally {
      await fh.close();
    }
    t.deepEqual(parseFiles(await readControl(mnt, 'files')), [], 'closed again');
  });
});
}

test('tunables/trace = 0 leaves the trace empty during reads; 1 turns it back on', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const file = join(mnt, 'seq.bin');
    await writeRandomFile(file, 1 * MiB);
    await dropCaches(mnt);
    await control(mnt, 'tunables/trace', '0');
    t.is((await readControl(mnt, 'tunables/trace')).trim(), '0');
    await clearTrace(mnt);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    t.is(await readControl(mnt, 'trace'), '', 'nothing traced while off');

    await control(mnt, 'tunables/trace', '1');
    await dropCaches(mnt);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    const level1 = (await readControl(mnt, 'trace')).trimEnd().split('\n');
    t.false(level1.some((l) => l.startsWith('read ')), 'level 1: no per-read lines');
    t.true(level1.some((l) => l.startsWith('ra ')));

    await control(mnt, 'tunables/trace', '2');
    t.is((await readControl(mnt, 'tunables/trace')).trim(), '2');
    await clearTrace(mnt);
    await dropCaches(mnt);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    const lines = (await readControl(mnt, 'trace')).trimEnd().split('\n');
    t.true(lines.length > 1, 'the dd left trace lines');
    for (const line of lines) t.regex(line, / t=\d+$/, 'every line ends with t=<µs>');
    const kinds = new Set(lines.map((l) => l.split(' ')[0]));
    for (const k of ['read', 'ra', 'bio', 'plug', 'rq']) t.true(kinds.has(k), `a ${k} line`);

    const err = await control(mnt, 'tunables/trace', 'maybe').catch((e: NodeJS.ErrnoException) => e);
    t.is((err as NodeJS.ErrnoException | undefined)?.code, 'EINVAL');
  });
});

/** `name value` pairs of the human tables of `aheadfs stats`. */
function parseStatsTables(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^  (\w+)\s+(-?\d+)(?:\s|$)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('stats --json parses and matches the stats tables; bad --watch values exit 2 with one line', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt, ctx) => {
    const file = join(mnt, 'a.bin');
    await writeRandomFile(file, 1 * MiB);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    const json = await ctx.cli(['stats', mnt, '--json']);
    t.is(json.code, 0, json.stderr);
    const snap = JSON.parse(json.stdout) as Record<string, number>;
    const table = await ctx.cli(['stats', mnt]);
    t.is(table.code, 0, table.stderr);
    for (const group of ['vfs', 'pagecache', 'readahead', 'block', 'device']) t.regex(table.stdout, new RegExp(`^${group}$`, 'm'));
    const rows = parseStatsTables(table.stdout);
    t.deepEqual([...rows.keys()].sort(), Object.keys(snap).sort(), 'the same names');
    for (const [name, value] of rows) t.is(value, snap[name], name); // an idle mount: nothing moves between the two
    t.true(snap.read_bytes! >= MiB);

    for (const bad of ['0', '-1', 'abc', '1e9']) {
      const r = await ctx.cli(['stats', mnt, '--watch', bad]);
      t.is(r.code, 2, `--watch ${bad}`);
      t.is(r.stdout, '');
      t.is(r.stderr, `aheadfs: bad --watch '${bad}': expected a number of seconds > 0, at most 86400\n`, `--watch ${bad}: one line`);
    }
  });
});

test('stats --watch redraws with per-second rates until interrupted', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    const file = join(mnt, 'w.bin');
    await writeRandomFile(file, 4 * MiB);
    const child = spawn(process.execPath, [BIN, 'stats', mnt, '--watch', '0.3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const redraws = (): number => out.split(/^every 0\.3s, rates over the last /m).length - 1;
    try {
      t.true(await waitFor(() => /^device$/m.test(out)), 'the first table');
      for (let i = 0; i < 3; i++) {
        await dropCaches(mnt);
        await sh(`dd if=${file} of=/dev/null bs=64k status=none`);
        const seen = redraws();
        t.true(await waitFor(() => redraws() > seen), `a redraw after read ${i + 1}`);
      }
      t.true(await waitFor(() => redraws() >= 4), 'four redraws');
    } finally {
      child.kill('SIGINT');
    }
    await exited;
    t.true(redraws() >= 3, `at least three redraws (got ${redraws()})`);
    t.regex(out, /^  read_bytes\s+\d+\s+bytes.*\s\d+\.\d\/s$/m, 'a rate beside read_bytes');
    t.regex(out, /^  pages_free\s+\d+\s+pages$/m, 'no rate for a gauge');
    const rates = [...out.matchAll(/^  disk_read_bytes\s+\d+\s+bytes.*\s(\d+\.\d)\/s$/gm)].map((m) => Number(m[1]));
    t.true(rates.some((r) => r > 0), 'the device read something during the watch');
  });
});

test('trace --kind ra prints only the ra lines of a dd: the seed windows (--kernel 4.18); unknown kinds exit 2', async (t) => {
  await withMount(t, { size: '256M', mountArgs: ['--kernel', '4.18'] }, async (mnt, ctx) => {
    await control(mnt, 'tunables/trace', '2'); // with one `read` line per FUSE read
    const file = join(mnt, 'seq.bin');
    await writeRandomFile(file, 1 * MiB); // 256 pages
    await dropCaches(mnt);
    await clearTrace(mnt);
    await sh(`dd if=${file} of=/dev/null bs=4k status=none`);
    const r = await ctx.cli(['trace', mnt, '--kind', 'ra']);
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    for (const line of lines) t.regex(line, /^ra (sync|async) ino=\d+ fh=\d+ index=\d+ req=\d+ start=\d+ size=\d+ async=\d+ order=0 reason=\w+(?: pid=\d+)? t=\d+$/);
    const windows = lines.map((l) => {
      const m = / start=(\d+) size=(\d+) async=(\d+) /.exec(l)!;
      return `{${m[1]},${m[2]},${m[3]}}`;
    });
    const want = ['{0,4,3}', '{4,8,8}', '{12,16,16}', '{28,32,32}'];
    for (let start = 60; start < 256; start += 32) want.push(`{${start},32,32}`);
    t.deepEqual(windows, want);

    const all = await ctx.cli(['trace', mnt]);
    t.true(all.stdout.split('\n').length > lines.length, 'without --kind every line');
    const two = await ctx.cli(['trace', mnt, '--kind', 'ra,read']);
    const kinds = new Set(two.stdout.trimEnd().split('\n').map((l) => l.split(' ')[0]));
    t.deepEqual([...kinds].sort(), ['ra', 'read']);

    for (const bad of [['--kind', 'ra,bogus'], ['--kind', ',']]) {
      const b = await ctx.cli(['trace', mnt, ...bad]);
      t.is(b.code, 2, bad.join(' '));
      t.regex(b.stderr, /^aheadfs: .*\n$/, 'one line');
    }
  });
});

test('trace --follow prints each new line once, as it comes', async (t) => {
  await withMount(t, { size: '256M' }, async (mnt) => {
    await control(mnt, 'tunables/trace', '2'); // with one `read` line per FUSE read
    const file = join(mnt, 'f.bin');
    await writeRandomFile(file, 1 * MiB);
    await clearTrace(mnt);
    const child = spawn(process.execPath, [BIN, 'trace', mnt, '--follow', '--kind', 'read'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const count = (): number => out.split('\n').filter((l) => l.startsWith('read ')).length;
    try {
      for (let i = 1; i <= 3; i++) {
        await sh(`dd if=${file} of=/dev/null bs=64k count=4 status=none`); // 4 reads each
        t.true(await waitFor(() => count() >= 4 * i), `the reads of dd ${i} came out`);
      }
      await new Promise((r) => setTimeout(r, 1000)); // several more polls: nothing printed twice
    } finally {
      child.kill('SIGINT');
    }
    await exited;
    const lines = out.trimEnd().split('\n');
    t.is(lines.length, 12, 'three dd runs of 4 reads, each line once');
    for (const line of lines) t.regex(line, /^read ino=\d+ fh=\d+ pos=\d+ len=65536(?: pid=\d+)? t=\d+$/);
  });
});

test('mkfs shows a progress bar on a terminal and nothing on stderr otherwise', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-mkfs-'));
  try {
    const quiet = await aheadfs(['mkfs', join(tmp, 'a'), '--size', '256M', '--block-file-size', '16M']);
    t.is(quiet.code, 0, quiet.stderr);
    t.is(quiet.stderr, '', 'not a terminal: quiet');
    t.regex(quiet.stdout, /^created store .*16 block files of 16 MiB/);
    // script(1) gives the command a pseudo-terminal
    const tty = await sh(`script -qec ${JSON.stringify(`${process.execPath} ${BIN} mkfs ${join(tmp, 'b')} --size 256M --block-file-size 16M`)} /dev/null`);
    t.regex(tty, /mkfs \[.*\] 100% \| 256 MiB\/256 MiB preallocated/);
    t.regex(tty, /created store /);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
