/**
 * Real NBD servers for tests: started on 127.0.0.1 on a free port, in the foreground as
 * our child, and ALWAYS stopped (by pid, in t.teardown, also when the test fails), like
 * withMount does for mounts.
 *
 *   nbdkit      nbdkit -f -i 127.0.0.1 -p PORT [--filter=F ...] memory SIZE [params]
 *   nbd-server  nbd-server -C CONF -p PIDFILE   (daemonizes and forks per connection: its
 *               session is killed as one by the pid in PIDFILE; `-d` would serve one client only)
 *   qemu-nbd    qemu-nbd -f raw -b 127.0.0.1 -p PORT -x NAME -t --shared=8 --cache=writeback IMG
 *
 * `AHEADFS_E2E_DEVICE=nbdkit|nbd-server|qemu-nbd` makes withMount put every store of the
 * e2e suite on such a server (see deviceFromEnv).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { pidAlive as alive } from '../../src/fuse/mounts.js';
import { freePort } from '../../src/bench/nbd-delay.js';
export { freePort };

export type NbdServerKind = 'nbdkit' | 'nbd-server' | 'qemu-nbd';
export const NBD_SERVER_KINDS: readonly NbdServerKind[] = ['nbdkit', 'nbd-server', 'qemu-nbd'];

export interface NbdServerOpts {
  kind: NbdServerKind;
  /** Export size, e.g. '256M' (nbdkit memory) or bytes of the image file. Default 256M. */
  size?: string;
  /** nbdkit only: `--filter=NAME` arguments, before the plugin. */
  filters?: string[];
  /** nbdkit only: filter parameters (key=value), after the plugin. */
  params?: string[];
  /** nbd-server / qemu-nbd: the export's name (default 'aheadfs'); nbdkit serves any name. */
  exportName?: string;
  /** nbd-server: advertise flush (default true). */
  flush?: boolean;
}

export interface NbdServer {
  url: string;
  port: number;
  /** Stop the server (by pid; waits for it to exit). */
  stop(): Promise<void>;
  /**
   * Stop it and start it again on the same port (same image file for nbd-server / qemu-nbd).
   * With `size`, the export comes back with that size (the image file is truncated to it;
   * nbdkit memory starts empty anyway).
   */
  restart(next?: { size?: string }): Promise<void>;
  /** The server's stderr so far (for failure messages). */
  log(): string;
}

export function sizeBytes(size: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(size);
  if (!m) throw new Error(`bad size ${size}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1 << 20, G: 1 << 30 }[m[2] as '' | 'K' | 'M' | 'G'];
}


async function waitListening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`NBD server exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`NBD server not listening on ${port} after 15 s: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stop a daemonized server and its per-connection children (its process group) by pid. */
async function stopGroup(pid: number): Promise<void> {
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // gone meanwhile
    }
  };
  kill('SIGTERM');
  for (let i = 0; i < 60 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  kill('SIGKILL');
}

function stopChild(child: ChildProcess, group: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(group ? -child.pid! : child.pid!, sig);
    } catch {
      // gone meanwhile
    }
  };
  kill('SIGTERM');
  const hard = setTimeout(() => kill('SIGKILL'), 3000);
  return exited.finally(() => clearTimeout(hard));
}

/** Start an NBD server for this test; it is stopped in t.teardown whatever happens. */
export async function startNbdServer(t: ExecutionContext, opts: NbdServerOpts): Promise<NbdServer> {
  const dir = await mkdtemp(join(tmpdir(), 'aheadfs-nbd-'));
  let size = opts.size ?? '256M';
  const name = opts.exportName ?? 'aheadfs';
  const img = join(dir, 'disk.img');
  if (opts.kind !== 'nbdkit') {
    await writeFile(img, '');
    await truncate(img, sizeBytes(size));
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  /** nbd-server's daemon pid (from its pid file). */
  let daemonPid: number | undefined;
  let stderr = '';
  const group = false;

  const start = async (): Promise<void> => {
    let cmd: string;
    let args: string[];
    if (opts.kind === 'nbdkit') {
      cmd = 'nbdkit';
      args = ['-f', '-i', '127.0.0.1', '-p', String(port), ...(opts.filters ?? []).map((f) => `--filter=${f}`), 'memory', size, ...(opts.params ?? [])];
    } else if (opts.kind === 'nbd-server') {
      const conf = join(dir, 'nbd-server.conf');
      await writeFile(conf, `[generic]\nlistenaddr = 127.0.0.1\nport = ${port}\n[${name}]\nexportname = ${img}\nflush = ${opts.flush === false ? 'false' : 'true'}\n`);
      cmd = 'nbd-server';
      args = ['-C', conf, '-p', join(dir, 'pid')];
    } else {
      cmd = 'qemu-nbd';
      args = ['-f', 'raw', '-b', '127.0.0.1', '-p', String(port), '-x', name, '-t', '--shared=8', '--cache=writeback', img];
    }
    child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: group });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => (stderr += `spawn ${cmd}: ${err.message}\n`));
    if (opts.kind === 'nbd-server') {
      const launcher = child;
      await new Promise<void>((resolve) => (launcher.exitCode !== null ? resolve() : launcher.once('exit', () => resolve())));
      if (launcher.exitCode !== 0) throw new Error(`nbd-server failed (${launcher.exitCode}): ${stderr}`);
      for (let i = 0; i < 100 && daemonPid === undefined; i++) {
        const text = await readFile(join(dir, 'pid'), 'utf8').catch(() => '');
        if (/^\d+\s*$/.test(text)) daemonPid = Number(text);
        else await new Promise((r) => setTimeout(r, 50));
      }
      if (daemonPid === undefined) throw new Error(`nbd-server wrote no pid file: ${stderr}`);
      t.teardown(() => (daemonPid === undefined ? undefined : stopGroup(daemonPid)));
      return;
    }
    await waitListening(port, child, () => stderr);
  };
  const stop = async (): Promise<void> => {
    if (daemonPid !== undefined) {
      const pid = daemonPid;
      daemonPid = undefined;
      await stopGroup(pid);
      await rm(join(dir, 'pid'), { force: true });
    }
    if (child) await stopChild(child, group);
  };
  t.teardown(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  await start();
  return {
    url: `nbd://127.0.0.1:${port}/${opts.kind === 'nbdkit' ? '' : name}`,
    port,
    stop,
    async restart(next) {
      await stop();
      if (next?.size !== undefined) {
        size = next.size;
        if (opts.kind !== 'nbdkit') await truncate(img, sizeBytes(size));
      }
      await start();
    },
    log: () => stderr,
  };
}

/** AHEADFS_E2E_DEVICE: the NBD server the e2e suite's stores live on (unset: block files). */
export function deviceFromEnv(): NbdServerKind | undefined {
  const v = process.env.AHEADFS_E2E_DEVICE;
  if (v === undefined || v === '' || v === 'files') return undefined;
  if (!(NBD_SERVER_KINDS as readonly string[]).includes(v)) throw new Error(`AHEADFS_E2E_DEVICE=${v}: expected files, ${NBD_SERVER_KINDS.join(', ')}`);
  return v as NbdServerKind;
}
