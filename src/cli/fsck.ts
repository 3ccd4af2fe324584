/**
 * `aheadfs fsck <store> [--repair] [--json]`: check a store's metadata against itself and
 * the device (src/fs/fsck). Read-only unless --repair. Holds the store lock while it runs,
 * so a mounted store is refused and no mount starts meanwhile.
 *
 * Output: one line per problem (`<kind>: <what>`), orphans (`orphan: ...`), the fixes of
 * --repair (`repaired: ...`), then one summary line. Exit codes: 0 clean (orphans allowed:
 * the next mount frees them), 1 problems found or left after the repair (also a damaged
 * LMDB file), 2 bad input or refused (not a store, mounted).
 */

import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { fsckStore, problemsLeft, type CheckSummary, type FsckResult } from '../fs/fsck/index.js';
import { lockStore } from '../fs/store-lock.js';
import { checkStore } from './store.js';

/**
 * Run `fn` holding the store lock (the mount daemon's kernel lock, src/fs/store-lock.ts):
 * a mounted store, or one another fsck or mkfs holds, is refused (exit 2).
 */
async function withStoreLock<T>(store: string, fn: () => Promise<T>): Promise<T> {
  let lock;
  try {
    lock = await lockStore(store);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err)); // lockedMessage: names the holder and says to unmount
  }
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function describe(c: CheckSummary): string {
  const k = c.counts;
  return `${plural(k.inodes, 'inode')} (${plural(k.directories, 'directory', 'directories')}), ${plural(k.usedBlocks, 'block')} used + ${k.freeBlocks} free of ${k.deviceBlocks}`;
}

/** The text report, one line each; the last line is the summary. */
export function formatReport(store: string, r: FsckResult, repair: boolean): string[] {
  if (r.state === 'corrupt') {
    const lines = r.problems.map((p) => `corrupt: ${p}`);
    if (repair) lines.push(`not repaired: LMDB's own pages are damaged (restore ${store}/meta from a backup)`);
    lines.push(`${store}: metadata corrupt, ${plural(r.problems.length, 'problem')}`);
    return lines;
  }
  const lines = r.before.problems.map((p) => `${p.kind}: ${p.message}`);
  for (const o of r.before.orphans) lines.push(`orphan: inode ${o.ino} (nlink 0, ${o.blocks} blocks), freed by the next mount or --repair`);
  if (repair && r.before.refused !== undefined) lines.push(`not repaired: ${r.before.refused}`);
  if (r.repaired) for (const f of r.repaired) lines.push(`repaired: ${f}`);
  const last = r.after ?? r.before;
  if (r.after) for (const p of r.after.problems) lines.push(`left: ${p.kind}: ${p.message}`);
  const n = last.problems.length;
  const state = n === 0 ? 'clean' : `${plural(n, 'problem')}${r.after ? ' left after repair' : ''}`;
  const orphans = last.orphans.length > 0 ? `, ${plural(last.orphans.length, 'orphan')}` : '';
  lines.push(`${store}: ${state}${orphans}; ${describe(last)}`);
  return lines;
}

export function fsckCommand(y: Argv): Argv {
  return y.command(
    'fsck <store>',
    "check a store's metadata against itself and the device (read-only unless --repair)",
    (c) =>
      c
        .positional('store', { type: 'string', demandOption: true, describe: 'store directory (not mounted)' })
        .option('repair', { type: 'boolean', default: false, describe: 'free what is unreachable, fix link counts and the free list, then check again' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }),
    async (argv) => {
      const store = resolve(argv.store);
      await checkStore(store);
      const result = await withStoreLock(store, () => fsckStore(store, { repair: argv.repair, probeDevice: true }));
      const left = problemsLeft(result);
      if (argv.json) process.stdout.write(JSON.stringify({ store, clean: left.length === 0, ...result }) + '\n');
      else process.stdout.write(formatReport(store, result, argv.repair).join('\n') + '\n');
      if (left.length === 0) return;
      if (result.state === 'corrupt') throw new Error(`${store}: the metadata file is corrupt beyond what fsck repairs`);
      throw new Error(`${store}: ${plural(left.length, 'problem')}${argv.repair ? ' left after repair' : ` found (repair with: aheadfs fsck --repair ${store})`}`);
    },
  );
}
