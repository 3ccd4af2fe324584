/**
 * The simulated block device of `aheadfs replay`: a BlockDevice whose I/O completes on
 * the simulated clock (clock.ts) after the time its profile's model gives. Data is
 * synthetic (reads return zeros, writes are dropped): only timing and decisions matter.
 *
 * Two models, deterministic for a given seed (the seed drives the jitter and the
 * rotational position):
 *
 *   fixed  (ssd, nvme, nbd-2ms)  `parallelism` requests served at once; each takes
 *          latency (± jitter) and then its transfer on one shared link:
 *            begin = max(start + latency, linkFreeAt);  done = begin + bytes / bandwidth
 *          (a network device's latency is its round trip; the link is the wire)
 *   hdd    one request at a time; a head that stays where the last request ended:
 *            seek  = 0 on the same sector, else settle + (fullStroke - settle) * sqrt(d / capacity)
 *            rotation = 0 for a request that continues the last one and was already
 *                       queued when it ended (the disk streams on), else uniform in
 *                       [0, one revolution) (seeded): a request that arrives after the
 *                       last one ended has missed its sector
 *            done  = start + seek + rotation + bytes / bandwidth
 *
 * A request waits (FIFO) for a free slot; `start` is when it gets one.
 */

import { readFileSync } from 'node:fs';
import type { BlockDevice, DeviceLimits } from '../block/blockdev.js';
import type { Sector } from '../block/bio.js';
import { UsageError } from '../errors.js';
import { mulberry32 } from '../prng.js';
import type { Stats } from '../stats/registry.js';
import type { SimClock } from './clock.js';

export interface FixedProfile {
  readonly name: string;
  readonly model: 'fixed';
  /** Per request, before its transfer (µs). */
  readonly latencyUs: number;
  /** Of the shared link (MB/s, 10^6 bytes). */
  readonly bandwidthMBps: number;
  /** Requests served at once (NCQ / NVMe queues / NBD commands in flight). */
  readonly parallelism: number;
  /** Latency varies uniformly by ± this percentage (seeded). */
  readonly jitterPct: number;
}

export interface HddProfile {
  readonly name: string;
  readonly model: 'hdd';
  readonly rpm: number;
  /** Shortest seek (track to track, settle included), ms. */
  readonly settleMs: number;
  /** Seek across the whole disk, ms. */
  readonly fullStrokeMs: number;
  readonly bandwidthMBps: number;
  /** The disk's size (seek distances are fractions of it), GiB. */
  readonly capacityGiB: number;
}

export type DeviceProfile = FixedProfile | HddProfile;

export const DEVICE_PROFILES: Readonly<Record<string, DeviceProfile>> = {
  ssd: { name: 'ssd', model: 'fixed', latencyUs: 90, bandwidthMBps: 550, parallelism: 32, jitterPct: 10 },
  nvme: { name: 'nvme', model: 'fixed', latencyUs: 20, bandwidthMBps: 3500, parallelism: 128, jitterPct: 10 },
  'nbd-2ms': { name: 'nbd-2ms', model: 'fixed', latencyUs: 2000, bandwidthMBps: 117, parallelism: 16, jitterPct: 5 },
  hdd: { name: 'hdd', model: 'hdd', rpm: 7200, settleMs: 0.8, fullStrokeMs: 16, bandwidthMBps: 160, capacityGiB: 2048 },
};

/** A profile by name, or from a JSON file (a path: anything with a `/` or ending in .json). Throws UsageError. */
export function loadProfile(spec: string): DeviceProfile {
  const known = DEVICE_PROFILES[spec];
  if (known) return known;
  if (!spec.includes('/') && !spec.endsWith('.json')) {
    throw new UsageError(`bad --device '${spec}': expected ${Object.keys(DEVICE_PROFILES).join(', ')} or a profile.json`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (err) {
    throw new UsageError(`bad --device '${spec}': ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  return checkProfile(raw, spec);
}

function checkProfile(raw: unknown, where: string): DeviceProfile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`bad --device '${where}': expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const num = (k: string, min: number, max: number, dflt?: number): number => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new UsageError(`bad --device '${where}': "${k}" must be a number from ${min} to ${max}`);
    return v;
  };
  const name = typeof o.name === 'string' && o.name !== '' ? o.name : where;
  if (o.model === 'fixed') {
    return {
      name,
      model: 'fixed',
      latencyUs: num('latencyUs', 0, 10_000_000),
      bandwidthMBps: num('bandwidthMBps', 0.001, 1_000_000),
      parallelism: Math.round(num('parallelism', 1, 65536)),
      jitterPct: num('jitterPct', 0, 100, 0),
    };
  }
  if (o.model === 'hdd') {
    return {
      name,
      model: 'hdd',
      rpm: num('rpm', 1, 100_000),
      settleMs: num('settleMs', 0, 1000),
      fullStrokeMs: num('fullStrokeMs', 0, 10_000),
      bandwidthMBps: num('bandwidthMBps', 0.001, 1_000_000),
      capacityGiB: num('capacityGiB', 0.001, 1 << 30),
    };
  }
  throw new UsageError(`bad --device '${where}': "model" must be "fixed" or "hdd"`);
}

interface Pending {
  readonly sector: Sector;
  readonly bytes: number;
  readonly resolve: () => void;
}

export interface SimDeviceFigures {
  requests: number;
  bytes: number;
  /** Simulated µs with at least one request being served. */
  busyUs: number;
}

export class SimDevice implements BlockDevice {
  readonly limits: DeviceLimits = { logicalBlockSize: 512, physicalBlockSize: 4096, maxTransferBytes: 32 << 20 };
  readonly canFlush = true;
  readonly description: string;
  readonly figures: SimDeviceFigures = { requests: 0, bytes: 0, busyUs: 0 };
  private readonly rand: () => number;
  private readonly waiting: Pending[] = [];
  private serving = 0;
  private linkFreeAt = 0;
  /** hdd: the sector after the last request's end, and when it ended. */
  private head = 0;
  private headFreeAt = -1;
  private busySince = 0;
  private closed = false;

  constructor(
    readonly profile: DeviceProfile,
    private readonly clock: SimClock,
    readonly nrSectors: number,
    opts: { seed: number; stats?: Stats },
  ) {
    this.rand = mulberry32(opts.seed);
    this.stats = opts.stats;
    this.description = `simulated ${profile.name} (${profile.model})`;
  }
  private readonly stats: Stats | undefined;

  read(sector: Sector, segments: Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const s of segments) {
      s.fill(0);
      bytes += s.byteLength;
    }
    if (this.stats) {
      this.stats.c.disk_read_ios++;
      this.stats.c.disk_read_bytes += bytes;
    }
    return this.submit(sector, bytes);
  }

  write(sector: Sector, segments: Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const s of segments) bytes += s.byteLength;
    if (this.stats) {
      this.stats.c.disk_write_ios++;
      this.stats.c.disk_write_bytes += bytes;
    }
    return this.submit(sector, bytes);
  }

  flush(): Promise<void> {
    return this.submit(this.head, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private submit(sector: Sector, bytes: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('simulated device closed'));
    this.figures.requests++;
    this.figures.bytes += bytes;
    return new Promise<void>((resolve) => {
      this.waiting.push({ sector, bytes, resolve });
      this.startWaiting();
    });
  }

  private get slots(): number {
    return this.profile.model === 'hdd' ? 1 : this.profile.parallelism;
  }

  /** Start what waits while a slot is free; `queued`: called as a request ended (what waits was queued before). */
  private startWaiting(queued = false): void {
    while (this.serving < this.slots && this.waiting.length > 0) {
      const p = this.waiting.shift()!;
      if (this.serving++ === 0) this.busySince = this.clock.nowUs;
      const done = this.serviceDone(p, this.clock.nowUs, queued);
      this.clock.schedule(done, () => {
        if (--this.serving === 0) this.figures.busyUs += this.clock.nowUs - this.busySince;
        p.resolve();
        this.startWaiting(true);
      });
    }
  }

  /** When a request started at `start` (µs) completes: the model. `queued`: it waited for the last one to end. */
  serviceDone(p: { sector: Sector; bytes: number }, start: number, queued: boolean): number {
    const prof = this.profile;
    const transferUs = p.bytes / prof.bandwidthMBps; // bytes / (10^6 B/s) = µs
    if (prof.model === 'fixed') {
      const j = prof.jitterPct > 0 ? 1 + ((this.rand() * 2 - 1) * prof.jitterPct) / 100 : 1;
      const begin = Math.max(start + prof.latencyUs * j, this.linkFreeAt);
      const done = begin + transferUs;
      this.linkFreeAt = done;
      return done;
    }
    const distance = Math.abs(p.sector - this.head);
    const capacitySectors = (prof.capacityGiB * 2 ** 30) / 512;
    const seekUs = distance === 0 ? 0 : (prof.settleMs + (prof.fullStrokeMs - prof.settleMs) * Math.sqrt(Math.min(1, distance / capacitySectors))) * 1000;
    const revolutionUs = 60e6 / prof.rpm;
    const backToBack = distance === 0 && queued && start === this.headFreeAt;
    const rotationUs = backToBack ? 0 : this.rand() * revolutionUs;
    const done = start + seekUs + rotationUs + transferUs;
    this.head = p.sector + p.bytes / 512;
    this.headFreeAt = done;
    return done;
  }
}
