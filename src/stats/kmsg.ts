/**
 * The kernel message ring of a mount (printk's log buffer, read as /dev/kmsg and dmesg):
 * the reasons behind an errno, where users look for them. `.aheadfs/kmsg` serves it,
 * `aheadfs dmesg <mnt> [--follow]` prints it.
 *
 * Fed by: refused control-file writes (the write still fails with EINVAL; the reason is
 * here), the mount's options, device errors (EIO from the block layer, NBD connection
 * losses and reconnects), fault-injection hits, and reclaim trouble (a page-cache
 * allocation that had to wait for, or could not get, a frame).
 *
 * One line per record in `.aheadfs/kmsg`:
 *
 *   <seq> <seconds since mount, 6 decimals> <level> <subsystem>: <message>
 *   12 3.141593 warn tunables: nr_requests: expected a whole number from 4 to 4096, not "2"
 *
 * `seq` counts every record ever emitted (as /dev/kmsg's), so a reader polling the file
 * prints only the records it has not seen and knows how many the ring dropped meanwhile.
 *
 * Bounded: at most KMSG_CAPACITY records (the oldest go), each message at most
 * KMSG_LINE_MAX characters on one line. Emitting is synchronous and cheap (no I/O);
 * `ratelimited` keeps a storm (a fault on every request) from flushing the ring, as
 * printk_ratelimited does (DEFAULT_RATELIMIT_BURST 10 per DEFAULT_RATELIMIT_INTERVAL 5 s).
 */

/** printk levels used here (KERN_ERR, KERN_WARNING, KERN_NOTICE, KERN_INFO). */
export type KmsgLevel = 'err' | 'warn' | 'notice' | 'info';

export const KMSG_LEVELS: readonly KmsgLevel[] = ['err', 'warn', 'notice', 'info'];

export interface KmsgRecord {
  seq: number;
  /** Microseconds since the ring was made (the mount). */
  usec: number;
  level: KmsgLevel;
  subsystem: string;
  message: string;
}

export const KMSG_CAPACITY = 1024;
export const KMSG_LINE_MAX = 1000;
const RATELIMIT_BURST = 10;
const RATELIMIT_INTERVAL_MS = 5000;

export interface KmsgOptions {
  capacity?: number;
  /** Milliseconds, monotonic (default performance.now). */
  now?: () => number;
}

export class Kmsg {
  private readonly capacity: number;
  private readonly now: () => number;
  private readonly start: number;
  /** Oldest first; at most `capacity`. */
  private readonly ring: KmsgRecord[] = [];
  /** The next record's seq (= records emitted so far). */
  private nextSeq = 0;
  /** ratelimit state per key: window start and records let through in it, records suppressed. */
  private readonly limits = new Map<string, { begin: number; printed: number; missed: number }>();

  constructor(opts: KmsgOptions = {}) {
    this.capacity = opts.capacity ?? KMSG_CAPACITY;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  emit(level: KmsgLevel, subsystem: string, message: string): void {
    let text = message.replace(/\s*\n\s*/g, ' | ');
    if (text.length > KMSG_LINE_MAX) text = `${text.slice(0, KMSG_LINE_MAX - 3)}...`;
    this.ring.push({ seq: this.nextSeq++, usec: Math.round((this.now() - this.start) * 1000), level, subsystem, message: text });
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  /**
   * printk_ratelimited (lib/ratelimit.c ___ratelimit): at most 10 records per `key` in 5 s;
   * the first one after a window that suppressed some says how many.
   */
  ratelimited(key: string, level: KmsgLevel, subsystem: string, message: () => string): void {
    const now = this.now();
    let rs = this.limits.get(key);
    if (rs === undefined) this.limits.set(key, (rs = { begin: now, printed: 0, missed: 0 }));
    if (now - rs.begin >= RATELIMIT_INTERVAL_MS) {
      if (rs.missed > 0) this.emit('warn', subsystem, `${rs.missed} messages like the next suppressed (ratelimit)`);
      rs.begin = now;
      rs.printed = 0;
      rs.missed = 0;
    }
    if (rs.printed >= RATELIMIT_BURST) {
      rs.missed++;
      return;
    }
    rs.printed++;
    this.emit(level, subsystem, message());
  }

  records(): readonly KmsgRecord[] {
    return this.ring;
  }

  /** The `.aheadfs/kmsg` text. */
  format(): string {
    return this.ring.map((r) => formatKmsgRecord(r) + '\n').join('');
  }
}

export function formatKmsgRecord(r: KmsgRecord): string {
  return `${r.seq} ${formatUsec(r.usec)} ${r.level} ${r.subsystem}: ${r.message}`;
}

function formatUsec(usec: number): string {
  return `${Math.floor(usec / 1e6)}.${String(usec % 1e6).padStart(6, '0')}`;
}

/** One line of `.aheadfs/kmsg` back into a record; undefined for a line that is not one. */
export function parseKmsgLine(line: string): KmsgRecord | undefined {
  const m = /^(\d+) (\d+)\.(\d{6}) (err|warn|notice|info) ([^:\s]+): (.*)$/.exec(line);
  if (!m) return undefined;
  return { seq: Number(m[1]), usec: Number(m[2]) * 1e6 + Number(m[3]), level: m[4] as KmsgLevel, subsystem: m[5]!, message: m[6]! };
}

/** dmesg's look: `[    3.141593] warn  tunables: message`. */
export function formatDmesgLine(r: KmsgRecord): string {
  return `[${formatUsec(r.usec).padStart(12)}] ${r.level.padEnd(6)} ${r.subsystem}: ${r.message}`;
}

/** Where a record goes besides the log: its level and subsystem; `ratelimit` names its printk_ratelimited key. */
export interface KmsgTag {
  level: KmsgLevel;
  subsystem: string;
  ratelimit?: string;
}

/**
 * What the block layer and devices report to: the daemon's log line, and with a tag the
 * kmsg ring too (openFilesystem joins the two). A plain `(msg) => void` fits where no
 * ring exists (unit tests).
 */
export type LayerLog = (msg: string, tag?: KmsgTag) => void;

/** A LayerLog writing every line to `log` and tagged ones to `kmsg`. */
export function layerLog(log: (msg: string) => void, kmsg: Kmsg): LayerLog {
  return (msg, tag) => {
    log(msg);
    if (tag === undefined) return;
    if (tag.ratelimit === undefined) kmsg.emit(tag.level, tag.subsystem, msg);
    else kmsg.ratelimited(tag.ratelimit, tag.level, tag.subsystem, () => msg);
  };
}
