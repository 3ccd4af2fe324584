/**
 * The fsx exerciser's own checks (test/helpers/fsx.ts), on a local directory: the model
 * agrees with a real filesystem, and a file changed behind the model's back is caught,
 * with the operation log in the message.
 */

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOp, FsxMismatch, runOps, setupRun, teardownRun, type Op } from '../helpers/fsx.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-fsx-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const OPS: Op[] = [
  { op: 'write', file: 0, off: 5000, len: 9000, seed: 7 },
  { op: 'truncate', file: 0, size: 6000 },
  { op: 'truncate', file: 0, size: 20000 },
  { op: 'write', file: 1, off: 0, len: 300 * 1024, seed: 8 },
  { op: 'read', file: 0, off: 4000, len: 20000 },
  { op: 'reopen', file: 1 },
  { op: 'read', file: 1, off: 300 * 1024 - 10, len: 4096 },
  { op: 'fsync', file: 0 },
  { op: 'read', file: 2, off: 0, len: 10 },
];

test('the model agrees with the local filesystem on writes, truncates up and down, reads at EOF', async (t) => {
  const dir = await tempDir(t);
  await t.notThrowsAsync(runOps(dir, OPS));
});

test('a byte changed behind the model is caught, with the operation log', async (t) => {
  const dir = await tempDir(t);
  const { model, real } = await setupRun(dir);
  try {
    await applyOp(real, model, OPS[0]!);
    await writeFile(real.paths[0]!, Buffer.from([1]), { flag: 'r+' }); // offset 0 was a hole
    const err = await t.throwsAsync(applyOp(real, model, { op: 'fsync', file: 0 }), { instanceOf: FsxMismatch });
    t.regex(err!.message, /file 0 differs from the model: first difference at offset 0 /);
    t.regex(err!.message, /1 \{"op":"write","file":0,"off":5000,"len":9000,"seed":7\},\n\s+2 \{"op":"fsync","file":0\}/);
  } finally {
    await teardownRun(real);
  }
});
