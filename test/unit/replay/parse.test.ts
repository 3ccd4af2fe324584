/**
 * The trace formats `aheadfs replay` reads: fio iolog v2 and v3, aheadfs' own `read`
 * lines, blkparse text; and the one-line refusals of anything else.
 */

import test from 'ava';
import { UsageError } from '../../../src/errors.js';
import { parseTrace, type ReplayTrace } from '../../../src/replay/parse.js';

function reads(t: ReplayTrace): string[] {
  return Array.from({ length: t.count }, (_, i) => {
    const h = t.handles[t.handle[i]!]!;
    return `${t.files[h.file]!.name}#${h.fh} ${t.pos[i]}+${t.len[i]}`;
  });
}

test('fio iolog v2: reads per file in order, writes and syncs skipped, sizes from the furthest read', (t) => {
  const tr = parseTrace(['fio version 2 iolog', '/d/a add', '/d/b add', '/d/a open', '/d/b open', '/d/a read 0 4096', '/d/b read 8192 16384', '/d/a write 4096 4096', '/d/a sync 0 0', '/d/a read 4096 4096', '/d/a close', ''].join('\n'));
  t.is(tr.format, 'fio-v2');
  t.deepEqual(reads(tr), ['/d/a#1 0+4096', '/d/b#2 8192+16384', '/d/a#1 4096+4096']);
  t.deepEqual(tr.files.map((f) => [f.name, f.ino, f.size]), [['/d/a', 1, 8192], ['/d/b', 2, 24576]]);
  t.is(tr.skipped, 2);
});

test('fio iolog v3: the leading time is read past', (t) => {
  const tr = parseTrace(['fio version 3 iolog', '0 /d/a add', '12 /d/a open', '20 /d/a read 0 4096', '35 /d/a read 1048576 131072', '40 /d/a close'].join('\n'));
  t.is(tr.format, 'fio-v3');
  t.deepEqual(reads(tr), ['/d/a#1 0+4096', '/d/a#1 1048576+131072']);
  const err = t.throws(() => parseTrace('fio version 3 iolog\n/d/a read 0 4096\n'), { instanceOf: UsageError });
  t.regex(err.message, /iolog line 2: expected "<µs> <file> <action>/);
});

test('aheadfs trace: the read lines keep their inode and handle; every other kind is skipped', (t) => {
  const text = [
    '# replay 6.18 ondemand',
    'read ino=7 fh=3 pos=0 len=4096 t=10',
    'ra sync ino=7 fh=3 index=0 req=1 start=0 size=4 async=3 order=0 reason=window t=11',
    'page_cache_sync_ra: ino=7 index=0 req_count=1 order=0 size=0 async_size=0 ra_pages=32 mmap_miss=0 prev_pos=-1 t=11',
    'bio submit op=read sector=0 bytes=16384 t=12',
    'rq complete op=read sector=0 bytes=16384 status=ok ms=0.2 t=200',
    'read ino=9 fh=4 pos=8192 len=100 t=300',
    'read ino=7 fh=5 pos=4096 len=4096 pid=4242 t=301', // a mount's line carries the reader's pid
  ].join('\n');
  const tr = parseTrace(text);
  t.is(tr.format, 'aheadfs');
  t.deepEqual(reads(tr), ['ino7#3 0+4096', 'ino9#4 8192+100', 'ino7#5 4096+4096']);
  t.deepEqual(tr.files.map((f) => f.ino), [7, 9]);
  t.is(tr.skipped, 4);
  t.throws(() => parseTrace('ra sync ino=7 fh=3 index=0 req=1 start=0 size=4 async=3 order=0 reason=window t=1\n'), { message: /no `read` lines/ });
  t.throws(() => parseTrace('read ino=7 fh=3 pos=0 len=4096 t=1\nhello\n'), { message: /trace line 2: not an aheadfs trace line/ });
});

test('blkparse: queued reads of the device (sectors of 512 bytes), writes and other actions skipped', (t) => {
  const text = [
    '  8,0    3        1     0.000000000   697  Q   R 223490 + 8 [dd]',
    '  8,0    3        2     0.000001000   697  G   R 223490 + 8 [dd]',
    '  8,0    3        3     0.000002000   697  D   R 223490 + 8 [dd]',
    '  8,0    3        4     0.000100000   697  C   R 223490 + 8 [0]',
    '  8,0    3        5     0.000200000   697  Q  WS 100 + 16 [jbd2]',
    '  8,0    3        6     0.000300000   697  Q  RA 223498 + 256 [dd]',
    'CPU3 (8,0):',
    ' Reads Queued:           2,      132KiB  Writes Queued:           1,        8KiB',
  ].join('\n');
  const tr = parseTrace(text);
  t.is(tr.format, 'blkparse');
  t.deepEqual(reads(tr), [`dev8,0#1 ${223490 * 512}+4096`, `dev8,0#1 ${223498 * 512}+131072`]);
});

test('bad input is one UsageError line', (t) => {
  for (const [text, re] of [
    ['', /empty/],
    ['hello world\n', /not a trace replay knows/],
    ['fio version 4 iolog\n', /unsupported fio iolog version/],
    ['fio version 2 iolog\n/d/a read 0\n', /expected "<file> read <offset> <length>"/],
    ['fio version 2 iolog\n/d/a read 0 0\n', /bad length "0"/],
    ['fio version 2 iolog\n/d/a frobnicate\n', /unknown action "frobnicate"/],
    ['fio version 2 iolog\n/d/a add\n', /has no reads/],
  ] as const) {
    const err = t.throws(() => parseTrace(text), { instanceOf: UsageError });
    t.regex(err.message, re);
    t.false(err.message.includes('\n'));
  }
});
