/**
 * No false alarms: random namespace and data operations through MetaStore (mkdir, create,
 * symlink, link, unlink, rmdir, rename, writes, truncates, inodes left unlinked-but-open)
 * must leave LMDB pages and records that the fsck checks call clean, with exactly the orphans the
 * operations left. A mount refuses any store fsck does not call clean, so a false alarm
 * here would lock a user out of a healthy store.
 */

import test from 'ava';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkMeta } from '../../../src/fs/fsck/check.js';
import { walkLmdb } from '../../../src/fs/fsck/lmdb-walk.js';
import { MetaWalk } from '../../../src/fs/fsck/walk.js';
import { MetaStore, ROOT_INO } from '../../../src/fs/meta.js';
import { makeStore, SMALL_BLOCKS } from './helpers.js';

type Op =
  | { op: 'mkdir' | 'create' | 'symlink'; dir: number; name: number }
  | { op: 'link'; from: number; dir: number; name: number }
  | { op: 'unlink' | 'rmdir'; dir: number; name: number; keepOpen: boolean }
  | { op: 'rename'; dir: number; name: number; toDir: number; toName: number }
  | { op: 'write'; file: number; block: number; blocks: number }
  | { op: 'truncate'; file: number; size: number };

const small = fc.nat(7);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom('mkdir' as const, 'create' as const, 'symlink' as const), dir: small, name: small }),
  fc.record({ op: fc.constant('link' as const), from: small, dir: small, name: small }),
  fc.record({ op: fc.constantFrom('unlink' as const, 'rmdir' as const), dir: small, name: small, keepOpen: fc.boolean() }),
  fc.record({ op: fc.constant('rename' as const), dir: small, name: small, toDir: small, toName: small }),
  fc.record({ op: fc.constant('write' as const), file: small, block: fc.nat(40), blocks: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ op: fc.constant('truncate' as const), file: small, size: fc.nat(60 * 4096) }),
);

/** Apply one op; refusals (ENOENT, EEXIST, ENOTEMPTY, ...) are part of the game. */
async function apply(meta: MetaStore, o: Op, dirs: number[], files: number[], open: Set<number>): Promise<void> {
  const dir = (k: number): number => dirs[k % dirs.length]!;
  const file = (k: number): number | undefined => files[k % Math.max(1, files.length)];
  const name = (k: number): string => `n${k}`;
  const dropped = async (d: { ino: number; nlink: number } | undefined, keepOpen: boolean): Promise<void> => {
    if (!d || d.nlink > 0) return;
    if (keepOpen) open.add(d.ino); // unlinked while open, then a crash: an orphan
    else await meta.freeInode(d.ino);
  };
  switch (o.op) {
    case 'mkdir':
      dirs.push(await meta.mkdir(dir(o.dir), name(o.name), 0o755, 0, 0));
      return;
    case 'create':
      files.push(await meta.create(dir(o.dir), name(o.name), 0o644, 0, 0));
      return;
    case 'symlink':
      await meta.symlink(dir(o.dir), name(o.name), 'somewhere/else', 0, 0);
      return;
    case 'link': {
      const f = file(o.from);
      if (f !== undefined) await meta.link(f, dir(o.dir), name(o.name));
      return;
    }
    case 'unlink':
      await dropped(await meta.unlink(dir(o.dir), name(o.name)), o.keepOpen);
      return;
    case 'rmdir':
      await meta.rmdir(dir(o.dir), name(o.name));
      return;
    case 'rename':
      await dropped(await meta.rename(dir(o.dir), name(o.name), dir(o.toDir), name(o.toName)), false);
      return;
    case 'write': {
      const f = file(o.file);
      if (f === undefined) return;
      const holes = meta.mapBlocks(f, o.block, o.blocks).filter((m) => m.devBlock === undefined);
      const maps = [];
      for (const h of holes) {
        let at = h.fileBlock;
        for (const r of meta.allocateBlocks(f, h.fileBlock, h.len)) {
          maps.push({ fileBlock: at, devBlock: r.start, len: r.len });
          at += r.len;
        }
      }
      await meta.attachExtents(f, maps, (o.block + o.blocks) * 4096 - 100);
      return;
    }
    case 'truncate': {
      const f = file(o.file);
      if (f !== undefined) await meta.truncate(f, o.size);
      return;
    }
  }
}

test('random MetaStore histories check clean, with exactly the orphans left open', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), async (ops) => {
      const { store, sb } = await makeStore(t);
      const meta = await MetaStore.open(store, sb);
      const dirs = [ROOT_INO];
      const files: number[] = [];
      const open = new Set<number>();
      for (const o of ops) {
        try {
          await apply(meta, o, dirs, files, open);
        } catch (err) {
          if (!(err instanceof Error && err.name === 'FsError')) throw err;
        }
      }
      await meta.close();
      const walk = MetaWalk.open(store, { writable: false });
      const r = checkMeta(walk.read(), SMALL_BLOCKS);
      await walk.close();
      const problems = [...walkLmdb(join(store, 'meta', 'data.mdb')), ...r.problems.map((p) => p.message)];
      if (problems.length > 0) throw new Error(`false alarm after ${JSON.stringify(ops)}:\n${problems.join('\n')}`);
      const orphans = r.orphans.map((o) => o.ino).sort((a, b) => a - b);
      if (JSON.stringify(orphans) !== JSON.stringify([...open].sort((a, b) => a - b))) {
        throw new Error(`orphans ${JSON.stringify(orphans)}, expected ${JSON.stringify([...open])} after ${JSON.stringify(ops)}`);
      }
      if (r.counts.usedBlocks + r.counts.freeBlocks !== SMALL_BLOCKS) throw new Error('space does not add up');
    }),
    { numRuns: 60, seed: 13 },
  );
  t.pass();
});
