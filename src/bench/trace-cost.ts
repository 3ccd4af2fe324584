/**
 * What the trace costs the daemon: CPU time of cold sequential reads through a mount with
 * `tunables/trace` 1 and 0, in alternating pairs in one run, so that drift of the shared
 * machine falls on both sides alike. Within a pair the file is read in chunks (--chunk-mib)
 * whose trace setting alternates (on, off, on, ... then off, on, ... in the next pair):
 * load that comes and goes over seconds hits both sides of the pair alike.
 *
 *   mkdtemp under /var/tmp -> mkfs, mount (the defaults) -> write f.bin (--mib)
 *   for each pair: clear the trace, drop_caches, wait for the device to idle; each chunk:
 *     tunables/trace = 1|0 -> daemon CPU (sum of /proc/<pid>/task/<tid>/schedstat, ns)
 *     -> dd if=f.bin bs=128k skip/count = the chunk -> wait for the device to idle -> again
 *     -> added to the pair's on or off side
 *   medians on / off, the ratio on/off per pair (median, min, max) -> stdout, --json
 *   finally (also on failure): umount, remove the temp dir
 *
 * Run: npm run bench:trace [-- --mib 512] [--chunk-mib 32] [--pairs 8] [--json]
 */

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DS } from '../block/diskstats.js';
import { isStoreLocked } from '../fs/store-lock.js';
import { findMount } from '../fuse/mounts.js';

const BIN = fileURLToPath(new URL('../../bin/aheadfs.js', import.meta.url));
/** dd's read size: the largest FUSE read (max_read). */
const BS = 128 << 10;

export interface TraceCostPair {
  /** Daemon CPU seconds for the chunks read with the trace on (half the file, cold). */
  on: number;
  off: number;
}

export interface TraceCostSummary {
  pairs: TraceCostPair[];
  medianOn: number;
  medianOff: number;
  /** on / off per pair: median, smallest, largest. */
  ratio: { median: number; min: number; max: number };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarise(pairs: readonly TraceCostPair[]): TraceCostSummary {
  const ratios = pairs.filter((p) => p.off > 0).map((p) => p.on / p.off);
  return {
    pairs: [...pairs],
    medianOn: median(pairs.map((p) => p.on)),
    medianOff: median(pairs.map((p) => p.off)),
    ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
  };
}

export function formatSummary(s: TraceCostSummary, what: string): string {
  const f = (x: number): string => x.toFixed(3);
  const lines = [`trace cost, daemon CPU seconds, cold sequential reads of ${what} (${s.pairs.length} pairs; each side half the file):`];
  s.pairs.forEach((p, i) => lines.push(`  pair ${i + 1}: on ${f(p.on)}  off ${f(p.off)}  on/off ${p.off > 0 ? f(p.on / p.off) : '-'}`));
  lines.push(`  median: on ${f(s.medianOn)}  off ${f(s.medianOff)}`);
  lines.push(`  on/off per pair: median ${f(s.ratio.median)}  (min ${f(s.ratio.min)}, max ${f(s.ratio.max)})`);
  return lines.join('\n');
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { maxBuffer: 16 << 20, env: { ...process.env, DEBUG: '' } }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim().slice(0, 500)}`));
      else res(stdout);
    });
  });
}

const ctl = (mnt: string, name: string, value: string): Promise<void> => writeFile(join(mnt, '.aheadfs', name), value);

async function waitIdle(mnt: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const ds = (await readFile(join(mnt, '.aheadfs', 'diskstats'), 'utf8')).trim().split(/\s+/).map(Number);
    if (ds[DS.inFlight] === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** CPU seconds of all the daemon's threads so far (schedstat: ns on the CPU; /proc/<pid>/stat counts 10 ms ticks). */
async function cpuSeconds(pid: number): Promise<number> {
  let ns = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const text = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0'); // a thread that just ended
    ns += Number(text.split(' ')[0]);
  }
  return ns / 1e9;
}

interface Args {
  mib: number;
  chunkMib: number;
  pairs: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { mib: 512, chunkMib: 32, pairs: 8, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--json') a.json = true;
    else if (k === '--mib' && v) (a.mib = Number(v)), i++;
    else if (k === '--pairs' && v) (a.pairs = Number(v)), i++;
    else if (k === '--chunk-mib' && v) (a.chunkMib = Number(v)), i++;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!(a.mib > 0) || !(a.pairs > 0) || !(a.chunkMib > 0) || a.mib % (2 * a.chunkMib) !== 0) throw new Error('--mib, --chunk-mib, --pairs: positive, --mib a multiple of 2 chunks');
  return a;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const tmp = await mkdtemp('/var/tmp/aheadfs-tracecost-');
  const store = join(tmp, 'store');
  const mnt = join(tmp, 'mnt');
  await mkdir(mnt);
  const aheadfs = (...a: string[]): Promise<string> => run(process.execPath, [BIN, ...a]);
  try {
    await aheadfs('mkfs', store, '--size', String(Math.max(512, args.mib * 2) * 2 ** 20));
    await aheadfs('mount', store, mnt);
    const lock = await isStoreLocked(store);
    if (!lock.locked || lock.pid === undefined) throw new Error('no daemon holds the store');
    const pid = lock.pid;
    const file = join(mnt, 'f.bin');
    await run('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', `count=${args.mib}`, 'status=none']);
    const chunks = args.mib / args.chunkMib;
    const countBlocks = (args.chunkMib << 20) / BS;
    const pair = async (firstOn: boolean): Promise<TraceCostPair> => {
      await ctl(mnt, 'trace', '0');
      await ctl(mnt, 'drop_caches', '1');
      await waitIdle(mnt);
      const p: TraceCostPair = { on: 0, off: 0 };
      for (let c = 0; c < chunks; c++) {
        const on = (c % 2 === 0) === firstOn;
        await ctl(mnt, 'tunables/trace', on ? '1' : '0');
        const c0 = await cpuSeconds(pid);
        await run('dd', [`if=${file}`, 'of=/dev/null', `bs=${BS}`, `skip=${c * countBlocks}`, `count=${countBlocks}`, 'status=none']);
        await waitIdle(mnt);
        p[on ? 'on' : 'off'] += (await cpuSeconds(pid)) - c0;
      }
      return p;
    };
    await pair(true); // warm-up: JIT, the block files' own page cache state
    const pairs: TraceCostPair[] = [];
    for (let i = 0; i < args.pairs; i++) {
      pairs.push(await pair(i % 2 === 0));
      process.stderr.write(`trace-cost: pair ${i + 1}/${args.pairs}\n`);
    }
    const s = summarise(pairs);
    const what = `${args.mib} MiB in ${args.chunkMib} MiB chunks, dd bs=128k`;
    process.stdout.write(args.json ? `${JSON.stringify({ what, ...s }, null, 2)}\n` : `${formatSummary(s, what)}\n`);
  } finally {
    if (await findMount(mnt)) await aheadfs('umount', mnt).catch((e: unknown) => process.stderr.write(`umount: ${String(e)}\n`));
    await rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`trace-cost: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
