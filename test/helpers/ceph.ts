/**
 * A one-node Ceph cluster with one RBD image served over NBD, for one test: runs
 * `scripts/ceph-rbd.sh start STATE_DIR` (which installs the Debian packages when missing,
 * starts ceph-mon, one BlueStore OSD and qemu-nbd on free loopback ports, and prints the
 * NBD URL) and ALWAYS runs `scripts/ceph-rbd.sh stop STATE_DIR` in t.teardown, also when
 * the test fails or times out (stop kills every daemon by the pid it recorded and removes
 * the state dir). Register it before withMount: ava runs teardowns last-in first-out, so
 * the store is unmounted before its device goes away.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ROOT } from './cli.js';

const SCRIPT = join(ROOT, 'scripts', 'ceph-rbd.sh');

export interface CephRbd {
  /** nbd://127.0.0.1:PORT/disk */
  url: string;
  stateDir: string;
  /** The daemons' pids as the script recorded them (name -> pid), read at start. */
  pids: ReadonlyMap<string, number>;
  /** Stop the cluster now (what the teardown does; idempotent). */
  stop(): Promise<void>;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], onChild?: (c: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    onChild?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => (stderr += `spawn bash: ${err.message}\n`));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function startCephRbd(t: ExecutionContext, opts: { sizeMiB?: number } = {}): Promise<CephRbd> {
  const stateDir = await mkdtemp(join(tmpdir(), 'aheadfs-ceph-'));
  let starting: ChildProcess | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // A start still running (the test timed out): end it first, so it starts nothing more.
    if (starting && starting.exitCode === null && starting.signalCode === null) {
      const exited = new Promise<void>((resolve) => starting!.once('close', () => resolve()));
      starting.kill('SIGKILL');
      await exited;
    }
    const r = await run(['stop', stateDir]);
    await rm(stateDir, { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`ceph-rbd.sh stop failed (${r.code}): ${r.stderr}`);
  };
  t.teardown(stop);

  const r = await run(['start', stateDir, '--size', String(opts.sizeMiB ?? 1024)], (c) => (starting = c));
  if (r.code !== 0) throw new Error(`ceph-rbd.sh start failed (${r.code}): ${r.stderr}`);
  const url = r.stdout.trim();
  if (!/^nbd:\/\/127\.0\.0\.1:\d+\/disk$/.test(url)) throw new Error(`ceph-rbd.sh start printed ${JSON.stringify(r.stdout)}: ${r.stderr}`);
  const pids = new Map<string, number>();
  for (const f of await readdir(join(stateDir, 'pids'))) {
    pids.set(f.replace(/\.pid$/, ''), Number((await readFile(join(stateDir, 'pids', f), 'utf8')).trim()));
  }
  return { url, stateDir, pids, stop };
}
