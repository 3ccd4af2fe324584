/**
 * openFilesystem: assemble a mounted aheadfs from a store, bottom up.
 *
 *   BlockDevice (block files, or NBD) <- RequestQueue (plug, scheduler, tags)
 *        ^                                      ^
 *   MetaStore (LMDB)  ->  AheadfsAops (pages -> bios)  <- PageCache (frames, LRU, waits)
 *                                   ^                        ^
 *                                   +------ AheadVfs --------+   <- src/fuse
 *
 * Everything here is in-process and usable without FUSE (tests open a store directly).
 */

import { formatDiskstats } from '../block/diskstats.js';
import { BlkFaults, type FaultConfig } from '../block/fault-inject.js';
import { type NbdMountOptions, openStoreDevice } from '../block/open.js';
import { blkdevIssueFlush, RequestQueue } from '../block/queue.js';
import { AheadfsAops } from '../fs/aops.js';
import { MetaStore } from '../fs/meta.js';
import { readSuperblock } from '../fs/superblock.js';
import { PageCache, type KernelVersion, type RaPolicy } from '../mm/pagecache.js';
import { Flusher } from '../mm/fs-writeback.js';
import { BdiWriteback, type DirtyKnobs } from '../mm/page-writeback.js';
import { PAGE_SHIFT } from '../mm/page.js';
import type { BackingDevInfo } from '../mm/types.js';
import { Stats } from '../stats/registry.js';
import { Kmsg, layerLog } from '../stats/kmsg.js';
import { Trace } from '../stats/trace.js';
import { makeControlFiles, type ControlFiles } from './control.js';
import { makeFaultFiles } from './fault-files.js';
import { KNOBS } from '../knobs/table.js';
import { makeTunables } from './tunables.js';
import type { Vfs } from './types.js';
import { AheadVfs } from './vfs.js';

export type { ControlFiles, ControlSession } from './control.js';

export interface MountOptions {
  cacheBytes: number;
  readAheadKb: number;
  maxSectorsKb: number;
  nrRequests: number;
  scheduler: 'none' | 'mq-deadline';
  raPolicy: RaPolicy;
  /** Whose read loop and readahead: 4.18 (do_generic_file_read, order-0) or 6.18 (filemap_read, large folios). */
  kernel: KernelVersion;
  readpages: boolean;
  /** Writeback page cache (default) or write-through (false: every write reaches the device before it returns). */
  writeback: boolean;
  /** The vm.dirty_* knobs (writeback mounts); unset ones keep the kernel's defaults. */
  dirty?: Partial<DirtyKnobs>;
  /** fail_make_request and delay from the mount options (default: off, no delay). */
  faults?: Partial<FaultConfig>;
  /** NBD connections, timeout and reconnect time (stores on an NBD export only). */
  nbd?: NbdMountOptions;
  /**
   * Open the block files O_RDONLY and the metadata read-only, recover nothing (the
   * in-process API's read-only stores, src/api). The vfs itself does not refuse writes:
   * its caller must (they would fail with EIO).
   */
  readOnly?: boolean;
  log: (msg: string) => void;
}

/** The defaults of the knob table (src/knobs/table.ts), the mount flags' defaults too. */
export const DEFAULT_MOUNT_OPTIONS: Omit<MountOptions, 'log'> = {
  cacheBytes: KNOBS.cacheSize.default,
  readAheadKb: KNOBS.readAheadKb.default,
  maxSectorsKb: KNOBS.maxSectorsKb.default,
  nrRequests: KNOBS.nrRequests.default,
  scheduler: KNOBS.scheduler.default,
  raPolicy: KNOBS.raPolicy.default,
  kernel: KNOBS.kernel.default,
  readpages: KNOBS.readpages.default,
  writeback: KNOBS.writeback.default,
};

/** What the FUSE daemon serves. */
export interface MountedFs {
  vfs: Vfs;
  stats: Stats;
  trace: Trace;
  /** The message ring (`.aheadfs/kmsg`): reasons behind errnos, device trouble. */
  kmsg: Kmsg;
  control: ControlFiles;
  superblock: { uuid: string; sizeBytes: number };
}

/** openFilesystem's result: the mounted parts plus the layers, for in-process use. */
export interface OpenedFs extends MountedFs {
  vfs: AheadVfs;
  cache: PageCache;
  queue: RequestQueue;
}

/** How often a slow shutdown says what it waits for. */
const SHUTDOWN_WATCHDOG_MS = 10_000;

export async function openFilesystem(store: string, options: MountOptions): Promise<OpenedFs> {
  const stats = new Stats();
  const trace = new Trace();
  trace.enabled = KNOBS.trace.default !== '0';
  trace.reads = KNOBS.trace.default === '2';
  const kmsg = new Kmsg();
  const log = layerLog(options.log, kmsg);
  kmsg.emit('info', 'mount', `options: ${describeMountOptions(options)}`);
  const sb = await readSuperblock(store);
  const readOnly = options.readOnly === true;
  const device = await openStoreDevice(store, sb, { stats, log, nbd: options.nbd, readOnly });
  let meta: MetaStore | undefined;
  if (options.faults) log(`fault injection and delay from the mount options: ${JSON.stringify(options.faults)}`, { level: 'notice', subsystem: 'mount' });
  try {
    const queue = new RequestQueue(device, {
      nrRequests: options.nrRequests,
      maxSectorsKb: options.maxSectorsKb,
      scheduler: options.scheduler,
      stats,
      trace,
      log,
      faults: new BlkFaults({ log, config: options.faults }),
    });
    meta = await MetaStore.open(store, sb, { readOnly });
    const bdi: BackingDevInfo = {
      raPages: options.raPolicy === 'none' ? 0 : options.readAheadKb >> (PAGE_SHIFT - 10),
      ioPages: options.maxSectorsKb >> (PAGE_SHIFT - 10),
      readCongested: () => queue.congested(),
    };
    const cache = new PageCache({ cacheBytes: options.cacheBytes, stats, trace, bdi, kmsg });
    cache.useReadahead = options.readpages;
    cache.raPolicy = options.raPolicy;
    cache.kernel = options.kernel;
    let flusher: Flusher | undefined;
    if (options.writeback) {
      cache.wb = new BdiWriteback(cache.frames.nrFrames, stats);
      Object.assign(cache.wb.knobs, options.dirty ?? {});
      flusher = new Flusher(cache);
    }
    const aops = new AheadfsAops(meta, queue);
    // fsync's flush goes through the queue (blkdev_issue_flush), not around it.
    const vfs = new AheadVfs(meta, cache, aops, { flush: () => blkdevIssueFlush(queue) }, stats);
    // Per-handle readahead figures (`files`): one map lookup, no allocation.
    cache.raAccount = (fh, kind, n) => {
      const f = vfs.files.get(fh);
      if (f === undefined) return; // the handle was released meanwhile
      if (kind === 'submitted') f.raSubmitted += n;
      else if (kind === 'hit') f.raHit += n;
      else f.raWasted += n;
    };
    const closeMeta = meta;
    const shutdown = vfs.shutdown.bind(vfs);
    vfs.shutdown = async () => {
      // A shutdown that takes long says every 10 s what it waits for (in the log and kmsg),
      // so that a hung umount can be told apart: writeback, the queue, the device, LMDB.
      let phase = 'writeback of every dirty folio and the release of open files';
      const started = Date.now();
      const watchdog = setInterval(() => {
        const wb = cache.wb ? `, nr_dirty ${cache.wb.nrDirty}, nr_writeback ${cache.wb.nrWriteback}` : '';
        log(`shutdown: still waiting after ${Math.round((Date.now() - started) / 1000)} s for ${phase} (${queue.inFlightCount()} requests in flight${wb})`, { level: 'warn', subsystem: 'mount' });
      }, SHUTDOWN_WATCHDOG_MS);
      watchdog.unref();
      try {
        flusher?.stop();
        await shutdown(); // writes back everything dirty first
        phase = 'the request queue to drain';
        await queue.drain();
        // A device that cannot flush (NBD without NBD_FLAG_SEND_FLUSH) was said so at mount.
        phase = 'the device flush';
        if (device.canFlush) await device.flush();
        phase = 'the metadata store to close';
        await closeMeta.close();
        phase = 'the device to close';
        await device.close();
      } finally {
        clearInterval(watchdog);
      }
    };
    const control = makeControlFiles({
      stats,
      trace,
      kmsg,
      tunables: makeTunables({ bdi, queue, cache, trace, ...(cache.wb ? { vm: { wb: cache.wb, changed: () => flusher?.armTimer() } } : {}) }),
      diskstats: () => formatDiskstats(queue.diskstats()),
      files: () => formatFiles(vfs, cache),
      dropCaches: () => cache.dropCaches(),
      sync: () => vfs.syncfs(),
      groups: makeFaultFiles(queue.faults, device.nrSectors),
    });
    return { vfs, stats, trace, kmsg, control, cache, queue, superblock: { uuid: sb.uuid, sizeBytes: sb.sizeBytes } };
  } catch (err) {
    await meta?.close().catch(() => {});
    await device.close().catch(() => {});
    throw err;
  }
}

/** The mount's options in one line, as the log and kmsg say them (`read_ahead_kb=128 ...`). */
export function describeMountOptions(o: Omit<MountOptions, 'log'>): string {
  return (
    `cache_bytes=${o.cacheBytes} read_ahead_kb=${o.readAheadKb} max_sectors_kb=${o.maxSectorsKb} ` +
    `nr_requests=${o.nrRequests} scheduler=${o.scheduler} ra_policy=${o.raPolicy} kernel=${o.kernel} readpages=${o.readpages ? 'on' : 'off'}`
  );
}

/**
 * `.aheadfs/files`: one line per open file: its file_ra_state, the pages of its inode in
 * the cache, and this handle's readahead figures (pages submitted; of its read-ahead
 * pages, those read later and those dropped unread).
 */
function formatFiles(vfs: AheadVfs, cache: PageCache): string {
  const lines = ['# path ino fh flags ra_start ra_size ra_async ra_pages prev_pos cached_pages ra_submitted ra_hit ra_wasted ra_order cached_folios'];
  for (const f of vfs.files.values()) {
    const { start, size, asyncSize, raPages, prevPos, order } = f.ra;
    const m = cache.findMapping(f.ino);
    const cached = m?.pages.size ?? 0;
    lines.push(
      `${f.path} ${f.ino} ${f.fh} 0${f.flags.toString(8)} ${start} ${size} ${asyncSize} ${raPages} ${prevPos} ${cached} ` +
        `${f.raSubmitted} ${f.raHit} ${f.raWasted} ${order} ${m?.nrFolios ?? 0}`,
    );
  }
  return lines.join('\n') + '\n';
}
