/**
 * `aheadfs mount [<store> <mountpoint>] [options]`
 *
 * Validates everything first (UsageError: exit 2, nothing changed). Then, by default,
 * daemonizes: starts `aheadfs mount <store> <mnt> --foreground --ready-fd 3 ...` detached,
 * its stdout/stderr appended to `<store>/aheadfs.log`, and waits on fd 3 for the one line
 * the daemon writes once the mount answers (`ok`) or failed (`error: <reason>`).
 *
 *   parent: validate --> check meta/ (fsck, read-only) --> spawn(detached) --> read fd 3 --> print, exit 0 / 1
 *   child:  validate --> runDaemon: lock, open, mount, stat .aheadfs/stats --> "ok" --> serve
 */

import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import type { MountOptions } from '../fuse/contract.js';
import { describeNotPrivate, LOG_FILE, STORE_FILE_MODE } from '../fs/store-files.js';
import { checkBeforeMount } from '../fs/fsck/index.js';
import { runDaemon } from '../fuse/daemon.js';
import { LOG_OPEN_FLAGS } from '../fuse/log.js';
import { DEFAULT_NBD_OPTIONS } from '../block/open.js';
import { KNOB_LIST, KNOBS, parseFlag, type Knob } from '../knobs/table.js';
import { optionText } from './args.js';
import { faultArgs, parseFaultArgs } from './fault-options.js';
import { parseMountOptions, type MountOptionSpec } from './mount-options.js';
import { mkfsWithProgress } from './mkfs.js';
import { formatSize } from './size.js';
import {
  checkMountpoint,
  checkNotMounted,
  checkRoot,
  checkStore,
  DEFAULT_BLOCK_FILE_SIZE,
  DEFAULT_MOUNTPOINT,
  DEFAULT_STORE,
  DEFAULT_STORE_SIZE,
  pathExists,
} from './store.js';

/** How long `aheadfs mount` waits for the daemon's answer. */
const READY_TIMEOUT_MS = 60_000;

const BIN = fileURLToPath(new URL('../../bin/aheadfs.js', import.meta.url));

export type Tunables = Omit<MountOptions, 'log'>;

/** The raw option values yargs gives, by flag name (strings, or arrays when given twice). */
type RawMountArgs = Record<string, unknown>;

/** The knobs with a mount flag that always has a value (the fault knobs are fault-options.ts'). */
const MOUNT_KNOBS = [
  KNOBS.cacheSize,
  KNOBS.readAheadKb,
  KNOBS.maxSectorsKb,
  KNOBS.nrRequests,
  KNOBS.scheduler,
  KNOBS.raPolicy,
  KNOBS.kernel,
  KNOBS.readpages,
  KNOBS.writeback,
  KNOBS.dirtyBackgroundBytes,
  KNOBS.dirtyBackgroundRatio,
  KNOBS.dirtyBytes,
  KNOBS.dirtyRatio,
  KNOBS.dirtyExpireCentisecs,
  KNOBS.dirtyWritebackCentisecs,
  KNOBS.nbdConnections,
  KNOBS.nbdTimeout,
  KNOBS.nbdReconnect,
] as const;

/** yargs options for every knob with a mount flag, from the table (all strings, parsed by parseTunables). */
export function knobOptions(): Record<string, { type: 'string'; requiresArg: true; default?: string; describe: string }> {
  const out: Record<string, { type: 'string'; requiresArg: true; default?: string; describe: string }> = {};
  for (const k of KNOB_LIST) {
    if (k.flag === undefined) continue;
    const unit = k.unit === '' ? '' : ` [${k.unit}]`;
    out[k.flag] = { type: 'string', requiresArg: true, describe: `${k.doc}${unit}; ${k.expected}`, ...(k.optional ? {} : { default: k.format(k.default) }) };
  }
  return out;
}

/** One flag's value through its knob (UsageError naming the flag). */
function flag<T>(a: RawMountArgs, k: Knob<T>): T {
  const name = `--${k.flag ?? k.name}`;
  return parseFlag(k, optionText(name, a[k.flag ?? k.name]));
}

/** Parse and check the mount options; throws UsageError. */
export function parseTunables(a: RawMountArgs): Tunables {
  return {
    cacheBytes: flag(a, KNOBS.cacheSize),
    readAheadKb: flag(a, KNOBS.readAheadKb),
    maxSectorsKb: flag(a, KNOBS.maxSectorsKb),
    nrRequests: flag(a, KNOBS.nrRequests),
    scheduler: flag(a, KNOBS.scheduler),
    raPolicy: flag(a, KNOBS.raPolicy),
    kernel: flag(a, KNOBS.kernel),
    readpages: flag(a, KNOBS.readpages),
    writeback: flag(a, KNOBS.writeback),
    dirty: dirtyKnobs(a),
    faults: parseFaultArgs(a),
    nbd: {
      connections: flag(a, KNOBS.nbdConnections),
      timeoutMs: flag(a, KNOBS.nbdTimeout),
      reconnectMs: flag(a, KNOBS.nbdReconnect),
    },
  };
}

/**
 * The vm.dirty_* flags, with the kernel's rule: a non-zero _bytes knob zeroes its _ratio
 * twin (mm/page-writeback.c dirty_bytes_handler), so the limit in use is the one given.
 */
function dirtyKnobs(a: RawMountArgs): NonNullable<Tunables['dirty']> {
  const dirtyBytes = flag(a, KNOBS.dirtyBytes);
  const dirtyBackgroundBytes = flag(a, KNOBS.dirtyBackgroundBytes);
  return {
    dirtyBytes,
    dirtyRatio: dirtyBytes > 0 ? 0 : flag(a, KNOBS.dirtyRatio),
    dirtyBackgroundBytes,
    dirtyBackgroundRatio: dirtyBackgroundBytes > 0 ? 0 : flag(a, KNOBS.dirtyBackgroundRatio),
    dirtyExpireCentisecs: flag(a, KNOBS.dirtyExpireCentisecs),
    dirtyWritebackCentisecs: flag(a, KNOBS.dirtyWritebackCentisecs),
  };
}

/** The flag values of `t` for each of MOUNT_KNOBS, in the knobs' text. */
function tunableArgs(t: Tunables): string[] {
  const d = DEFAULT_NBD_OPTIONS;
  const v: { [K in (typeof MOUNT_KNOBS)[number]['name']]: string } = {
    cache_size: KNOBS.cacheSize.format(t.cacheBytes),
    read_ahead_kb: KNOBS.readAheadKb.format(t.readAheadKb),
    max_sectors_kb: KNOBS.maxSectorsKb.format(t.maxSectorsKb),
    nr_requests: KNOBS.nrRequests.format(t.nrRequests),
    scheduler: KNOBS.scheduler.format(t.scheduler),
    ra_policy: KNOBS.raPolicy.format(t.raPolicy),
    kernel: KNOBS.kernel.format(t.kernel),
    readpages: KNOBS.readpages.format(t.readpages),
    writeback: KNOBS.writeback.format(t.writeback),
    dirty_background_bytes: KNOBS.dirtyBackgroundBytes.format(t.dirty?.dirtyBackgroundBytes ?? KNOBS.dirtyBackgroundBytes.default),
    // A ratio zeroed by its _bytes twin is passed as its default (the _bytes flag zeroes it again).
    dirty_background_ratio: KNOBS.dirtyBackgroundRatio.format((t.dirty?.dirtyBackgroundBytes ?? 0) > 0 ? KNOBS.dirtyBackgroundRatio.default : (t.dirty?.dirtyBackgroundRatio ?? KNOBS.dirtyBackgroundRatio.default)),
    dirty_bytes: KNOBS.dirtyBytes.format(t.dirty?.dirtyBytes ?? KNOBS.dirtyBytes.default),
    dirty_ratio: KNOBS.dirtyRatio.format((t.dirty?.dirtyBytes ?? 0) > 0 ? KNOBS.dirtyRatio.default : (t.dirty?.dirtyRatio ?? KNOBS.dirtyRatio.default)),
    dirty_expire_centisecs: KNOBS.dirtyExpireCentisecs.format(t.dirty?.dirtyExpireCentisecs ?? KNOBS.dirtyExpireCentisecs.default),
    dirty_writeback_centisecs: KNOBS.dirtyWritebackCentisecs.format(t.dirty?.dirtyWritebackCentisecs ?? KNOBS.dirtyWritebackCentisecs.default),
    nbd_connections: KNOBS.nbdConnections.format(t.nbd?.connections ?? d.connections),
    nbd_timeout: KNOBS.nbdTimeout.format(t.nbd?.timeoutMs ?? d.timeoutMs),
    nbd_reconnect: KNOBS.nbdReconnect.format(t.nbd?.reconnectMs ?? d.reconnectMs),
  };
  return MOUNT_KNOBS.flatMap((k) => [`--${k.flag}`, v[k.name]]);
}

/** FUSE-level switches of a mount. */
interface FuseFlags {
  fuseDebug: boolean;
  allowOther: boolean;
  readOnly: boolean;
  /** Kernel mount flags from -o (nosuid, noexec, ...), for libfuse. */
  kernelFlags: string[];
}

/** The mount flags `-o name=value` / `-o name` may set (`_` for `-`): every knob's flag, and the switches. */
const O_OPTIONS: MountOptionSpec = {
  valued: KNOB_LIST.flatMap((k) => (k.flag === undefined ? [] : [k.flag])),
  switches: ['allow-other', 'fuse-debug'],
};

/** The daemon's command line for these (already checked) options. */
function daemonArgs(store: string, mnt: string, t: Tunables, { fuseDebug, allowOther, readOnly, kernelFlags }: FuseFlags): string[] {
  const args = [BIN, 'mount', store, mnt, '--foreground', '--ready-fd', '3', ...tunableArgs(t), ...faultArgs(t.faults)];
  if (fuseDebug) args.push('--fuse-debug');
  if (allowOther) args.push('--allow-other');
  if (readOnly) args.push('--read-only');
  if (kernelFlags.length > 0) args.push('-o', kernelFlags.join(','));
  return args;
}

/** Start the daemon and wait for its status line. Resolves with its pid; rejects with the reason. */
async function daemonize(store: string, mnt: string, t: Tunables, flags: FuseFlags): Promise<number> {
  const logFile = await open(join(store, LOG_FILE), LOG_OPEN_FLAGS, STORE_FILE_MODE);
  try {
    const child = spawn(process.execPath, daemonArgs(store, mnt, t, flags), {
      detached: true,
      stdio: ['ignore', logFile.fd, logFile.fd, 'pipe'],
    });
    const status = child.stdio[3] as Readable;
    const line = await new Promise<string>((res) => {
      let buf = '';
      const timer = setTimeout(() => res(`error: no answer from the daemon after ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
      status.setEncoding('utf8');
      status.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          res(buf.slice(0, nl));
        }
      });
      status.on('error', () => undefined);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        res(buf.includes('\n') ? buf.slice(0, buf.indexOf('\n')) : `error: the daemon exited (${signal ?? `code ${code}`}) before the mount answered`);
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        res(`error: could not start the daemon: ${err.message}`);
      });
    });
    status.destroy();
    if (line === 'ok' && child.pid !== undefined) {
      child.unref();
      return child.pid;
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const reason = line.startsWith('error: ') ? line.slice('error: '.length) : `unexpected answer from the daemon: ${line}`;
    throw new Error(`${reason} (log: ${join(store, 'aheadfs.log')})`);
  } finally {
    await logFile.close();
  }
}

/** Resolve the store/mountpoint pair, creating the embedded default store on first use. */
async function resolveTarget(store: string | undefined, mnt: string | undefined): Promise<{ store: string; mnt: string }> {
  if ((store === undefined) !== (mnt === undefined)) throw new UsageError('give both <store> and <mountpoint>, or neither (for the default ./data/store on ./mount)');
  if (store !== undefined && mnt !== undefined) return { store: resolve(store), mnt: resolve(mnt) };
  const dStore = resolve(DEFAULT_STORE);
  const dMnt = resolve(DEFAULT_MOUNTPOINT);
  if (!(await pathExists(dStore))) {
    await mkdir(resolve(dStore, '..'), { recursive: true });
    const sb = await mkfsWithProgress(dStore, { sizeBytes: DEFAULT_STORE_SIZE, blockFileSize: DEFAULT_BLOCK_FILE_SIZE, force: false });
    process.stdout.write(`created the default store ${dStore} (${formatSize(DEFAULT_STORE_SIZE)}, uuid ${sb.uuid})\n`);
  }
  await mkdir(dMnt, { recursive: true });
  return { store: dStore, mnt: dMnt };
}

export function mountCommand(y: Argv): Argv {
  return y.command(
    'mount [store] [mountpoint]',
    'mount a store (default: ./data/store on ./mount); returns once the mount answers',
    (c) =>
      c
        .positional('store', { type: 'string', describe: 'store directory (made by mkfs)' })
        .positional('mountpoint', { type: 'string', describe: 'an empty directory' })
        .option('foreground', { type: 'boolean', default: false, describe: 'stay attached; stop on SIGINT/SIGTERM or umount' })
        .option('fuse-debug', { type: 'boolean', default: false, describe: "libfuse's own request trace, in the log" })
        .option('allow-other', { type: 'boolean', default: false, describe: 'let other users use the mount (FUSE allow_other; modes are enforced)' })
        .option('read-only', { alias: 'r', type: 'boolean', default: false, describe: 'mount read-only (-o ro): writes fail with EROFS, control files included' })
        .option('options', {
          alias: 'o',
          type: 'string',
          requiresArg: true,
          describe: 'mount options as mount(8) and fstab give them: ro, rw, read_ahead_kb=1024, cache_size=512M, ... (each flag with _ for -), nosuid, noexec, ...',
        })
        .option('ready-fd', { type: 'number', hidden: true })
        .option('helper', { type: 'boolean', default: false, hidden: true }) // run by mount(8): no line on success
        .options(knobOptions()),
    async (argv) => {
      const fd = argv['ready-fd'];
      const report = typeof fd === 'number' ? statusReporter(fd) : undefined;
      try {
        await mount(mountArgs(argv), report);
      } catch (err) {
        // A daemon child that fails before runDaemon still owes its parent the status line.
        report?.(`error: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      }
    },
  );
}

/** The daemon's side of the status pipe: the first line wins, then the fd is closed. */
function statusReporter(fd: number): (line: string) => void {
  let sent = false;
  return (line) => {
    if (sent) return;
    sent = true;
    try {
      writeSync(fd, line + '\n');
      closeSync(fd);
    } catch {
      // The parent is gone; nothing to tell.
    }
  };
}

interface MountArgs {
  raw: RawMountArgs;
  store: string | undefined;
  mountpoint: string | undefined;
  foreground: boolean;
  'fuse-debug': boolean;
  'allow-other': boolean;
  'read-only': boolean;
  options: string | string[] | undefined;
  helper: boolean;
}

/** Apply `-o` to the flags (it wins over them, as the later option does for mount(8)); the FUSE switches. */
function applyOptions(argv: MountArgs): FuseFlags {
  const texts = argv.options === undefined ? [] : Array.isArray(argv.options) ? argv.options : [argv.options];
  const o = parseMountOptions(texts, O_OPTIONS);
  for (const [flag, value] of o.flags) argv.raw[flag] = value;
  return {
    fuseDebug: argv.raw['fuse-debug'] === true,
    allowOther: argv.raw['allow-other'] === true,
    readOnly: o.readOnly ?? argv['read-only'],
    kernelFlags: o.kernelFlags,
  };
}

/** The typed part of yargs' answer (the knob flags stay raw strings for parseTunables). */
function mountArgs(argv: RawMountArgs): MountArgs {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    raw: argv,
    store: str(argv.store),
    mountpoint: str(argv.mountpoint),
    foreground: argv.foreground === true,
    'fuse-debug': argv['fuse-debug'] === true,
    'allow-other': argv['allow-other'] === true,
    'read-only': argv['read-only'] === true,
    options: typeof argv.options === 'string' || Array.isArray(argv.options) ? (argv.options as string | string[]) : undefined,
    helper: argv.helper === true,
  };
}

async function mount(argv: MountArgs, report: ((line: string) => void) | undefined): Promise<void> {
  const flags = applyOptions(argv);
  const tunables = parseTunables(argv.raw);
  checkRoot('aheadfs mount');
  const { store, mnt } = await resolveTarget(argv.store, argv.mountpoint);
  const files = await checkStore(store);
  await checkMountpoint(mnt);
  await checkNotMounted(store);
  // Once, on the user's terminal; the daemon logs it (and echoes it with --foreground).
  const warning = describeNotPrivate(store, files);
  if (warning && !argv.foreground) process.stderr.write(`aheadfs: ${warning}\n`);
  // The metadata, before any daemon lets LMDB map it (a damaged file kills the process
  // that maps it). A daemon started by `aheadfs mount` (--ready-fd) was checked by it.
  if (report === undefined) await checkBeforeMount(store);
  if (argv.foreground) {
    const code = await runDaemon({ store, mountpoint: mnt, mount: tunables, ...flags, report });
    process.exit(code);
  }
  const pid = await daemonize(store, mnt, tunables, flags);
  if (argv.helper) return;
  process.stdout.write(`mounted ${store} on ${mnt}${flags.readOnly ? ' read-only' : ''} (daemon pid ${pid}, log ${join(store, 'aheadfs.log')})\n`);
}
