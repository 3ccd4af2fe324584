import test from 'ava';
import type Fuse from 'fuse-native';
import { nullOperations, type NullBacking } from '../../src/bench/nullfs.js';

const FILE = 1 << 20;

function read(ops: Fuse.Operations, path: string, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = -1;
  ops.read!(path, 1, buf, len, pos, (n: number) => (got = n));
  if (got < 0) throw new Error('read did not answer synchronously');
  return buf.subarray(0, got);
}

function write(ops: Fuse.Operations, path: string, pos: number, data: Buffer): number {
  let got = -1;
  ops.write!(path, 1, data, data.length, pos, (n: number) => (got = n));
  return got;
}

test('nullfs: pattern and memory modes serve the same bytes, up to the file size', (t) => {
  const modes: NullBacking[] = ['pattern', 'memory'];
  const [pat, mem] = modes.map((m) => nullOperations(2, FILE, m)) as [Fuse.Operations, Fuse.Operations];
  for (const [pos, len] of [[0, 4096], [12345, 131072], [FILE - 4096, 4096], [FILE - 100, 4096], [FILE, 4096]] as const) {
    const a = read(pat, '/f1', pos, len);
    const b = read(mem, '/f1', pos, len);
    t.is(a.length, Math.max(0, Math.min(len, FILE - pos)), `length at ${pos}`);
    t.true(a.equals(b), `bytes at ${pos}`);
  }
  // Not all one value: a real pattern, so a wrong offset would show.
  t.true(new Set(read(pat, '/f0', 0, 4096)).size > 200);
});

test('nullfs: memory mode keeps what is written inside the file; pattern mode drops it', (t) => {
  const data = Buffer.alloc(8192, 0xab);
  for (const mode of ['pattern', 'memory'] as const) {
    const ops = nullOperations(1, FILE, mode);
    const before = read(ops, '/f0', 40960, 8192);
    t.is(write(ops, '/f0', 40960, data), 8192);
    const after = read(ops, '/f0', 40960, 8192);
    if (mode === 'memory') t.true(after.equals(data), 'memory: read back as written');
    else t.true(after.equals(before), 'pattern: write dropped');
    // Beyond the buffer: the size grows, the bytes are dropped in both modes.
    t.is(write(ops, '/f0', FILE, data), 8192);
    const past = read(ops, '/f0', FILE, 8192);
    t.is(past.length, 8192);
    t.false(past.equals(data), `${mode}: bytes past the buffer are not kept`);
  }
});
