import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetaStore, ROOT_INO } from '../../../src/fs/meta.js';
import { makeStore, SMALL_BLOCKS } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Run the child until it has acknowledged `acks` operations, then SIGKILL it. */
function runAndKill(store: string, acks: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', path.join(here, 'crash-child.ts'), store], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) if (l.startsWith('ack ') || l.startsWith('start ')) lines.push(l);
      if (lines.filter((l) => l.startsWith('ack ')).length >= acks) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

for (const acks of [40, 400]) {
  test(`kill -9 after ${acks} acknowledged operations leaves a consistent store with every acknowledged change`, async (t) => {
    const { store, sb } = await makeStore(t);
    const lines = await runAndKill(store, acks);

    // what the child was told had committed
    const expectLive = new Map<string, number>();
    const size = new Map<string, number>();
    const unlinked = new Set<string>();
    for (const l of lines) {
      const [kind, op, name, arg] = l.split(' ');
      if (kind === 'ack' && op === 'create') expectLive.set(name!, Number(arg));
      if (kind === 'ack' && op === 'size') size.set(name!, Number(arg));
      if (op === 'unlink') {
        expectLive.delete(name!); // started: it may have committed without its ack being read
        if (kind === 'ack') unlinked.add(name!);
      }
    }

    // open runs the consistency check (mapped + free == device) and frees orphans
    const meta = await MetaStore.open(store, sb);
    t.teardown(() => meta.close());
    for (const name of unlinked) t.is(meta.lookup(ROOT_INO, name), undefined, `${name} was unlinked`);
    for (const [name, ino] of expectLive) {
      t.is(meta.lookup(ROOT_INO, name), ino, `${name} was acknowledged`);
      // a later size change may have committed without its ack being read: at least as new
      const s = meta.getInode(ino).size;
      if (size.has(name)) t.true(s === size.get(name) || s === 4096, `${name} size ${s}`);
    }

    // no block is in two places: every file's extents and the free list tile the device
    const pieces: { start: number; len: number; who: string }[] = meta.allocatorState().extents.map((r) => ({ ...r, who: 'free' }));
    for (const name of meta.readdir(ROOT_INO)) {
      const ino = meta.lookup(ROOT_INO, name)!;
      for (const e of meta.fileExtents(ino)) pieces.push({ start: e.devBlock, len: e.len, who: name });
      t.true(meta.fileExtents(ino).every((e) => e.fileBlock * 4096 < meta.getInode(ino).size), `${name}: no extent past EOF`);
    }
    pieces.sort((a, b) => a.start - b.start);
    let pos = 0;
    for (const p of pieces) {
      t.is(p.start, pos, `gap or overlap at block ${pos} (${p.who})`);
      pos = p.start + p.len;
    }
    t.is(pos, SMALL_BLOCKS);
    // and the store keeps working
    const ino = await meta.create(ROOT_INO, 'after-crash', 0o644, 0, 0);
    t.is(meta.lookup(ROOT_INO, 'after-crash'), ino);
  });
}
