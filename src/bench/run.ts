/**
 * npm run bench [-- --quick] [--reps N] [--out DIR] [--help] (parsed in args.ts): fio
 * against aheadfs and its baselines, side by side in one run.
 *
 *   mkdtemp under /var/tmp (a real disk)
 *     store-on  (mkfs, mount: readahead on, the defaults, --kernel 6.18) -> target aheadfs
 *     store-418 (mkfs, mount --kernel 4.18; only when a scenario runs it) -> target aheadfs-4.18
 *     store-off (mkfs, mount --ra-policy none)                  -> target ra-off
 *     nullfs    (same fuse-native binding and mount options)    -> target null-fuse
 *     nullfs memory (f0's bytes held in RAM)                     -> target null-mem
 *     store-on/blocks/*.blk read with fio --direct=1 --readonly -> target o_direct (as many
 *                                                                  block files as the
 *                                                                  scenario reads; writes
 *                                                                  go to a scratch file)
 *     plain/ (f0..f3 on the same disk) through bindfs           -> target bindfs (peers.ts)
 *     plain/ read directly                                      -> target kernel
 *   for each scenario, for each repetition: every target once, in turn (A, B, C, A, B, C)
 *     aheadfs targets: drop_caches, snapshot stats.json + /proc/<daemon>/stat, fio, snapshot
 *     bindfs, kernel: echo 3 > /proc/sys/vm/drop_caches, fio
 *   medians, ratios per repetition -> table on stdout, bench-results/<date>.json, .svg, .md
 *   finally (also on SIGINT/SIGTERM): unmount everything, stop the nullfs, remove the temp dir
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blockFileName } from '../block/device.js';
import { UsageError } from '../errors.js';
import { isStoreLocked } from '../fs/store-lock.js';
import { findMount } from '../fuse/mounts.js';
import {
  amplification,
  cpuTicksFromStat,
  cpuTimesFromProcStat,
  formatMarkdown,
  formatMicro,
  formatTable,
  medianFigures,
  parseFioJson,
  renderSvg,
  repetitionOrder,
  scenarioRatios,
  stealPercent,
  TABLE_HEADER,
  tableRows,
  type BenchDoc,
  type MicroLoop,
  type RunFigures,
  type ScenarioResult,
  type TargetName,
} from './figures.js';
import { BENCH_USAGE, parseBenchArgs } from './args.js';
import { runMicroIsolated, type MicroResult } from './micro.js';
import { runNbdDelay } from './nbd-delay.js';
import { renderNbdChartFile } from './nbd-chart.js';
import { FIO_SCENARIO_IDS } from './args.js';
import { diskReadAheadKb, dropKernelCaches, mountBindfs, readReadAheadKb, setReadAheadKb, unmountBindfs } from './peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'aheadfs.js');
const NULLFS = fileURLToPath(new URL('./nullfs.js', import.meta.url));
const MiB = 1 << 20;
const CLK_TCK = 100;

interface Mode {
  name: 'quick' | 'full';
  reps: number;
  /** Bytes per data file (f0..f3). */
  fileBytes: number;
  /** Seconds: the cap of every timed fio job. */
  runtime: number;
  writeBytes: number;
  /** Bytes of f0 the random scenarios read (all of them, in random order). */
  randBytes: number;
  microMiB: number;
  microReads: number;
}

const QUICK: Mode = { name: 'quick', reps: 2, fileBytes: 32 * MiB, runtime: 4, writeBytes: 32 * MiB, randBytes: 16 * MiB, microMiB: 64, microReads: 1_000_000 };
const FULL: Mode = { name: 'full', reps: 5, fileBytes: 128 * MiB, runtime: 15, writeBytes: 64 * MiB, randBytes: 32 * MiB, microMiB: 64, microReads: 3_000_000 };

function run(cmd: string, args: string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: timeoutMs, env: { ...process.env, DEBUG: '' } }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim().slice(0, 500)}`));
      else res(stdout);
    });
  });
}

const aheadfs = (...args: string[]): Promise<string> => run(process.execPath, [BIN, ...args]);
const say = (s: string): void => void process.stderr.write(`bench: ${s}\n`);

// --- targets ----------------------------------------------------------------------------

interface Target {
  name: TargetName;
  /** Directory the data files f0..f3 live in (FUSE targets). */
  dir?: string;
  /** Daemon pid (for CPU time). */
  pid?: number;
  /** aheadfs: the mountpoint (control files). */
  mnt?: string;
  /** bindfs: its FUSE bdi (major:minor), whose read_ahead_kb follows a scenario's. */
  bdi?: string;
  /** bindfs, kernel: cold means the kernel's own drop_caches. */
  kernelCache?: boolean;
}

async function daemonPid(store: string): Promise<number> {
  const lock = await isStoreLocked(store);
  if (!lock.locked || lock.pid === undefined) throw new Error(`no live daemon holds the lock of ${store}`);
  return lock.pid;
}

async function cpuTicks(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  return cpuTicksFromStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

type Counters = Record<string, number>;
async function counters(mnt: string): Promise<Counters> {
  const doc: unknown = JSON.parse(await readFile(join(mnt, '.aheadfs', 'stats.json'), 'utf8'));
  const out: Counters = {};
  if (typeof doc === 'object' && doc !== null) {
    // stats.json may be flat or grouped; take every numeric leaf by its own name.
    const walk = (o: object): void => {
      for (const [k, v] of Object.entries(o)) {
        if (typeof v === 'number') out[k] = v;
        else if (typeof v === 'object' && v !== null) walk(v as object);
      }
    };
    walk(doc);
  }
  return out;
}

const dropCaches = (mnt: string): Promise<void> => writeFile(join(mnt, '.aheadfs', 'drop_caches'), '1\n');

// --- scenarios --------------------------------------------------------------------------

interface Scenario {
  id: string;
  title: string;
  targets: TargetName[];
  /** fio arguments for a target (without --output-format). */
  fio(t: Target): string[];
  /** Cold cache before the (measured) run. */
  cold: boolean;
  /** Run once unmeasured first, measure the second (cached re-read). */
  warm: boolean;
  /** aheadfs tunables set for this scenario only (written before each run, restored after). */
  tunables?: Record<string, string>;
}

/** The bench's stores are made of 64 MiB block files. */
const BLOCK_FILE_BYTES = 64 * MiB;

/**
 * o_direct reads the store's own block files, never more than they hold: fio lays out
 * (WRITES) a file shorter than --size before reading it, which would overwrite the store
 * under the aheadfs target. --readonly makes fio refuse any write instead.
 */
function directFiles(blocksDir: string, bytes: number): string[] {
  const n = Math.ceil(bytes / BLOCK_FILE_BYTES);
  return [...DIRECT_READ, '--file_service_type=sequential', `--filename=${Array.from({ length: n }, (_, i) => join(blocksDir, blockFileName(i))).join(':')}`];
}
const DIRECT_READ = ['--direct=1', '--readonly'];

/** The four data files f0..f3 of a FUSE target, one fio job each. */
const dataFiles = (dir: string): string[] => ['--numjobs=4', `--directory=${dir}`, '--filename_format=f$jobnum'];

function scenarios(m: Mode, blocksDir: string, scratch: string): Scenario[] {
  // Cold reads are capped by size AND runtime, never time_based: fio would wrap around and
  // re-read cached pages. Random reads touch each block once (fio's random map).
  const rt = [`--runtime=${m.runtime}`];
  const size = `--size=${m.fileBytes}`;
  // Random reads cover a region small enough to finish inside the runtime cap: every page
  // is then read once, and device bytes / delivered bytes measures only pages read twice.
  // (A run cut short would also count readahead pages it did not reach yet.)
  const randSize = `--size=${Math.min(m.fileBytes, m.randBytes)}`;
  const f0 = (t: Target): string[] => (t.name === 'o_direct' ? directFiles(blocksDir, m.fileBytes) : [`--filename=${join(t.dir!, 'f0')}`]);
  const all: TargetName[] = ['aheadfs', 'ra-off', 'null-fuse', 'o_direct'];
  const noRaOff: TargetName[] = ['aheadfs', 'null-fuse', 'o_direct'];
  const cached: TargetName[] = ['aheadfs', 'null-fuse', 'null-mem'];
  // The peers, where a user would compare: cold sequential and cached 128k reads.
  const peers: TargetName[] = ['bindfs', 'kernel'];
  // 6.18 (aheadfs) and 4.18 side by side, alternating, where the issue compares them.
  const both: TargetName[] = ['aheadfs', 'aheadfs-4.18'];
  const and418 = (ts: TargetName[]): TargetName[] => ts.flatMap((t) => (t === 'aheadfs' ? both : [t]));
  const base = ['--ioengine=psync', '--group_reporting'];
  return [
    { id: 'seq-read-4k', title: 'cold sequential read, bs=4k, 1 job', targets: [...and418(all), ...peers], cold: true, warm: false, fio: (t) => ['--name=seq4k', '--rw=read', '--bs=4k', size, ...rt, ...base, ...f0(t)] },
    { id: 'seq-read-128k', title: 'cold sequential read, bs=128k, 1 job', targets: [...and418(all), ...peers], cold: true, warm: false, fio: (t) => ['--name=seq128k', '--rw=read', '--bs=128k', size, ...rt, ...base, ...f0(t)] },
    {
      // The default window (128 KiB) is one 128 KiB read ahead: at most two device requests
      // in flight, so a cold 128k reader runs at the device's queue-depth-1 speed. A larger
      // window keeps more in flight; o_direct here is the device at iodepth 8, its best.
      id: 'seq-read-128k-ra1m',
      title: 'cold sequential read, bs=128k, 1 job, aheadfs and bindfs read_ahead_kb=1024; o_direct at iodepth 8',
      targets: [...noRaOff, ...peers],
      cold: true,
      warm: false,
      tunables: { read_ahead_kb: '1024' },
      fio: (t) => ['--name=seq128kra1m', '--rw=read', '--bs=128k', size, ...rt, ...(t.name === 'o_direct' ? ['--ioengine=libaio', '--iodepth=8', '--group_reporting'] : base), ...f0(t)],
    },
    { id: 'rand-read-4k', title: 'cold random read, bs=4k, 1 job, qd1', targets: all, cold: true, warm: false, fio: (t) => ['--name=rand4k', '--rw=randread', '--bs=4k', randSize, ...rt, ...base, ...f0(t)] },
    {
      id: 'rand-read-4k-qd16',
      title: 'cold random read, bs=4k, libaio iodepth=16 (O_DIRECT open)',
      targets: all,
      cold: true,
      warm: false,
      fio: (t) => ['--name=rand4kqd16', '--rw=randread', '--bs=4k', randSize, ...rt, '--ioengine=libaio', '--iodepth=16', '--direct=1', '--group_reporting', ...f0(t).filter((a) => a !== '--direct=1')],
    },
    {
      id: 'seq-read-4x',
      title: 'cold sequential read, bs=128k, 4 readers (separate files)',
      targets: all,
      cold: true,
      warm: false,
      fio: (t) =>
        t.name === 'o_direct'
          ? // One block file per reader (000000.blk .. 000003.blk), all of it.
            ['--name=seq4x', '--rw=read', '--bs=128k', '--numjobs=4', `--size=${Math.min(m.fileBytes, BLOCK_FILE_BYTES)}`, ...rt, ...base, ...DIRECT_READ, `--directory=${blocksDir}`, '--filename_format=00000$jobnum.blk']
          : ['--name=seq4x', '--rw=read', '--bs=128k', size, ...rt, ...base, ...dataFiles(t.dir!)],
    },
    // Cached re-reads copy the file's bytes from RAM; null-fuse copies a pattern that stays
    // in the CPU caches, null-mem the file's own bytes from RAM (what any cache must do).
    { id: 'cached-read-4k', title: 'cached re-read, bs=4k (second pass reported)', targets: cached, cold: true, warm: true, fio: (t) => ['--name=cached4k', '--rw=read', '--bs=4k', size, ...base, ...f0(t)] },
    { id: 'cached-read-128k', title: 'cached re-read, bs=128k (second pass reported)', targets: [...and418(cached), ...peers], cold: true, warm: true, fio: (t) => ['--name=cached128k', '--rw=read', '--bs=128k', size, ...base, ...f0(t)] },
    {
      id: 'seq-write-128k',
      title: 'sequential write, bs=128k, new file',
      targets: noRaOff,
      cold: false,
      warm: false,
      fio: (t) => ['--name=write128k', '--rw=write', '--bs=128k', `--size=${m.writeBytes}`, ...rt, ...base, '--unlink=1', ...(t.name === 'o_direct' ? [`--filename=${scratch}`, '--direct=1'] : [`--filename=${join(t.dir!, 'w0')}`])],
    },
    // Writeback (issue 16): one fsync at the end (dd conv=fsync), the writeback mount, the
    // same store layout mounted --writeback off, and O_DIRECT writes of the same size to a
    // scratch file on the same disk, alternating. Not runtime-capped: the fsync is the point.
    {
      id: 'seq-write-128k-fsync',
      title: 'sequential write, bs=128k, new file, one fsync at the end',
      targets: ['aheadfs', 'write-through', 'o_direct'],
      cold: false,
      warm: false,
      fio: (t) => ['--name=write128kfsync', '--rw=write', '--bs=128k', `--size=${m.writeBytes}`, '--end_fsync=1', ...base, '--unlink=1', ...(t.name === 'o_direct' ? [`--filename=${scratch}`, '--direct=1'] : [`--filename=${join(t.dir!, 'w1')}`])],
    },
    {
      id: 'rand-write-4k-fsync64',
      title: 'random write, bs=4k, fsync every 64 writes, qd1',
      targets: ['aheadfs', 'write-through'],
      cold: false,
      warm: false,
      fio: (t) => ['--name=randwrite4k', '--rw=randwrite', '--bs=4k', `--size=${m.randBytes}`, '--fsync=64', ...rt, ...base, '--unlink=1', `--filename=${join(t.dir!, 'w2')}`],
    },
  ];
}

async function fio(args: string[]): Promise<RunFigures> {
  return parseFioJson(await run('fio', ['--output-format=json', ...args]));
}

const tunable = (mnt: string, name: string): string => join(mnt, '.aheadfs', 'tunables', name);

async function runOne(s: Scenario, t: Target): Promise<RunFigures> {
  const ra = s.tunables?.read_ahead_kb;
  if (t.bdi !== undefined && ra !== undefined) {
    // bindfs reads with the scenario's window, like aheadfs.
    const saved = await readReadAheadKb(t.bdi);
    await setReadAheadKb(t.bdi, Number(ra));
    try {
      return await measure(s, t);
    } finally {
      await setReadAheadKb(t.bdi, saved);
    }
  }
  if (!t.mnt || !s.tunables) return measure(s, t);
  const saved: [string, string][] = [];
  try {
    for (const [name, value] of Object.entries(s.tunables)) {
      saved.push([name, (await readFile(tunable(t.mnt, name), 'utf8')).trim()]);
      await writeFile(tunable(t.mnt, name), `${value}\n`);
    }
    return await measure(s, t);
  } finally {
    for (const [name, value] of saved.reverse()) await writeFile(tunable(t.mnt, name), `${value}\n`);
  }
}

async function measure(s: Scenario, t: Target): Promise<RunFigures> {
  if (t.mnt && s.cold) await dropCaches(t.mnt);
  if (t.kernelCache && s.cold) await dropKernelCaches();
  if (s.warm) await fio(s.fio(t));
  const c0 = t.mnt ? await counters(t.mnt) : undefined;
  const cpu0 = await cpuTicks(t.pid);
  const host0 = cpuTimesFromProcStat(await readFile('/proc/stat', 'utf8'));
  const fig = await fio(s.fio(t));
  const host1 = cpuTimesFromProcStat(await readFile('/proc/stat', 'utf8'));
  const cpu1 = await cpuTicks(t.pid);
  const c1 = t.mnt ? await counters(t.mnt) : undefined;
  const out: RunFigures = { ...fig };
  const steal = stealPercent(host0, host1);
  if (steal !== undefined) out.stealPct = steal;
  if (cpu0 !== undefined && cpu1 !== undefined) out.cpuSec = (cpu1 - cpu0) / CLK_TCK;
  if (c0 && c1) {
    const d = (k: string): number => (c1[k] ?? 0) - (c0[k] ?? 0);
    const amp = amplification(d('disk_read_bytes'), d('read_bytes'));
    if (amp !== undefined) out.amplification = amp;
    out.raPages = d('ra_pages');
    out.raHit = d('ra_hit');
    out.raWasted = d('ra_wasted');
  }
  return out;
}

// --- set-up and teardown ----------------------------------------------------------------

class Bench {
  readonly mounts: { store?: string; mnt: string; kind: 'aheadfs' | 'null' | 'bindfs'; child?: ChildProcess }[] = [];
  tmp = '';
  private cleaned = false;

  async mountAheadfs(name: string, size: number, extra: string[]): Promise<Target & { store: string }> {
    const store = join(this.tmp, `store-${name}`);
    const mnt = join(this.tmp, `mnt-${name}`);
    await mkdir(mnt);
    await aheadfs('mkfs', store, '--size', String(size), '--block-file-size', String(BLOCK_FILE_BYTES));
    this.mounts.push({ store, mnt, kind: 'aheadfs' });
    await aheadfs('mount', store, mnt, ...extra);
    return { name: 'aheadfs', dir: mnt, mnt, store, pid: await daemonPid(store) };
  }

  async mountNull(name: 'null-fuse' | 'null-mem', files: number, bytes: number): Promise<Target> {
    const mnt = join(this.tmp, `mnt-${name}`);
    await mkdir(mnt);
    const child = spawn(process.execPath, [NULLFS, mnt, String(files), String(bytes), name === 'null-mem' ? 'memory' : 'pattern'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.mounts.push({ mnt, kind: 'null', child });
    await new Promise<void>((res, rej) => {
      let buf = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        buf += d;
        if (buf.includes('ready\n')) res();
      });
      child.on('exit', (code) => rej(new Error(`nullfs exited (${code}) before mounting`)));
    });
    return { name, dir: mnt, pid: child.pid };
  }

  /** bindfs over `src` (the files f0..f3), its FUSE window set to `readAheadKb`. */
  async mountBindfs(src: string, readAheadKb: number): Promise<Target> {
    const mnt = join(this.tmp, 'mnt-bindfs');
    await mkdir(mnt);
    const b = await mountBindfs(src, mnt, readAheadKb);
    this.mounts.push({ mnt, kind: 'bindfs', child: b.child });
    return { name: 'bindfs', dir: mnt, bdi: b.bdi, pid: b.child.pid, kernelCache: true };
  }

  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const m of [...this.mounts].reverse()) {
      try {
        if (m.kind === 'bindfs') await unmountBindfs(m.mnt, m.child);
        else if (m.kind === 'aheadfs') {
          if (await findMount(m.mnt)) await aheadfs('umount', m.mnt).catch((err: unknown) => say(`umount ${m.mnt}: ${String(err)}`));
        } else if (m.child && m.child.exitCode === null) {
          const child = m.child;
          const exited = new Promise<void>((res) => child.once('exit', () => res()));
          child.kill('SIGTERM');
          await Promise.race([exited, new Promise((res) => setTimeout(res, 10_000))]);
        }
        if (await findMount(m.mnt)) await run('fusermount', ['-uz', m.mnt]).catch(() => undefined);
        if (m.store) {
          // A daemon the umount did not stop: its lock is still held.
          const lock = await isStoreLocked(m.store).catch(() => undefined);
          if (lock?.locked && lock.pid !== undefined) process.kill(lock.pid, 'SIGKILL');
        }
      } catch (err) {
        say(`cleanup of ${m.mnt}: ${String(err)}`);
      }
    }
    for (const m of this.mounts) if (m.child && m.child.exitCode === null) m.child.kill('SIGKILL');
    if (this.tmp) await rm(this.tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function machine(): Promise<BenchDoc['machine']> {
  const fioVersion = (await run('fio', ['--version']).catch(() => 'unknown')).trim();
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memBytes: totalmem(), kernel: release(), node: process.version, fio: fioVersion };
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(BENCH_USAGE);
    return;
  }
  const mode = { ...(args.quick ? QUICK : FULL) };
  if (args.reps !== undefined) mode.reps = args.reps;
  const outDir = args.out ?? join(ROOT, 'bench-results');
  const tmpRoot = process.env.AHEADFS_BENCH_TMP ?? '/var/tmp';
  const t0 = Date.now();
  if (args.chart !== undefined) {
    const written = await renderNbdChartFile(args.chart, args.out);
    process.stdout.write(`wrote ${written.join(', ')}\n`);
    return;
  }
  if (args.scenario === 'nbd-delay') {
    await runNbdDelay({ quick: args.quick, reps: args.reps, outDir, tmpRoot, say });
    return;
  }
  const readAheadKb = args.readAheadKb ?? 128;
  const mountArgs = [...(args.readAheadKb !== undefined ? ['--read-ahead-kb', String(readAheadKb)] : []), ...args.mountArgs];

  const bench = new Bench();
  const onSignal = (sig: NodeJS.Signals): void => {
    say(`${sig}: cleaning up`);
    void bench.cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const doc: BenchDoc = {
    date: new Date().toISOString(),
    mode: mode.name,
    machine: await machine(),
    repetitions: mode.reps,
    config: {},
    scenarios: [],
  };
  try {
    bench.tmp = await mkdtemp(join(tmpRoot, 'aheadfs-bench-'));
    const storeBytes = Math.ceil((4 * mode.fileBytes + 2 * mode.writeBytes + 64 * MiB) / (64 * MiB)) * 64 * MiB;
    say(`${mode.name} mode, ${mode.reps} repetitions, files of ${mode.fileBytes / MiB} MiB, stores of ${storeBytes / MiB} MiB in ${bench.tmp}`);
    // o_direct reads store-on's block files (mountAheadfs('on') makes store-on below).
    const all = scenarios(mode, join(bench.tmp, 'store-on', 'blocks'), join(bench.tmp, 'scratch.bin'));
    if (all.map((s) => s.id).join() !== FIO_SCENARIO_IDS.join()) throw new Error('args.ts FIO_SCENARIO_IDS does not match the scenarios of run.ts');
    const chosen = all.filter((x) => !args.only || args.only.includes(x.id));
    const on = await bench.mountAheadfs('on', storeBytes, [...mountArgs, '--kernel', '6.18']);
    const off = { ...(await bench.mountAheadfs('off', storeBytes, [...mountArgs, '--ra-policy', 'none'])), name: 'ra-off' as const };
    // The 4.18 read path beside it: a third store, only when a chosen scenario reads it.
    const v418 = chosen.some((s) => s.targets.includes('aheadfs-4.18')) ? { ...(await bench.mountAheadfs('418', storeBytes, [...mountArgs, '--kernel', '4.18'])), name: 'aheadfs-4.18' as const } : undefined;
    // --writeback off beside the default, only when a chosen scenario writes to it.
    const wt = chosen.some((s) => s.targets.includes('write-through')) ? { ...(await bench.mountAheadfs('wt', storeBytes, [...mountArgs, '--writeback', 'off'])), name: 'write-through' as const } : undefined;
    const aheadfsStores = v418 ? [on, off, v418] : [on, off];
    const nul = await bench.mountNull('null-fuse', 4, mode.fileBytes);
    // Only the cached scenarios (f0) read it: one file, held in RAM.
    const nulMem = await bench.mountNull('null-mem', 1, mode.fileBytes);
    // The data files, written through each aheadfs mount (4 writers side by side).
    for (const t of aheadfsStores) {
      await fio(['--name=layout', '--rw=write', '--bs=1M', `--size=${mode.fileBytes}`, ...dataFiles(t.dir!), '--ioengine=psync', '--group_reporting']);
    }
    // Warm-up, unmeasured: a first pass over every data file on each FUSE target, so that
    // no target's first repetition pays for V8 compiling its read path or for the first
    // touch of aheadfs' cache arena (fresh daemons read at about half speed at first).
    say('warm-up: one sequential read of every data file on each FUSE target');
    for (const t of [...aheadfsStores, nul]) {
      await fio(['--name=warmup', '--rw=read', '--bs=128k', `--size=${mode.fileBytes}`, `--runtime=${mode.runtime}`, ...dataFiles(t.dir!), '--ioengine=psync', '--group_reporting']);
    }
    await fio(['--name=warmup', '--rw=read', '--bs=128k', `--size=${mode.fileBytes}`, `--runtime=${mode.runtime}`, `--filename=${join(nulMem.dir!, 'f0')}`, '--ioengine=psync']);
    // The peers' files: a plain directory in the same temp dir (the same disk), bindfs over it.
    const plain = join(bench.tmp, 'plain');
    await mkdir(plain);
    await fio(['--name=layout', '--rw=write', '--bs=1M', `--size=${mode.fileBytes}`, ...dataFiles(plain), '--ioengine=psync', '--group_reporting', '--end_fsync=1']);
    const kernel: Target = { name: 'kernel', dir: plain, kernelCache: true };
    const bind = await bench.mountBindfs(plain, readAheadKb);
    const disk = await diskReadAheadKb(plain);
    const direct: Target = { name: 'o_direct' };
    const missing418: Target = { name: 'aheadfs-4.18' }; // never read: no chosen scenario runs it
    const missingWt: Target = { name: 'write-through' }; // never used: no chosen scenario writes to it
    const targets: Record<TargetName, Target> = { aheadfs: on, 'aheadfs-4.18': v418 ?? missing418, 'write-through': wt ?? missingWt, 'ra-off': off, 'null-fuse': nul, 'null-mem': nulMem, o_direct: direct, bindfs: bind, kernel };
    doc.config = {
      fileMiB: mode.fileBytes / MiB,
      writeMiB: mode.writeBytes / MiB,
      runtimeSec: mode.runtime,
      randMiB: mode.randBytes / MiB,
      cacheSize: '256M (default)',
      kernel418: v418 ? 'aheadfs-4.18: a third store mounted --kernel 4.18 (aheadfs: --kernel 6.18)' : 'not run',
      readAheadKb: args.readAheadKb !== undefined ? String(readAheadKb) : '128 (default)',
      bindfs: `bindfs over plain/ (f0..f3 on the same disk), FUSE bdi ${bind.bdi} read_ahead_kb ${readAheadKb} (1024 in seq-read-128k-ra1m)`,
      kernelPeer: `buffered reads of plain/, disk bdi ${disk.bdi} read_ahead_kb ${disk.kb} (the disk's own)`,
      ...(args.mountArgs.length ? { mountArgs: args.mountArgs.join(' ') } : {}),
      blockFile: '64 MiB block files; o_direct reads store-on/blocks/* read-only (as many files as the scenario reads), writes a scratch file in the bench directory',
    };

    for (const s of chosen) {
      say(`${s.id}: ${s.title}`);
      const runs: Partial<Record<TargetName, RunFigures[]>> = {};
      for (let r = 0; r < mode.reps; r++) {
        for (const name of repetitionOrder(s.targets, r)) {
          const fig = await runOne(s, targets[name]);
          (runs[name] ??= []).push(fig);
        }
      }
      const res: ScenarioResult = { id: s.id, title: s.title, targets: {}, ratios: {} };
      for (const [name, rs] of Object.entries(runs) as [TargetName, RunFigures[]][]) res.targets[name] = { runs: rs, median: medianFigures(rs) };
      res.ratios = scenarioRatios(res.targets);
      doc.scenarios.push(res);
    }
  } finally {
    await bench.cleanup();
  }

  // The fio results are in hand: a failing micro-benchmark must not lose them.
  let microError: unknown;
  try {
    say('in-process micro-benchmark (cached vfs.read, no FUSE): 6.18 and 4.18 loops, 4 KiB and 128 KiB, each in a process of its own');
    const micro = { tmpRoot, fileBytes: mode.microMiB * MiB, reads: mode.microReads };
    const loops: MicroLoop[] = [];
    let mOn: MicroResult | undefined;
    // 128 KiB reads move 32 pages each: a 32nd of the reads takes about as long.
    for (const bs of [4096, 128 << 10]) {
      for (const kernel of ['6.18', '4.18'] as const) {
        const r = await runMicroIsolated({ ...micro, reads: Math.max(1000, Math.round(micro.reads / (bs / 4096))), trace: true, kernel, bs });
        if (kernel === '6.18' && bs === 4096) mOn = r;
        loops.push({ kernel, bs, trace: true, pagesPerSec: r.pagesPerSec, copyPagesPerSec: r.copyPagesPerSec, pagesPerCpuSec: r.pagesPerCpuSec, copyPagesPerCpuSec: r.copyPagesPerCpuSec, folioOrders: r.folioOrders });
      }
    }
    const mOff = await runMicroIsolated({ ...micro, trace: false, kernel: '6.18' });
    if (mOn === undefined) throw new Error('micro: the 6.18 4 KiB loop did not run');
    doc.micro = { fileBytes: mOn.fileBytes, reads: mOn.reads, traceOnPagesPerSec: mOn.pagesPerSec, traceOffPagesPerSec: mOff.pagesPerSec, copyPagesPerSec: Math.max(mOn.copyPagesPerSec, mOff.copyPagesPerSec), loops };
  } catch (err) {
    microError = err;
  }

  const rows = tableRows(doc);
  const stamp = doc.date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, `${stamp}.json`), JSON.stringify(doc, null, 2) + '\n');
  await writeFile(join(outDir, `${stamp}.svg`), renderSvg(doc));
  await writeFile(join(outDir, `${stamp}.md`), formatMarkdown(TABLE_HEADER, rows) + '\n');
  const mic = doc.micro;
  process.stdout.write(
    `\naheadfs bench ${doc.date} (${doc.mode}, ${doc.repetitions} repetitions, medians; ratios = median of per-repetition ratios)\n` +
      `machine: ${doc.machine.cpus} x ${doc.machine.cpuModel}, ${(doc.machine.memBytes / 2 ** 30).toFixed(1)} GiB, Linux ${doc.machine.kernel}, node ${doc.machine.node}, ${doc.machine.fio}\n\n` +
      formatTable(TABLE_HEADER, rows) +
      (mic ? `\n\n${formatMicro(mic).join('\n')}\n` : '\n') +
      `\nwrote ${join(outDir, stamp)}.{json,svg,md} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  if (microError !== undefined) throw new Error(`the in-process micro-benchmark failed (the fio results are written): ${microError instanceof Error ? microError.message : String(microError)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
