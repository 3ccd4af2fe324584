/**
 * The oracle: run a read pattern on the running kernel and record its readahead decisions
 * from tracefs (Linux 6.18: events/readahead/page_cache_{sync_ra,async_ra,ra_order,ra_unbounded}).
 *
 *   setup     tracefs mounted at /sys/kernel/tracing? (else mount our own in our temp dir)
 *             -> a private trace instance
 *             (instances/aheadfs-kdiff-<pid>: own buffer, own enables and filters, so the
 *             system's tracing state is never touched) -> an ext4 image in a temp dir on a
 *             loop device -> queue/max_sectors_kb, THEN queue/read_ahead_kb (on 6.x a queue
 *             limits update may recompute read_ahead_kb; the values read back are checked),
 *             the old values restored at teardown (a loop device keeps them after detach)
 *             -> each readahead event filtered to the device: s_dev == (major<<20)|minor
 *   run       mkfs.ext4 -> mount, write the files, fsync, umount -> mount again (a fresh
 *             mount has nothing of this filesystem cached: the cache is dropped for exactly
 *             this filesystem, without `drop_caches` disturbing the rest of the machine)
 *             -> clear the instance's trace, enable the events, pread the pattern from this
 *             process (one descriptor per file), disable -> parse -> umount
 *   teardown  always, also on failure, in reverse: umount, losetup -d, rm the image and the
 *             temp dir, rmdir the instance, umount tracefs if we mounted it.
 */

import { execFileSync } from 'node:child_process';
import { allocAligned } from '../block/aligned.js';
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, rmdirSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { parseRaTrace, RA_EVENTS, field, type RaEvent } from './events.js';
import type { Pattern } from './patterns.js';

export interface QueueSettings {
  /** queue/read_ahead_kb of the loop device (ra_pages = this / 4). */
  readAheadKb: number;
  /** queue/max_sectors_kb (io_pages = this / 4: how far an oversize read may reach). */
  maxSectorsKb: number;
}

export interface KernelRunResult {
  /** The readahead events of the pattern's files, in trace order. */
  events: RaEvent[];
  /** `uname -r`. */
  kernel: string;
}

/** Image size: room for the largest preset (16 MiB) several times over. */
const IMAGE_BYTES = 96 * 1024 * 1024;

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** The places tracefs is mounted for everyone; a mount elsewhere may be someone's private one. */
const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/**
 * Where tracefs is mounted at a standard place, if it is. Another process's private mount
 * (another kernel-diff's, in its temp dir) is not used: it may go away under us.
 */
function findTracefs(): string | undefined {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'tracefs' && dir && TRACEFS_DIRS.includes(dir)) return dir;
  }
  return undefined;
}

/**
 * What the oracle needs, checked before anything is changed: root, tracefs in the kernel,
 * loop devices. Throws a UsageError (exit 2) naming the first thing missing.
 */
export function checkKernelOracle(): void {
  if (process.getuid?.() !== 0) throw new UsageError('kernel-diff needs root (it mounts a loop device and uses tracefs)');
  const fss = readFileSync('/proc/filesystems', 'utf8');
  if (!/\btracefs\b/.test(fss)) throw new UsageError('tracefs is missing: this kernel has no tracing (CONFIG_TRACING)');
  if (!/\bext4\b/.test(fss)) throw new UsageError('ext4 is missing from this kernel');
  if (!existsSync('/dev/loop-control')) throw new UsageError('loop devices are missing (/dev/loop-control; modprobe loop)');
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new UsageError(`${tool} is missing (Debian: util-linux, e2fsprogs)`);
    }
  }
}

/** One loop-mounted ext4 image with a private trace instance; see the header. */
export class KernelOracle {
  private readonly undo: { what: string; fn: () => void }[] = [];
  private tmp = '';
  private loop = '';
  private instance = '';
  private mnt = '';
  private mounted = false;

  constructor(readonly queue: QueueSettings) {}

  /** Set up everything (see the header); on failure whatever was done is undone. */
  setup(): void {
    checkKernelOracle();
    try {
      this.setupSteps();
    } catch (err) {
      this.teardown();
      throw err;
    }
  }

  private later(what: string, fn: () => void): void {
    this.undo.push({ what, fn });
  }

  private setupSteps(): void {
    this.tmp = mkdtempSync(join(tmpdir(), 'aheadfs-kdiff-'));
    // Entry by entry, never recursively: if an unmount failed, removing fails (EBUSY)
    // instead of walking into a mounted tracefs or ext4.
    this.later('remove the temp dir', () => {
      for (const entry of readdirSync(this.tmp)) {
        const path = join(this.tmp, entry);
        if (entry === 'ext4.img') rmSync(path);
        else rmdirSync(path);
      }
      rmdirSync(this.tmp);
    });
    let tracefs = findTracefs();
    if (!tracefs) {
      tracefs = join(this.tmp, 'tracefs');
      mkdirSync(tracefs);
      run('mount', ['-t', 'tracefs', 'nodev', tracefs]);
      const dir = tracefs;
      this.later('unmount tracefs', () => run('umount', [dir]));
    }
    if (!existsSync(join(tracefs, 'events', 'readahead', 'page_cache_sync_ra'))) {
      throw new UsageError(`this kernel (${release()}) has no readahead tracepoints (events/readahead/page_cache_sync_ra: Linux 6.18 or later)`);
    }
    this.instance = join(tracefs, 'instances', `aheadfs-kdiff-${process.pid}`);
    mkdirSync(this.instance);
    const inst = this.instance;
    this.later('remove the trace instance', () => {
      // An instance cannot be removed while an event is enabled in it.
      try {
        writeFileSync(join(inst, 'events', 'readahead', 'enable'), '0');
      } catch {
        /* removed below anyway */
      }
      rmdirSync(inst);
    });
    writeFileSync(join(inst, 'buffer_size_kb'), '4096');

    const image = join(this.tmp, 'ext4.img');
    writeFileSync(image, '');
    run('truncate', ['-s', String(IMAGE_BYTES), image]);
    this.loop = run('losetup', ['--find', '--show', image]).trim();
    const loop = this.loop;
    const name = loop.replace('/dev/', '');
    const queue = `/sys/block/${name}/queue`;
    // A loop device keeps max_sectors_kb after losetup -d, and detaching recomputes
    // read_ahead_kb from the limits (2 x max_sectors_kb here): put both back AFTER the
    // detach (undo runs in reverse, so this is registered first).
    const oldMs = readFileSync(join(queue, 'max_sectors_kb'), 'utf8').trim();
    const oldRa = readFileSync(join(queue, 'read_ahead_kb'), 'utf8').trim();
    this.later(`restore ${name}'s queue settings`, () => {
      writeFileSync(join(queue, 'max_sectors_kb'), oldMs);
      writeFileSync(join(queue, 'read_ahead_kb'), oldRa);
    });
    this.later(`detach ${loop}`, () => run('losetup', ['-d', loop]));
    // max_sectors_kb first: on 6.x a queue-limits update may recompute read_ahead_kb.
    writeFileSync(join(queue, 'max_sectors_kb'), String(this.queue.maxSectorsKb));
    writeFileSync(join(queue, 'read_ahead_kb'), String(this.queue.readAheadKb));
    const gotRa = Number(readFileSync(join(queue, 'read_ahead_kb'), 'utf8'));
    const gotMs = Number(readFileSync(join(queue, 'max_sectors_kb'), 'utf8'));
    if (gotRa !== this.queue.readAheadKb || gotMs !== this.queue.maxSectorsKb) {
      throw new Error(`${name}: asked read_ahead_kb=${this.queue.readAheadKb} max_sectors_kb=${this.queue.maxSectorsKb}, the kernel kept ${gotRa} and ${gotMs}`);
    }
    const [major, minor] = readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number) as [number, number];
    const sDev = major * 2 ** 20 + minor; // the kernel's dev_t: (major << 20) | minor
    for (const ev of RA_EVENTS) writeFileSync(join(inst, 'events', 'readahead', ev, 'filter'), `s_dev == ${sDev}`);
    this.mnt = join(this.tmp, 'mnt');
    mkdirSync(this.mnt);
  }

  private mount(): void {
    run('mount', ['-t', 'ext4', this.loop, this.mnt]);
    this.mounted = true;
  }

  private umount(): void {
    if (!this.mounted) return;
    run('umount', [this.mnt]);
    this.mounted = false;
  }

  /** Run one pattern on a fresh filesystem (see the header) and return its events. */
  run(pattern: Pattern): KernelRunResult {
    try {
      run('mkfs.ext4', ['-q', '-F', this.loop]);
      this.mount();
      writeFiles(this.mnt, pattern);
      this.umount();
      this.mount(); // cold: nothing of this filesystem is cached
      const fds = pattern.files.map((f) => openSync(join(this.mnt, f.name), 'r'));
      const inos = new Set(fds.map((fd) => String(fstatSync(fd).ino)));
      const events = join(this.instance, 'events', 'readahead', 'enable');
      try {
        writeFileSync(join(this.instance, 'trace'), ''); // clear
        writeFileSync(events, '1');
        replay(fds, pattern);
      } finally {
        // Close first: a descriptor left open would keep the filesystem busy at umount.
        for (const fd of fds) closeSync(fd);
        writeFileSync(events, '0');
      }
      const text = readFileSync(join(this.instance, 'trace'), 'utf8');
      const all = parseRaTrace(text, { inoHex: true });
      return { events: all.filter((ev) => inos.has(field(ev, 'ino') ?? '')), kernel: release() };
    } finally {
      this.umount();
    }
  }

  /** Undo everything, in reverse; every step is tried even when one fails. */
  teardown(): void {
    const errors: string[] = [];
    try {
      this.umount();
    } catch (err) {
      errors.push(`unmount ${this.mnt}: ${(err as Error).message}`);
    }
    while (this.undo.length) {
      const step = this.undo.pop()!;
      try {
        step.fn();
      } catch (err) {
        errors.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    if (errors.length) throw new Error(`clean-up failed: ${errors.join('; ')}`);
  }
}

/** Write the pattern's files (bytes that vary, so nothing is a hole) and fsync them. */
export function writeFiles(dir: string, pattern: Pattern): void {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7 + 1) & 0xff;
  for (const f of pattern.files) {
    const fd = openSync(join(dir, f.name), 'w');
    try {
      for (let off = 0; off < f.size; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, f.size - off), off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * pread every op of the pattern, in order, on the given descriptors (one per file), into a
 * page-aligned buffer: FUSE pins the reader's pages for a direct read (at most 32 of them
 * with libfuse 2), so an unaligned 128 KiB buffer spans 33 and the kernel splits the read
 * in two, which the mount side would then see as two requests where the kernel saw one.
 */
export function replay(fds: readonly number[], pattern: Pattern): void {
  const max = Math.max(...pattern.ops.map((op) => op.length));
  const buf = allocAligned(max);
  for (const op of pattern.ops) readSync(fds[op.file]!, buf, 0, op.length, op.offset);
}

/** Run one pattern with its own oracle set up and torn down around it. */
export function runPatternOnKernel(pattern: Pattern, queue: QueueSettings): KernelRunResult {
  const oracle = new KernelOracle(queue);
  oracle.setup();
  try {
    return oracle.run(pattern);
  } finally {
    oracle.teardown();
  }
}
