/**
 * `npm run bench -- --scenario nbd-delay [--quick] [--reps N] [--out DIR]`: readahead over
 * a slow network block device.
 *
 *   nbdkit --filter=delay memory SIZE delay-read=2ms   -> store "delay" (mkfs --device)
 *   nbdkit memory SIZE                                 -> store "nbd"
 *   block files (the default device)                   -> store "files"
 *
 *   on "delay", cold (drop_caches) fio psync reads of one file, read_ahead_kb set per run
 *   (0 = readahead off; it applies to files opened afterwards):
 *     seq 4k    at read_ahead_kb 0, 128, 1024
 *     seq 128k  at read_ahead_kb 0, 128, 1024
 *     rand 4k   at read_ahead_kb 128
 *     fio's nbd engine on the delayed export itself, seq 128k at iodepth 2 and 8 (the baseline)
 *   on "nbd" and "files": cold seq 128k at read_ahead_kb 128
 *
 * Figures: medians of MB/s (and p50 latency) over the repetitions, two ratios: readahead
 * on (128) vs off on cold seq 4k over the delay, and nbd vs block files on cold seq 128k.
 * Every server is our child and is stopped (by pid) at the end, also on failure.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DS } from '../block/diskstats.js';
import { findMount } from '../fuse/mounts.js';
import { parseFioJson, type FioFigures } from './figures.js';
import { renderNbdChartFile } from './nbd-chart.js';

const BIN = fileURLToPath(new URL('../../bin/aheadfs.js', import.meta.url));
const MiB = 1 << 20;

export interface NbdDelayOptions {
  quick: boolean;
  reps: number | undefined;
  outDir: string;
  tmpRoot: string;
  say: (msg: string) => void;
}

interface Case {
  id: string;
  store: 'delay' | 'nbd' | 'files';
  bs: '4k' | '128k';
  rw: 'read' | 'randread';
  raKb: number;
  /** fio's own nbd engine (libnbd) straight on the export at this iodepth, instead of aheadfs. */
  fioNbdDepth?: number;
}

const CASES: Case[] = [
  { id: 'delay seq 4k ra off', store: 'delay', bs: '4k', rw: 'read', raKb: 0 },
  { id: 'delay seq 4k ra 128', store: 'delay', bs: '4k', rw: 'read', raKb: 128 },
  { id: 'delay seq 4k ra 1024', store: 'delay', bs: '4k', rw: 'read', raKb: 1024 },
  { id: 'delay seq 128k ra off', store: 'delay', bs: '128k', rw: 'read', raKb: 0 },
  { id: 'delay seq 128k ra 128', store: 'delay', bs: '128k', rw: 'read', raKb: 128 },
  { id: 'delay seq 128k ra 1024', store: 'delay', bs: '128k', rw: 'read', raKb: 1024 },
  { id: 'delay rand 4k ra 128', store: 'delay', bs: '4k', rw: 'randread', raKb: 128 },
  { id: 'delay seq 128k fio nbd engine qd 2', store: 'delay', bs: '128k', rw: 'read', raKb: 0, fioNbdDepth: 2 },
  { id: 'delay seq 128k fio nbd engine qd 8', store: 'delay', bs: '128k', rw: 'read', raKb: 0, fioNbdDepth: 8 },
  { id: 'nbd seq 128k ra 128', store: 'nbd', bs: '128k', rw: 'read', raKb: 128 },
  { id: 'files seq 128k ra 128', store: 'files', bs: '128k', rw: 'read', raKb: 128 },
];

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 600_000, env: { ...process.env, DEBUG: '' } }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim().slice(0, 500)}`));
      else res(stdout);
    });
  });
}

/** A port nobody listens on now (the kernel's choice for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`nbdkit exited (${child.exitCode})`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s.destroy() !== undefined));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nbdkit is not listening on ${port}`);
}

/** The device's diskstats fields. */
async function diskstats(mnt: string): Promise<number[]> {
  return (await readFile(join(mnt, '.aheadfs', 'diskstats'), 'utf8')).trim().split(/\s+/).map(Number);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function runNbdDelay(o: NbdDelayOptions): Promise<void> {
  const reps = o.reps ?? (o.quick ? 1 : 3);
  const fileBytes = (o.quick ? 32 : 128) * MiB;
  const runtime = o.quick ? 4 : 10;
  const storeBytes = Math.ceil((fileBytes + 32 * MiB) / (64 * MiB)) * 64 * MiB;
  const servers: ChildProcess[] = [];
  const mounts: string[] = [];
  const tmp = await mkdtemp(join(o.tmpRoot, 'aheadfs-bench-nbd-'));
  try {
    const stores: Record<Case['store'], string> = { delay: '', nbd: '', files: '' };
    const urls: Record<Case['store'], string> = { delay: '', nbd: '', files: '' };
    for (const name of ['delay', 'nbd', 'files'] as const) {
      const store = join(tmp, `store-${name}`);
      const mnt = join(tmp, `mnt-${name}`);
      await mkdir(mnt);
      let where = ['--block-file-size', String(64 * MiB)];
      if (name !== 'files') {
        const port = await freePort();
        const filter = name === 'delay' ? ['--filter=delay'] : [];
        const params = name === 'delay' ? ['delay-read=2ms'] : [];
        const child = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(port), ...filter, 'memory', String(storeBytes), ...params], { stdio: ['ignore', 'ignore', 'inherit'] });
        servers.push(child);
        await waitPort(port, child);
        urls[name] = `nbd://127.0.0.1:${port}`;
        where = ['--device', urls[name]];
      }
      await run(process.execPath, [BIN, 'mkfs', store, '--size', String(storeBytes), ...where]);
      await run(process.execPath, [BIN, 'mount', store, mnt]);
      mounts.push(mnt);
      stores[name] = mnt;
      o.say(`${name}: writing a ${fileBytes / MiB} MiB file`);
      await run('fio', ['--name=layout', '--rw=write', '--bs=1M', `--size=${fileBytes}`, `--filename=${join(mnt, 'f0')}`, '--ioengine=psync', '--end_fsync=1']);
    }
    const results: { id: string; mbps: number; p50Us: number; aquSz: number | undefined; avgRqKb: number | undefined; runs: FioFigures[] }[] = [];
    for (const c of CASES) {
      const mnt = stores[c.store];
      const runs: FioFigures[] = [];
      /** Device queue depth (time_in_queue / io_ticks, iostat's aqu-sz over busy time) and request size, per run. */
      const aqu: number[] = [];
      const rqKb: number[] = [];
      for (let r = 0; r < reps; r++) {
        if (c.fioNbdDepth !== undefined) {
          const out = await run('fio', ['--output-format=json', '--name=x', '--ioengine=nbd', `--uri=${urls[c.store]}`, `--rw=${c.rw}`, `--bs=${c.bs}`, `--iodepth=${c.fioNbdDepth}`, `--size=${fileBytes}`, `--runtime=${runtime}`]);
          runs.push(parseFioJson(out));
          continue;
        }
        await writeFile(join(mnt, '.aheadfs', 'tunables', 'read_ahead_kb'), `${c.raKb}\n`);
        await writeFile(join(mnt, '.aheadfs', 'drop_caches'), '1\n');
        const d0 = await diskstats(mnt);
        const out = await run('fio', ['--output-format=json', '--name=x', `--rw=${c.rw}`, `--bs=${c.bs}`, `--size=${c.rw === 'randread' ? Math.min(fileBytes, 16 * MiB) : fileBytes}`, `--runtime=${runtime}`, '--ioengine=psync', `--filename=${join(mnt, 'f0')}`]);
        runs.push(parseFioJson(out));
        const d1 = await diskstats(mnt);
        const d = (i: number): number => d1[i]! - d0[i]!;
        if (d(DS.ioTicks) > 0) aqu.push(d(DS.timeInQueue) / d(DS.ioTicks));
        if (d(DS.readIos) > 0) rqKb.push((d(DS.readSectors) * 512) / 1024 / d(DS.readIos));
      }
      const mbps = median(runs.map((f) => f.bwBytes)) / 1e6;
      results.push({ id: c.id, mbps, p50Us: median(runs.map((f) => f.p50Us)), aquSz: aqu.length ? median(aqu) : undefined, avgRqKb: rqKb.length ? median(rqKb) : undefined, runs });
      o.say(`${c.id}: ${mbps.toFixed(1)} MB/s`);
    }
    const by = (id: string): number => results.find((r) => r.id === id)!.mbps;
    const ratios = {
      raOnVsOffSeq4kDelay: by('delay seq 4k ra 128') / by('delay seq 4k ra off'),
      ra1024VsOffSeq4kDelay: by('delay seq 4k ra 1024') / by('delay seq 4k ra off'),
      nbdVsFilesSeq128k: by('nbd seq 128k ra 128') / by('files seq 128k ra 128'),
      ra1024VsFioNbdQd8Seq128kDelay: by('delay seq 128k ra 1024') / by('delay seq 128k fio nbd engine qd 8'),
    };
    const lines = [
      `nbd-delay (${o.quick ? 'quick' : 'full'}, ${reps} repetition(s), ${fileBytes / MiB} MiB file, runtime cap ${runtime} s; medians)`,
      '| case | MB/s | p50 us | device queue depth | device request KiB |',
      '|---|---:|---:|---:|---:|',
      ...results.map((r) => `| ${r.id} | ${r.mbps.toFixed(1)} | ${r.p50Us.toFixed(0)} | ${r.aquSz?.toFixed(2) ?? (r.id.includes('fio nbd') ? r.id.replace(/.*qd /, '') : '-')} | ${r.avgRqKb?.toFixed(0) ?? '128'} |`),
      '',
      `readahead 128 KiB vs off, cold seq 4k, 2 ms read delay: ${ratios.raOnVsOffSeq4kDelay.toFixed(1)}x (1024 KiB: ${ratios.ra1024VsOffSeq4kDelay.toFixed(1)}x)`,
      `nbdkit (no delay) vs block files, cold seq 128k: ${ratios.nbdVsFilesSeq128k.toFixed(2)}x`,
      `aheadfs read_ahead_kb 1024 vs fio's nbd engine at iodepth 8, seq 128k, 2 ms read delay: ${ratios.ra1024VsFioNbdQd8Seq128kDelay.toFixed(2)}x`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
    await mkdir(o.outDir, { recursive: true });
    await writeFile(join(o.outDir, `${stamp}-nbd-delay.json`), JSON.stringify({ date: new Date().toISOString(), reps, fileBytes, runtime, results, ratios }, null, 2) + '\n');
    // The chart (nbd-chart.ts; `npm run bench -- --chart <json>` draws it again).
    await renderNbdChartFile(join(o.outDir, `${stamp}-nbd-delay.json`), undefined);
    await writeFile(join(o.outDir, `${stamp}-nbd-delay.md`), lines.join('\n') + '\n');
  } finally {
    for (const mnt of mounts.reverse()) {
      if (await findMount(mnt)) await run(process.execPath, [BIN, 'umount', mnt]).catch((err: unknown) => o.say(`umount ${mnt}: ${String(err)}`));
    }
    for (const s of servers) if (s.exitCode === null) s.kill('SIGTERM');
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}
