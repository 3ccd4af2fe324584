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
import { KERNEL_VERSIONS } from '../mm/pagecache.js';
import { checkBeforeMount } from '../fs/fsck/index.js';
import { runDaemon } from '../fuse/daemon.js';
import { LOG_OPEN_FLAGS } from '../fuse/log.js';
import { MAX_CACHE_BYTES } from '../mm/frames.js';
import { READ_AHEAD_KB_MAX } from '../vfs/tunables.js';
import { optionText, parseSeconds, parseWholeNumber } from './args.js';
import { FAULT_OPTIONS, faultArgs, parseFaultArgs, type RawFaultArgs } from './fault-options.js';
import { mkfsWithProgress } from './mkfs.js';
import { formatSize, parseSize } from './size.js';
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

/** The page cache arena is one WebAssembly.Memory: at most 4 GiB. */
export const MIN_CACHE_BYTES = 1 << 20;
/** How long `aheadfs mount` waits for the daemon's answer. */
const READY_TIMEOUT_MS = 60_000;

const BIN = fileURLToPath(new URL('../../bin/aheadfs.js', import.meta.url));

export type Tunables = Omit<MountOptions, 'log'>;

interface RawMountArgs extends RawFaultArgs {
  'cache-size': string;
  'read-ahead-kb': string;
  'max-sectors-kb': string;
  'nr-requests': string;
  scheduler: string;
  'ra-policy': string;
  readpages: string;
  kernel: string;
  'nbd-connections': string;
  'nbd-timeout': string;
  'nbd-reconnect': string;
  writeback: string;
  'dirty-background-bytes': string;
  'dirty-background-ratio': string;
  'dirty-bytes': string;
  'dirty-ratio': string;
  'dirty-expire-centisecs': string;
  'dirty-writeback-centisecs': string;
}

/** Parse and check the mount options; throws UsageError. */
export function parseTunables(a: RawMountArgs): Tunables {
  const cacheBytes = parseSize(optionText('--cache-size', a['cache-size']), '--cache-size');
  if (cacheBytes % 4096 !== 0) throw new UsageError(`bad --cache-size '${a['cache-size']}': must be a multiple of 4 KiB`);
  if (cacheBytes < MIN_CACHE_BYTES || cacheBytes > MAX_CACHE_BYTES) {
    throw new UsageError(`bad --cache-size '${a['cache-size']}': must be from ${formatSize(MIN_CACHE_BYTES)} to ${formatSize(MAX_CACHE_BYTES)}`);
  }
  const scheduler = a.scheduler;
  if (scheduler !== 'none' && scheduler !== 'mq-deadline') throw new UsageError(`bad --scheduler '${scheduler}': expected none or mq-deadline`);
  const raPolicy = a['ra-policy'];
  if (raPolicy !== 'ondemand' && raPolicy !== 'none') throw new UsageError(`bad --ra-policy '${raPolicy}': expected ondemand or none`);
  const kernel = KERNEL_VERSIONS.find((k) => k === a.kernel);
  if (kernel === undefined) throw new UsageError(`bad --kernel '${a.kernel}': expected ${KERNEL_VERSIONS.join(' or ')}`);
  if (a.readpages !== 'on' && a.readpages !== 'off') throw new UsageError(`bad --readpages '${a.readpages}': expected on or off`);
  if (a.writeback !== 'on' && a.writeback !== 'off') throw new UsageError(`bad --writeback '${a.writeback}': expected on or off`);
  const centisecs = (name: 'dirty-expire-centisecs' | 'dirty-writeback-centisecs'): number => parseWholeNumber(`--${name}`, a[name], { min: 0, max: 2 ** 31 - 1 });
  const bytesOrZero = (name: string, raw: string): number => (optionText(name, raw).trim() === '0' ? 0 : parseSize(optionText(name, raw), name));
  const dirtyBytes = bytesOrZero('--dirty-bytes', a['dirty-bytes']);
  if (dirtyBytes > 0 && dirtyBytes < 8192) throw new UsageError(`bad --dirty-bytes '${a['dirty-bytes']}': at least 8K (two pages), or 0`);
  const dirtyBackgroundBytes = bytesOrZero('--dirty-background-bytes', a['dirty-background-bytes']);
  return {
    cacheBytes,
    readAheadKb: parseWholeNumber('--read-ahead-kb', a['read-ahead-kb'], { min: 0, max: READ_AHEAD_KB_MAX }),
    maxSectorsKb: parseWholeNumber('--max-sectors-kb', a['max-sectors-kb'], { min: 4, max: 1 << 16 }),
    nrRequests: parseWholeNumber('--nr-requests', a['nr-requests'], { min: 4, max: 1024 }),
    scheduler,
    raPolicy,
    kernel,
    readpages: a.readpages === 'on',
    writeback: a.writeback === 'on',
    dirty: {
      dirtyBytes,
      dirtyRatio: dirtyBytes > 0 ? 0 : parseWholeNumber('--dirty-ratio', a['dirty-ratio'], { min: 1, max: 100 }),
      dirtyBackgroundBytes,
      dirtyBackgroundRatio: dirtyBackgroundBytes > 0 ? 0 : parseWholeNumber('--dirty-background-ratio', a['dirty-background-ratio'], { min: 0, max: 100 }),
      dirtyExpireCentisecs: centisecs('dirty-expire-centisecs'),
      dirtyWritebackCentisecs: centisecs('dirty-writeback-centisecs'),
    },
    faults: parseFaultArgs(a),
    nbd: {
      connections: parseWholeNumber('--nbd-connections', a['nbd-connections'], { min: 1, max: 16 }),
      timeoutMs: Math.round(parseSeconds('--nbd-timeout', a['nbd-timeout'], { max: 3600 }) * 1000),
      reconnectMs: Math.round(parseSeconds('--nbd-reconnect', a['nbd-reconnect'], { max: 3600 }) * 1000),
    },
  };
}

/** FUSE-level switches of a mount. */
interface FuseFlags {
  fuseDebug: boolean;
  allowOther: boolean;
}

/** The daemon's command line for these (already checked) options. */
function daemonArgs(store: string, mnt: string, t: Tunables, { fuseDebug, allowOther }: FuseFlags): string[] {
  const args = [
    BIN, 'mount', store, mnt, '--foreground', '--ready-fd', '3',
    '--cache-size', String(t.cacheBytes),
    '--read-ahead-kb', String(t.readAheadKb),
    '--max-sectors-kb', String(t.maxSectorsKb),
    '--nr-requests', String(t.nrRequests),
    '--scheduler', t.scheduler,
    '--ra-policy', t.raPolicy,
    '--kernel', t.kernel,
    '--readpages', t.readpages ? 'on' : 'off',
    '--writeback', t.writeback ? 'on' : 'off',
    '--dirty-bytes', String(t.dirty?.dirtyBytes ?? 0),
    '--dirty-ratio', String(t.dirty?.dirtyRatio || 20),
    '--dirty-background-bytes', String(t.dirty?.dirtyBackgroundBytes ?? 0),
    '--dirty-background-ratio', String(t.dirty?.dirtyBackgroundRatio ?? 10),
    '--dirty-expire-centisecs', String(t.dirty?.dirtyExpireCentisecs ?? 3000),
    '--dirty-writeback-centisecs', String(t.dirty?.dirtyWritebackCentisecs ?? 500),
    '--nbd-connections', String(t.nbd?.connections ?? 1),
    '--nbd-timeout', String((t.nbd?.timeoutMs ?? 30_000) / 1000),
    '--nbd-reconnect', String((t.nbd?.reconnectMs ?? 30_000) / 1000),
    ...faultArgs(t.faults),
  ];
  if (fuseDebug) args.push('--fuse-debug');
  if (allowOther) args.push('--allow-other');
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
        .option('cache-size', { type: 'string', default: '256M', requiresArg: true, describe: `page cache size (at most ${formatSize(MAX_CACHE_BYTES)})` })
        .option('read-ahead-kb', { type: 'string', default: '128', requiresArg: true, describe: 'maximum readahead window (like /sys/block/*/queue/read_ahead_kb)' })
        .option('max-sectors-kb', { type: 'string', default: '1280', requiresArg: true, describe: 'largest device request' })
        .option('nr-requests', { type: 'string', default: '64', requiresArg: true, describe: 'device requests in flight at most' })
        .option('scheduler', { type: 'string', default: 'mq-deadline', requiresArg: true, describe: 'I/O scheduler: none or mq-deadline' })
        .option('ra-policy', { type: 'string', default: 'ondemand', requiresArg: true, describe: 'readahead policy: ondemand or none' })
        .option('kernel', { type: 'string', default: '6.18', requiresArg: true, describe: "whose read path: 4.18 (do_generic_file_read, order-0 pages) or 6.18 (filemap_read, large folios)" })
        .option('readpages', { type: 'string', default: 'on', requiresArg: true, describe: 'on: readahead I/O in batches (readpages); off: page by page' })
        .option('writeback', { type: 'string', default: 'on', requiresArg: true, describe: 'on: a writeback page cache (writes reply once copied, a flusher writes them back; fsync makes them durable); off: write-through' })
        .option('dirty-background-bytes', { type: 'string', default: '0', requiresArg: true, describe: 'vm.dirty_background_bytes: dirty bytes at which the flusher starts (0: use the ratio)' })
        .option('dirty-background-ratio', { type: 'string', default: '10', requiresArg: true, describe: 'vm.dirty_background_ratio: percent of the cache dirty at which the flusher starts' })
        .option('dirty-bytes', { type: 'string', default: '0', requiresArg: true, describe: 'vm.dirty_bytes: dirty + writeback bytes at which writers wait (0: use the ratio)' })
        .option('dirty-ratio', { type: 'string', default: '20', requiresArg: true, describe: 'vm.dirty_ratio: percent of the cache dirty or under writeback at which writers wait' })
        .option('dirty-expire-centisecs', { type: 'string', default: '3000', requiresArg: true, describe: 'vm.dirty_expire_centisecs: age at which dirty data is written back' })
        .option('dirty-writeback-centisecs', { type: 'string', default: '500', requiresArg: true, describe: 'vm.dirty_writeback_centisecs: interval of the periodic flush (0: none)' })
        .option('nbd-connections', { type: 'string', default: '1', requiresArg: true, describe: 'NBD stores: connections to the export (only if the server allows multi-conn)' })
        .option('nbd-timeout', { type: 'string', default: '30', requiresArg: true, describe: 'NBD stores: seconds without a reply before the connection is dropped and remade' })
        .option('nbd-reconnect', { type: 'string', default: '30', requiresArg: true, describe: 'NBD stores: seconds to keep reconnecting before I/O fails with EIO' })
        .option('fuse-debug', { type: 'boolean', default: false, describe: "libfuse's own request trace, in the log" })
        .option('allow-other', { type: 'boolean', default: false, describe: 'let other users use the mount (FUSE allow_other; modes are enforced)' })
        .option('ready-fd', { type: 'number', hidden: true })
        .options(FAULT_OPTIONS),
    async (argv) => {
      const fd = argv['ready-fd'];
      const report = fd === undefined ? undefined : statusReporter(fd);
      try {
        await mount(argv, report);
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

interface MountArgs extends RawMountArgs {
  store: string | undefined;
  mountpoint: string | undefined;
  foreground: boolean;
  'fuse-debug': boolean;
  'allow-other': boolean;
}

async function mount(argv: MountArgs, report: ((line: string) => void) | undefined): Promise<void> {
  const tunables = parseTunables(argv);
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
    const code = await runDaemon({ store, mountpoint: mnt, mount: tunables, fuseDebug: argv['fuse-debug'], allowOther: argv['allow-other'], report });
    process.exit(code);
  }
  const pid = await daemonize(store, mnt, tunables, { fuseDebug: argv['fuse-debug'], allowOther: argv['allow-other'] });
  process.stdout.write(`mounted ${store} on ${mnt} (daemon pid ${pid}, log ${join(store, 'aheadfs.log')})\n`);
}
