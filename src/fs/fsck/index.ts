/**
 * fsck of a store, and the check `aheadfs mount` makes before the daemon opens meta/.
 *
 *   1. superblock (aheadfs.json): the device size, from `deviceBlocks` (the one place);
 *      for a store on NBD, fsck also asks the server what the export holds now
 *      (`probeExport`): an export smaller than the store, or extents past its end, are
 *      problems; a server that cannot be reached is one too (the records are still checked)
 *   2. LMDB's two meta pages, then its B-tree pages (free-page tree, main tree, our named
 *      databases), read with plain reads and bounds checks in this process
 *      (lmdb-header.ts, lmdb-walk.ts)
 *   3. the walk child (walk-child.ts): LMDB maps the file and reads every record of our
 *      five databases; check.ts checks them against each other and the device; with
 *      `repair` it applies the plan and checks again. A SIGSEGV or SIGBUS there (LMDB
 *      trusts the pages it maps) kills only the child and is reported as corruption.
 *
 * Not covered: whether LMDB's free-list records and trees together account for every page
 * exactly once (a leaked LMDB page is harmless), and the data blocks' content (aheadfs has
 * no data checksums).
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NbdDevice } from '../../block/nbd/device.js';
import { Stats } from '../../stats/registry.js';
import { BLOCK_SIZE, META_DIR, deviceBlocks, readSuperblock, type NbdSuperblock } from '../superblock.js';
import { checkLmdbHeader } from './lmdb-header.js';
import { walkLmdb } from './lmdb-walk.js';
import type { CheckSummary, WalkReport } from './walk-child.js';

export type { CheckSummary } from './walk-child.js';
export type { Orphan, Problem, ProblemKind } from './check.js';

/** The longest a walk may take before it is killed (a damaged tree could loop). */
const WALK_TIMEOUT_MS = 120_000;

export type FsckResult =
  /** LMDB's own structure is damaged: nothing of ours could be read safely. */
  | { state: 'corrupt'; problems: string[] }
  /** Our records were read: `before` (and after a repair, what was fixed and `after`). */
  | { state: 'checked'; before: CheckSummary; repaired?: string[]; after?: CheckSummary };

/** Problems left by a result (after the repair, if there was one). */
export function problemsLeft(r: FsckResult): string[] {
  if (r.state === 'corrupt') return r.problems;
  return (r.after ?? r.before).problems.map((p) => p.message);
}

/** One line of at most 160 characters (a decoder's message may quote a whole record). */
function clip(msg: string): string {
  const line = msg.split('\n')[0]!;
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** The child's path next to this module (.ts under the test loader, .js in dist/). */
function childPath(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./walk-child${ext}`, import.meta.url));
}

function runWalk(store: string, blocks: number, repair: boolean, exportBlocks: number | undefined): Promise<WalkReport | { crashed: string }> {
  const args = [childPath(), store, String(blocks), repair ? 'repair' : 'check', ...(exportBlocks === undefined ? [] : [String(exportBlocks)])];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), WALK_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ crashed: `the metadata reader could not start: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== null) {
        const why = signal === 'SIGKILL' ? `did not finish in ${WALK_TIMEOUT_MS / 1000} s` : `crashed with ${signal}`;
        return resolve({ crashed: `reading the records ${why}` });
      }
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        return resolve(JSON.parse(line) as WalkReport);
      } catch {
        const last = err.trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${code}`;
        return resolve({ crashed: `the metadata reader failed: ${last}` });
      }
    });
  });
}

/** How long fsck waits for an NBD server's handshake. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * The whole 4 KiB blocks an NBD store's export holds now (a read-only connection: NBD
 * INFO_EXPORT of the handshake, then DISC), or why the server could not tell us.
 */
export async function probeExport(sb: NbdSuperblock): Promise<{ blocks: number } | { error: string }> {
  try {
    const dev = await NbdDevice.open(sb.url, { stats: new Stats(), timeoutMs: PROBE_TIMEOUT_MS, reconnectMs: 0, writable: false });
    const blocks = Math.floor(dev.info.sizeBytes / BLOCK_SIZE);
    await dev.close();
    return { blocks };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Check `store` (read-only), or with `repair` fix what can be fixed and check again.
 * With `probeDevice`, a store on NBD is also checked against what its export holds
 * (the fsck command; mount's pre-check leaves that to the mount, which refuses a
 * smaller export itself). Context: the caller holds the store lock (no daemon has the
 * store open). Throws only what readSuperblock throws (not a store).
 */
export async function fsckStore(store: string, opts: { repair: boolean; probeDevice?: boolean }): Promise<FsckResult> {
  const sb = await readSuperblock(store);
  const blocks = deviceBlocks(sb);
  const probe = opts.probeDevice && sb.device === 'nbd' ? await probeExport(sb) : undefined;
  const dataFile = join(store, META_DIR, 'data.mdb');
  if (!existsSync(dataFile)) return { state: 'corrupt', problems: [`${META_DIR}/data.mdb is missing`] };
  let header: string[];
  try {
    header = checkLmdbHeader(dataFile);
    if (header.length === 0) header = walkLmdb(dataFile);
  } catch (err) {
    return { state: 'corrupt', problems: [`cannot read ${META_DIR}/data.mdb: ${(err as Error).message}`] };
  }
  if (header.length > 0) return { state: 'corrupt', problems: header.map((p) => `${META_DIR}/data.mdb: ${p}`) };
  const walk = await runWalk(store, blocks, opts.repair, probe && 'blocks' in probe ? probe.blocks : undefined);
  if ('crashed' in walk) return { state: 'corrupt', problems: [walk.crashed] };
  if ('error' in walk) return { state: 'corrupt', problems: [`LMDB cannot read the records: ${clip(walk.error)}`] };
  if (probe && 'error' in probe) {
    // The records were checked; the extents could not be checked against the export.
    const p = { kind: 'device' as const, message: `${clip(probe.error)}; extents not checked against the export` };
    walk.before.problems.push(p);
    walk.after?.problems.push(p);
  }
  return { state: 'checked', ...walk };
}

/**
 * The check before a mount: everything fsck checks, read-only. Throws an Error (exit 1)
 * `metadata of STORE is corrupt: <first problem> (+N more); run aheadfs fsck STORE` when
 * fsck would not call the store clean. Orphans are fine: the mount frees them.
 */
export async function checkBeforeMount(store: string): Promise<void> {
  const left = problemsLeft(await fsckStore(store, { repair: false }));
  if (left.length === 0) return;
  const more = left.length > 1 ? ` (+${left.length - 1} more)` : '';
  throw new Error(`metadata of ${store} is corrupt: ${left[0]}${more}; run aheadfs fsck ${store}`);
}
