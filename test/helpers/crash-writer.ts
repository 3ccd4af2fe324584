/**
 * The fsync-heavy writer of the crash cycles (run as a child: node --import=tsx).
 *
 *   crash-writer.ts <dir> <seed> <start0> <start1> ...
 *
 * For each file id i (one per start argument): open <dir>/w<i>, cut it to start_i records,
 * fsync, and print `ready <i> <start_i - 1>`. Then forever: pick a file, write a batch of
 * 1-8 records after its last one (as one pwrite, one per record, or records cut in two at a
 * seeded point), fsync or fdatasync it, and print `ack <i> <last seq>`: every record of file
 * i up to that seq is on stable storage. One batch in four is not synced (nor acknowledged)
 * before the next: what a crash finds of it may be anything of its own bytes or zeros. Now and then a scratch file (s<pid>-<n>, all
 * SCRATCH_BYTE) is written, synced and unlinked, so freed blocks get reused. Ends when killed or when the mount fails
 * under it (exit 1 with the error on stderr).
 */

import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fileName, recordFor, REC_SIZE, SCRATCH_BYTE } from './records.js';
import { mulberry32 } from './prng.js';


async function main(): Promise<void> {
  const [dir, seedArg, ...startArgs] = process.argv.slice(2);
  if (!dir || !seedArg || startArgs.length === 0) throw new Error('usage: crash-writer.ts <dir> <seed> <start>...');
  const rnd = mulberry32(Number(seedArg));
  const next = startArgs.map(Number);
  const fds: FileHandle[] = [];
  for (let i = 0; i < next.length; i++) {
    // O_RDWR | O_CREAT without O_APPEND (under O_APPEND Linux ignores pwrite's offset).
    const fh = await open(join(dir, fileName(i)), constants.O_RDWR | constants.O_CREAT, 0o644);
    await fh.truncate(next[i]! * REC_SIZE);
    await fh.sync();
    fds.push(fh);
    process.stdout.write(`ready ${i} ${next[i]! - 1}\n`);
  }
  for (let scratch = 0; ; ) {
    if (rnd() < 0.15) {
      // Churn the allocator: a scratch file of SCRATCH_BYTE, written, synced, unlinked. Its
      // blocks go back to the free list and the record files get them next; a record file
      // that showed them after a crash would show another file's bytes.
      const path = join(dir, `s${process.pid}-${scratch++}`);
      const fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
      await fh.write(Buffer.alloc((4 + Math.floor(rnd() * 60)) * 4096, SCRATCH_BYTE), 0);
      await fh.sync();
      await fh.close();
      await unlink(path);
    }
    const i = Math.floor(rnd() * fds.length);
    const fh = fds[i]!;
    const n = 1 + Math.floor(rnd() * 8);
    const first = next[i]!;
    const recs = Buffer.concat(Array.from({ length: n }, (_, k) => recordFor(i, first + k)));
    const how = rnd();
    if (how < 0.4) {
      await fh.write(recs, 0, recs.length, first * REC_SIZE);
    } else if (how < 0.7) {
      for (let k = 0; k < n; k++) await fh.write(recs, k * REC_SIZE, REC_SIZE, (first + k) * REC_SIZE);
    } else {
      // Each record in two writes, the second half first: a crash between them leaves a
      // record with a hole (zeros) in the middle, never someone else's bytes.
      for (let k = 0; k < n; k++) {
        const cut = 1 + Math.floor(rnd() * (REC_SIZE - 1));
        const at = k * REC_SIZE;
        await fh.write(recs, at + cut, REC_SIZE - cut, (first + k) * REC_SIZE + cut);
        await fh.write(recs, at, cut, (first + k) * REC_SIZE);
      }
    }
    next[i] = first + n;
    // One batch in four is left unsynced (dirty in a writeback mount, written back by the
    // flusher or not at all before the kill); the next synced batch acknowledges it too.
    if (rnd() < 0.25) continue;
    if (rnd() < 0.5) await fh.sync();
    else await fh.datasync();
    process.stdout.write(`ack ${i} ${first + n - 1}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`crash-writer: ${(err as Error).message}\n`);
  process.exit(1);
});
