/**
 * One replay configuration: a trace's reads through the engine's own mm and block code,
 * in-process, over a simulated device on a simulated clock.
 *
 *   reads ──fileRead (mm/file-read.ts: stride hook, the kernel's read loop + readahead)──▶
 *   PageCache ──LinearAops (pages -> bios)──▶ RequestQueue (plug, mq-deadline, tags) ──▶
 *   SimDevice (device.ts) ──schedule──▶ SimClock (clock.ts)
 *
 * The driver keeps up to `iodepth` reads outstanding, in trace order. A read whose pages
 * are cached completes inside fileRead (synchronously, zero simulated time); one that
 * needs I/O completes when the device events it waits for have fired. When nothing can
 * be issued, the driver lets the engine's microtasks run (plug flushes, completions) and
 * then moves the clock to the next device event. Nothing depends on the wall clock, so
 * a run is deterministic for a given seed.
 *
 * Files sit one after another on the device (each from a 1 MiB boundary), contiguous:
 * what a fresh ext4 or aheadfs store gives a file written in one go. The page cache,
 * request queue and trace are built as openFilesystem (vfs/index.ts) builds a mount's,
 * with the same defaults (256 MiB cache, max_sectors_kb 1280, nr_requests 64,
 * mq-deadline; 6.18 mappings get ext4's large folios, orders 0..9).
 */

import * as hdr from 'hdr-histogram-js';
import { bioAlloc } from '../block/bio.js';
import { DS } from '../block/diskstats.js';
import { RequestQueue } from '../block/queue.js';
import { fsError } from '../errors.js';
import type { Folio } from '../mm/folio.js';
import { EXT4_MAX_PAGECACHE_ORDER } from '../mm/folio.js';
import { fileRead, traceRead, type ReadFile } from '../mm/file-read.js';
import { PAGE_SHIFT, PAGE_SIZE, PG_uptodate } from '../mm/page.js';
import { folioEndRead, mappingSetFolioOrderRange, PageCache, type AddressSpace, type AddressSpaceOperations, type KernelVersion, type RaPolicy } from '../mm/pagecache.js';
import { fileRaState618Init } from '../mm/readahead-v6.js';
import { Stats } from '../stats/registry.js';
import { Trace } from '../stats/trace.js';
import { DEFAULT_MOUNT_OPTIONS } from '../vfs/index.js';
import { SimClock } from './clock.js';
import { SimDevice, type DeviceProfile } from './device.js';
import type { ReplayTrace } from './parse.js';

export interface ReplayConfig {
  kernel: KernelVersion;
  raPolicy: RaPolicy;
  readAheadKb: number;
  device: DeviceProfile;
  /** Reads outstanding at once (1: a synchronous reader). */
  iodepth: number;
  seed: number;
  cacheBytes?: number;
}

/** One readahead decision that submitted I/O, for the windows chart. */
export interface WindowPoint {
  tUs: number;
  ino: number;
  size: number;
  trigger: 'sync' | 'async';
}

export interface ReplayResult {
  settings: { kernel: KernelVersion; raPolicy: RaPolicy; readAheadKb: number; device: string; iodepth: number; seed: number };
  reads: number;
  bytesRead: number;
  /** Pages of the reads that were uptodate in the cache when the read was issued, of all pages read. */
  pageCacheHitRatio: number;
  /** Pages readahead submitted, of those later read, and dropped (or left) unread. */
  raPages: number;
  raHit: number;
  raWasted: number;
  deviceRequests: number;
  deviceBytes: number;
  /** Device bytes / bytes the reads asked for. */
  amplification: number;
  /** Simulated time from the first read to the last read's completion. */
  elapsedUs: number;
  latencyP50Us: number;
  latencyP99Us: number;
  latencyMaxUs: number;
  /** Reads that waited for I/O (did not complete at once). */
  stalls: number;
  /**
   * From the queue's diskstats on the simulated clock, at the end of the last read:
   * time_in_queue / io_ticks (requests in flight on average while the device was busy)
   * and io_ticks / elapsed (the device's busy share).
   */
  avgInFlight: number;
  deviceBusy: number;
  /** Wall-clock milliseconds this replay took. */
  wallMs: number;
  windows?: WindowPoint[];
}

export interface ReplayRunOptions {
  /** Every trace line (with `read` lines, simulated `t=`) goes here. */
  traceSink?: (line: string) => void;
  /** Keep the readahead windows (for the chart). */
  collectWindows?: boolean;
}

const SECTORS_PER_PAGE = PAGE_SIZE / 512;
const FILE_ALIGN_PAGES = (1 << 20) / PAGE_SIZE;

/** Pages -> one bio per call: the file's pages are contiguous on the device from `base`. */
class LinearAops implements AddressSpaceOperations {
  constructor(
    private readonly queue: RequestQueue,
    private readonly basePage: Map<number, number>,
  ) {}

  readFolio(mapping: AddressSpace, folio: Folio): void {
    this.readahead(mapping, [folio]);
  }

  /** Context: folios locked, new, ascending and contiguous, inside the caller's plug. */
  readahead(mapping: AddressSpace, folios: Folio[]): void {
    const base = this.basePage.get(mapping.ino)!;
    const segments = folios.map((f) => f.data);
    const bio = bioAlloc('read', (base + folios[0]!.index) * SECTORS_PER_PAGE, segments, (b) => {
      const ok = b.status === undefined;
      for (const f of folios) folioEndRead(f, ok);
    });
    this.queue.submitBio(bio);
  }

  writepages(): Promise<void> {
    return Promise.reject(fsError('EROFS', 'replay replays reads only'));
  }
}

/** Let the engine's microtasks (plug flushes, completions, resumed reads) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function runReplay(trace: ReplayTrace, cfg: ReplayConfig, opts: ReplayRunOptions = {}): Promise<ReplayResult> {
  const wall0 = performance.now();
  const clock = new SimClock();
  const stats = new Stats();
  const windows: WindowPoint[] | undefined = opts.collectWindows ? [] : undefined;
  const sink = opts.traceSink;
  const tr = new Trace(1, {
    nowUs: () => clock.nowUs,
    sink: (line) => {
      sink?.(line);
      if (windows && line.startsWith('ra ')) windows.push(windowPoint(line));
    },
  });
  tr.enabled = sink !== undefined || windows !== undefined;
  tr.reads = sink !== undefined;

  // The device: every file from a 1 MiB boundary, one after another.
  const basePage = new Map<number, number>();
  let pages = 0;
  for (const f of trace.files) {
    basePage.set(f.ino, pages);
    pages += Math.ceil(Math.ceil(f.size / PAGE_SIZE) / FILE_ALIGN_PAGES + 1) * FILE_ALIGN_PAGES;
  }
  const device = new SimDevice(cfg.device, clock, pages * SECTORS_PER_PAGE, { seed: cfg.seed, stats });
  const queue = new RequestQueue(device, {
    nrRequests: DEFAULT_MOUNT_OPTIONS.nrRequests,
    maxSectorsKb: DEFAULT_MOUNT_OPTIONS.maxSectorsKb,
    scheduler: DEFAULT_MOUNT_OPTIONS.scheduler,
    stats,
    trace: tr,
    now: () => clock.nowMs,
    log: () => undefined,
  });
  const raPages = cfg.raPolicy === 'none' ? 0 : cfg.readAheadKb >> (PAGE_SHIFT - 10);
  const cache = new PageCache({
    cacheBytes: cfg.cacheBytes ?? DEFAULT_MOUNT_OPTIONS.cacheBytes,
    stats,
    trace: tr,
    bdi: { raPages, ioPages: DEFAULT_MOUNT_OPTIONS.maxSectorsKb >> (PAGE_SHIFT - 10), readCongested: () => queue.congested() },
  });
  cache.raPolicy = cfg.raPolicy;
  cache.kernel = cfg.kernel;
  const aops = new LinearAops(queue, basePage);
  const mappings = trace.files.map((f) => {
    const m = cache.mapping({ ino: f.ino, size: f.size }, aops);
    if (cfg.kernel === '6.18') mappingSetFolioOrderRange(m, 0, Math.min(EXT4_MAX_PAGECACHE_ORDER, cache.frames.maxOrder));
    return m;
  });
  const files: ReadFile[] = trace.handles.map((h) => ({ fh: h.fh, ino: trace.files[h.file]!.ino, ra: fileRaState618Init(raPages) }));
  const handleMapping = trace.handles.map((h) => mappings[h.file]!);

  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, bitBucketSize: 32, autoResize: true, useWebAssembly: false });
  let maxLen = 0;
  for (let i = 0; i < trace.count; i++) maxLen = Math.max(maxLen, trace.len[i]!);
  const iodepth = Math.max(1, cfg.iodepth);
  let next = 0;
  let outstanding = 0;
  let stalls = 0;
  let syncReads = 0;
  let pagesRead = 0;
  let pagesHit = 0;
  let bytesRead = 0;
  let failure: Error | undefined;

  /** One outstanding read's place (iodepth of them, reused): its buffer and its callback, made once. */
  interface Slot {
    readonly buf: Uint8Array;
    t0: number;
    sync: boolean;
    /** The read covers one page of the file: its hit is counted at completion. */
    onePage: boolean;
    read: number;
    readonly done: (err: { message: string } | undefined, n: number) => void;
  }
  const freeSlots: Slot[] = [];
  for (let k = 0; k < iodepth; k++) {
    const slot: Slot = {
      buf: new Uint8Array(maxLen),
      t0: 0,
      sync: true,
      onePage: false,
      read: 0,
      done: (err, n) => {
        outstanding--;
        freeSlots.push(slot);
        if (err) failure ??= new Error(`replay: read ${slot.read + 1} of the trace failed: ${err.message}`);
        bytesRead += n;
        if (slot.sync) {
          syncReads++;
          if (slot.onePage) pagesHit++;
        } else {
          stalls++;
          hist.recordValue(Math.round(clock.nowUs - slot.t0));
        }
      },
    };
    freeSlots.push(slot);
  }

  const issue = (i: number): void => {
    const h = trace.handle[i]!;
    const pos = trace.pos[i]!;
    const len = trace.len[i]!;
    const mapping = handleMapping[h]!;
    const file = files[h]!;
    // Page-cache hits, as the read finds them (its own readahead must not count). A
    // one-page read is a hit exactly when it completes at once; a longer one is looked up
    // before it starts.
    const first = Math.floor(pos / PAGE_SIZE);
    const end = Math.min(Math.ceil((pos + len) / PAGE_SIZE), Math.ceil(mapping.host.size / PAGE_SIZE));
    const slot = freeSlots.pop()!;
    slot.onePage = end - first === 1;
    if (!slot.onePage) {
      for (let p = first; p < end; p++) {
        const f = mapping.pages.get(p);
        if (f !== undefined && f.has(PG_uptodate)) pagesHit++;
      }
    }
    if (end > first) pagesRead += end - first;
    slot.t0 = clock.nowUs;
    slot.sync = true;
    slot.read = i;
    outstanding++;
    stats.c.read_calls++;
    traceRead(mapping, file, pos, len);
    fileRead(mapping, file, slot.buf, pos, len, slot.done);
    slot.sync = false;
  };

  for (;;) {
    while (outstanding < iodepth && next < trace.count) issue(next++);
    if (failure) throw failure;
    if (next >= trace.count && outstanding === 0) break;
    await settle();
    if (outstanding < iodepth && next < trace.count) continue;
    if (outstanding === 0 && next >= trace.count) break;
    if (!clock.step()) throw new Error(`replay: ${outstanding} reads wait with no device event pending (an engine bug)`);
    await settle();
  }
  const elapsedUs = clock.nowUs;
  const ds = queue.diskstats();
  hist.recordValueWithCount(0, syncReads); // completed at once: no simulated time
  // Readahead still in flight finishes (not counted in the elapsed time); then every page
  // is dropped, so that readahead pages never read count as wasted.
  while (clock.step()) await settle();
  await settle();
  cache.dropCaches();
  const c = stats.c;
  const result: ReplayResult = {
    settings: { kernel: cfg.kernel, raPolicy: cfg.raPolicy, readAheadKb: cfg.readAheadKb, device: cfg.device.name, iodepth, seed: cfg.seed },
    reads: trace.count,
    bytesRead,
    pageCacheHitRatio: pagesRead === 0 ? 0 : pagesHit / pagesRead,
    raPages: c.ra_pages,
    raHit: c.ra_hit,
    raWasted: c.ra_wasted,
    deviceRequests: device.figures.requests,
    deviceBytes: device.figures.bytes,
    amplification: bytesRead === 0 ? 0 : device.figures.bytes / bytesRead,
    elapsedUs,
    latencyP50Us: hist.getValueAtPercentile(50),
    latencyP99Us: hist.getValueAtPercentile(99),
    latencyMaxUs: hist.maxValue,
    stalls,
    avgInFlight: ds[DS.ioTicks]! > 0 ? ds[DS.timeInQueue]! / ds[DS.ioTicks]! : 0,
    deviceBusy: elapsedUs > 0 ? Math.min(1, ds[DS.ioTicks]! / (elapsedUs / 1000)) : 0,
    wallMs: performance.now() - wall0,
  };
  hist.destroy();
  if (windows) result.windows = windows;
  return result;
}

const RA_LINE = /^ra (sync|async) ino=(\d+) .*? size=(\d+) .* t=(\d+)$/;

function windowPoint(line: string): WindowPoint {
  const m = RA_LINE.exec(line);
  if (!m) throw new Error(`replay: unexpected ra line ${line}`);
  return { trigger: m[1] as 'sync' | 'async', ino: Number(m[2]), size: Number(m[3]), tUs: Number(m[4]) };
}
