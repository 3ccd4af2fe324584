/**
 * Test helpers for the block layer: a device whose I/Os complete only when the test says
 * so, a controllable clock, and bio builders.
 */

import { bioAlloc, type Bio, type BioOp, type Sector } from '../../../src/block/bio.js';
import { RequestQueue, type QueueDevice, type RequestQueueOptions } from '../../../src/block/queue.js';
import { Stats } from '../../../src/stats/registry.js';
import { Trace } from '../../../src/stats/trace.js';

export interface FakeIo {
  op: 'read' | 'write' | 'flush';
  sector: Sector;
  bytes: number;
  segments: Uint8Array[];
  done: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

export class FakeDevice implements QueueDevice {
  /** Every I/O the queue sent, in order. */
  readonly ios: FakeIo[] = [];
  /** Complete each I/O at once (still asynchronously, like a real device). */
  auto = false;
  nrSectors: number | undefined = undefined;

  read(sector: Sector, segments: Uint8Array[]): Promise<void> {
    return this.io('read', sector, segments);
  }
  write(sector: Sector, segments: Uint8Array[]): Promise<void> {
    return this.io('write', sector, segments);
  }
  flush(): Promise<void> {
    return this.io('flush', 0, []);
  }

  pending(): FakeIo[] {
    return this.ios.filter((io) => !io.done);
  }

  /** Complete the oldest pending I/O (or the given one), optionally with an error. */
  complete(io: FakeIo | undefined = this.pending()[0], err?: unknown): void {
    if (!io || io.done) throw new Error('no such pending I/O');
    io.done = true;
    if (err === undefined) io.resolve();
    else io.reject(err);
  }

  completeAll(): void {
    for (const io of this.pending()) this.complete(io);
  }

  /** Sectors/ops as a short string per I/O, e.g. `r0+16`. */
  summary(): string[] {
    return this.ios.map((io) => `${io.op[0]}${io.sector}+${io.bytes / 512}`);
  }

  private io(op: FakeIo['op'], sector: Sector, segments: Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const s of segments) bytes += s.byteLength;
    return new Promise<void>((resolve, reject) => {
      const io: FakeIo = { op, sector, bytes, segments, done: false, resolve, reject };
      this.ios.push(io);
      if (this.auto) {
        io.done = true;
        resolve();
      }
    });
  }
}

export class Clock {
  t = 0;
  readonly now = (): number => this.t;
}

export interface Harness {
  q: RequestQueue;
  dev: FakeDevice;
  stats: Stats;
  trace: Trace;
  clock: Clock;
  logs: string[];
}

export function harness(opts: Partial<Omit<RequestQueueOptions, 'stats' | 'trace' | 'now'>> = {}): Harness {
  const dev = new FakeDevice();
  const stats = new Stats();
  const trace = new Trace(1024);
  const clock = new Clock();
  const logs: string[] = [];
  const q = new RequestQueue(dev, { ...opts, stats, trace, now: clock.now, log: (m) => logs.push(m) });
  return { q, dev, stats, trace, clock, logs };
}

export interface Ended {
  bios: Bio[];
  statuses: (string | undefined)[];
}

/** A bio of `sectors` 512-byte sectors whose endIo records into `ended`. */
export function mkBio(op: BioOp, sector: Sector, sectors: number, ended?: Ended): Bio {
  return bioAlloc(op, sector, sectors > 0 ? [new Uint8Array(sectors * 512)] : [], (b) => {
    ended?.bios.push(b);
    ended?.statuses.push(b.status);
  });
}

export function ended(): Ended {
  return { bios: [], statuses: [] };
}

/** Let promise callbacks (device completions) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
