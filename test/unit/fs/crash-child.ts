/**
 * Child process for crash.test.ts: hammers a store with metadata operations from several
 * concurrent workers and prints one line per operation once its promise has resolved
 * (i.e. committed). The parent kills it with SIGKILL at a random moment.
 *
 *   ack create <name> <ino>     ack unlink <name>     ack size <name> <bytes>
 *   start unlink <name>         (printed before the unlink: it may or may not commit)
 */

import { MetaStore, ROOT_INO } from '../../../src/fs/meta.js';
import { readSuperblock } from '../../../src/fs/superblock.js';

const store = process.argv[2]!;
const meta = await MetaStore.open(store, await readSuperblock(store));
const say = (line: string): void => void process.stdout.write(line + '\n');

async function worker(w: number): Promise<void> {
  for (let i = 0; ; i++) {
    const name = `w${w}-${i}`;
    const ino = await meta.create(ROOT_INO, name, 0o644, 0, 0);
    say(`ack create ${name} ${ino}`);
    const blocks = 1 + ((i * 7 + w) % 24);
    const runs = meta.allocateBlocks(ino, 0, blocks);
    let fb = 0;
    const maps = runs.map((r) => ({ fileBlock: (fb += r.len) - r.len, devBlock: r.start, len: r.len }));
    await meta.attachExtents(ino, maps, blocks * 4096);
    say(`ack size ${name} ${blocks * 4096}`);
    if (i % 3 === 1) {
      await meta.truncate(ino, 4096);
      say(`ack size ${name} 4096`);
    }
    if (i >= 2) {
      const old = `w${w}-${i - 2}`;
      say(`start unlink ${old}`);
      const { ino: gone, nlink } = await meta.unlink(ROOT_INO, old);
      say(`ack unlink ${old}`);
      if (nlink === 0 && i % 5 !== 0) await meta.freeInode(gone); // every 5th stays an orphan
    }
  }
}

say('ready');
await Promise.all([0, 1, 2, 3].map(worker));
