/**
 * The walk child of fsck and of mount's pre-check: `node walk-child.js <store> <deviceBlocks>
 * check|repair [exportBlocks]` (exportBlocks: what the NBD export holds, when fsck asked it). Opens meta/ (read-only for `check`), reads every record, checks them
 * (check.ts), and for `repair` applies the plan in one transaction and checks again.
 * Prints one JSON line (`WalkReport`) on stdout and exits 0; a record LMDB cannot decode
 * prints `{"error": ...}` and exits 3. A damaged page may kill it with SIGSEGV or SIGBUS:
 * the parent (index.ts) turns that into "corrupt".
 */

import { checkMeta, type CheckResult } from './check.js';
import { MetaWalk } from './walk.js';

/** A check without the plan's record operations (they stay in the child). */
export type CheckSummary = Omit<CheckResult, 'plan'> & { fixes: string[]; refused?: string };

/** `repaired` and `after` are there when a repair was asked for (`after` = `before` if nothing was changed). */
export type WalkReport =
  | { before: CheckSummary; repaired?: undefined; after?: undefined }
  | { before: CheckSummary; repaired: string[]; after: CheckSummary }
  | { error: string };

function summary(r: CheckResult): CheckSummary {
  const s: CheckSummary = { problems: r.problems, orphans: r.orphans, counts: r.counts, fixes: r.plan.fixes };
  if (r.plan.refused !== undefined) s.refused = r.plan.refused;
  return s;
}

async function run(store: string, deviceBlocks: number, repair: boolean, exportBlocks: number | undefined): Promise<WalkReport> {
  let walk = MetaWalk.open(store, { writable: false });
  const before = checkMeta(walk.read(), deviceBlocks, exportBlocks);
  if (!repair) {
    await walk.close();
    return { before: summary(before) };
  }
  if (before.plan.refused !== undefined || before.plan.ops.length === 0) {
    await walk.close();
    return { before: summary(before), repaired: [], after: summary(before) };
  }
  await walk.close();
  walk = MetaWalk.open(store, { writable: true });
  try {
    // Read again under the writer: the plan was made from this very state.
    const plan = checkMeta(walk.read(), deviceBlocks, exportBlocks).plan;
    await walk.apply(plan.ops);
    const after = checkMeta(walk.read(), deviceBlocks, exportBlocks);
    return { before: summary(before), repaired: plan.fixes, after: summary(after) };
  } finally {
    await walk.close();
  }
}

const [store, blocks, mode, exportBlocks] = process.argv.slice(2);
run(store!, Number(blocks), mode === 'repair', exportBlocks === undefined ? undefined : Number(exportBlocks)).then(
  (report) => {
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stdout.write(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }) + '\n');
    process.exitCode = 3;
  },
);
