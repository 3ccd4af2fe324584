/**
 * Crash cycles (slow: about a minute): an fsync-heavy writer on four files, the daemon
 * killed with SIGKILL at a seeded random moment, the dead mount cleared, `aheadfs fsck`
 * on the crashed store, a remount, and every file read back:
 *
 *   mount -> writer (records, `ack` after each fsync; scratch files written and unlinked
 *   so freed blocks get reused) -> SIGKILL daemon -> fusermount -uz
 *     -> fsck (exit 0) -> mount -> every acknowledged record intact, every other byte is
 *        this file's own record byte or 0 (never another file's) -> next cycle
 *
 * The mount is a writeback one (the default) with a flusher every 100 ms and data expiring
 * after 200 ms, so kills land before, during and after writebacks of both kinds: the
 * flusher's (unsynced batches) and fsync's. --writeback off is checked the same way in a
 * shorter run.
 *
 * Each cycle's writer continues from the records that survived (it cuts the partial tail).
 * CRASH_SEED=<n> replays another seed; the seed and each cycle's kill moment are logged.
 */

import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeFsck, fsck, killDaemon, mountPid } from '../helpers/crash.js';
import { withMount } from '../helpers/mount.js';
import { fileName, recordFor, REC_SIZE, SCRATCH_BYTE } from '../helpers/records.js';
import { mulberry32 } from '../helpers/prng.js';

const WRITER = fileURLToPath(new URL('../helpers/crash-writer.ts', import.meta.url));
const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : 1340;
if (!Number.isInteger(SEED)) throw new Error(`CRASH_SEED=${process.env.CRASH_SEED}: expected an integer seed`);
const CYCLES = 20;
const FILES = 4;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


interface Writer {
  child: ChildProcess;
  /** Highest acknowledged seq per file (-1: none). Updated as lines arrive. */
  acked: number[];
  ready: Promise<void>;
  exited: Promise<void>;
  stderr: () => string;
}

function startWriter(dir: string, seed: number, start: number[]): Writer {
  const child = spawn(process.execPath, ['--import=tsx', WRITER, dir, String(seed), ...start.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = start.map((s) => s - 1);
  let readyCount = 0;
  let buf = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((res) => (onReady = res));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      const [kind, id, seq] = l.split(' ');
      if (kind === 'ack') acked[Number(id)] = Math.max(acked[Number(id)]!, Number(seq));
      if (kind === 'ready' && ++readyCount === start.length) onReady();
    }
  });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  // A writer that dies before it is ready (say the mount is gone) must not hang the test.
  void exited.then(onReady);
  return { child, acked, ready, exited, stderr: () => err };
}

/** What a file holds after a crash, against the writer's records. */
interface FileCheck {
  problems: string[];
  /** Leading records that are complete and exact: where the next writer continues. */
  intact: number;
}

async function checkFile(path: string, id: number, acked: number): Promise<FileCheck> {
  // A kill before the writer created the file: fine while nothing of it was acknowledged.
  const buf = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && acked < 0) return Buffer.alloc(0);
    throw err;
  });
  const problems: string[] = [];
  if (buf.length < (acked + 1) * REC_SIZE) problems.push(`size ${buf.length} < ${(acked + 1) * REC_SIZE} (records 0..${acked} were acknowledged)`);
  let intact = 0;
  let prefix = true;
  for (let k = 0; k * REC_SIZE < buf.length; k++) {
    const want = recordFor(id, k);
    const got = buf.subarray(k * REC_SIZE, (k + 1) * REC_SIZE);
    const exact = got.length === REC_SIZE && got.equals(want);
    if (exact && prefix) intact++;
    else prefix = false;
    if (k <= acked && !exact) problems.push(`acknowledged record ${k} is not intact`);
    for (let j = 0; j < got.length; j++) {
      if (got[j] === want[j] || got[j] === 0) continue;
      const at = k * REC_SIZE + j;
      const other = [...Array(FILES).keys()].find((f) => f !== id && recordFor(f, k)[j] === got[j] && recordFor(f, k).subarray(j, j + 8).equals(got.subarray(j, j + 8)));
      const scratch = got.subarray(j, j + 8).every((x) => x === SCRATCH_BYTE) ? '; it is a scratch file\'s data' : '';
      problems.push(`byte ${at} (record ${k}) is 0x${got[j]!.toString(16)}: neither this file's record byte 0x${want[j]!.toString(16)} nor 0${other !== undefined ? `; it is file w${other}'s data` : scratch}`);
      break;
    }
    if (problems.length > 5) break;
  }
  return { problems, intact };
}

const WRITEBACK_ARGS = ['--writeback', 'on', '--dirty-writeback-centisecs', '10', '--dirty-expire-centisecs', '20'];

for (const [mode, cycles, mountArgs] of [
  ['writeback', CYCLES, WRITEBACK_ARGS],
  ['write-through', 4, ['--writeback', 'off']],
] as const) {
test(`crash cycles (${mode}): SIGKILL during fsync-heavy writers, ${cycles} times; acknowledged records survive, no foreign bytes, fsck clean (seed ${SEED})`, async (t) => {
  t.timeout(600_000);
  const rnd = mulberry32(SEED);
  await withMount(t, { size: '256M', mountArgs: [...mountArgs] }, async (mnt, ctx) => {
    const dir = join(mnt, 'crash');
    await mkdir(dir);
    let start: number[] = Array<number>(FILES).fill(0);
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const pid = await mountPid(mnt);
      const w = startWriter(dir, Math.floor(rnd() * 2 ** 31), start);
      t.teardown(() => void w.child.kill('SIGKILL'));
      // One cycle in five kills while the writer may still be cutting and syncing its files.
      const early = rnd() < 0.2;
      const delayMs = early ? Math.floor(rnd() * 300) : 50 + Math.floor(rnd() * 1500);
      if (!early) await w.ready;
      await sleep(delayMs);
      const writerDiedFirst = w.child.exitCode !== null;
      await killDaemon(pid, mnt);
      const gone = await Promise.race([w.exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!gone) w.child.kill('SIGKILL');
      await w.exited;
      t.false(writerDiedFirst, `cycle ${cycle}: the writer ended before the kill: ${w.stderr()}`);

      const f = await fsck(ctx.store);
      t.is(f.code, 0, `cycle ${cycle}: fsck of the crashed store: ${describeFsck(f)}`);

      await ctx.mount();
      const acked = [...w.acked];
      const next: number[] = [];
      for (let id = 0; id < FILES; id++) {
        const c = await checkFile(join(dir, fileName(id)), id, acked[id]!);
        t.deepEqual(c.problems, [], `cycle ${cycle} file w${id} (acknowledged 0..${acked[id]})`);
        next.push(c.intact);
      }
      // Scratch files a kill caught before their unlink: not checked, removed.
      for (const n of await readdir(dir)) if (n.startsWith('s')) await unlink(join(dir, n));
      t.log(`cycle ${cycle}: kill ${early ? 'early ' : ''}${delayMs} ms; acknowledged ${acked.map((a) => a + 1).join('/')} records, found ${next.join('/')} intact`);
      start = next;
    }
    t.true(start.some((n) => n > 0), 'the writers got records acknowledged at all');
    await ctx.umount();
    const f = await fsck(ctx.store);
    t.is(f.code, 0, `after the last cycle: ${describeFsck(f)}`);
  });
});
}
