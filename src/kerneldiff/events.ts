/**
 * Readahead events as both sides print them, reduced to what can be compared.
 *
 * The kernel (tracefs, `trace` file of an instance):
 *   node-4242 [001] ..... 812.5: page_cache_sync_ra: dev=7:3 ino=c index=0 req_count=1 order=0 size=0 ...
 * aheadfs (`.aheadfs/trace`, and the in-process model):
 *   page_cache_sync_ra: ino=12 index=0 req_count=1 order=0 size=0 ... t=1834
 *
 * Normalised: the event name and its fields in the kernel's order, without `dev`, `pid`, `t`
 * and with `ino` replaced by the file's ordinal in order of first appearance (`#0`, `#1`):
 * the two sides number their inodes differently, but which file an event is about matters.
 *
 *   page_cache_sync_ra ino=#0 index=0 req_count=1 order=0 size=0 async_size=0 ra_pages=32 mmap_miss=0 prev_pos=-1
 */

export const RA_EVENTS = ['page_cache_sync_ra', 'page_cache_async_ra', 'page_cache_ra_order', 'page_cache_ra_unbounded'] as const;
export type RaEventName = (typeof RA_EVENTS)[number];

export interface RaEvent {
  readonly name: RaEventName;
  /** Field name -> value as printed, in printed order (`dev`/`pid`/`t` dropped, `ino` as printed). */
  readonly fields: ReadonlyArray<readonly [string, string]>;
}

const LINE = /\b(page_cache_(?:sync_ra|async_ra|ra_order|ra_unbounded)): (.*)$/;

/**
 * Parse one trace line of either side; undefined when it is not a readahead event.
 * `inoHex`: the kernel prints ino in hex (`%lx`); aheadfs in decimal.
 */
export function parseRaLine(line: string, opts: { inoHex: boolean }): RaEvent | undefined {
  const m = LINE.exec(line.trimEnd());
  if (!m) return undefined;
  const fields: [string, string][] = [];
  for (const word of m[2]!.split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq <= 0) continue;
    const key = word.slice(0, eq);
    let value = word.slice(eq + 1);
    if (key === 'dev' || key === 't' || key === 'pid') continue;
    if (key === 'ino' && opts.inoHex) value = String(Number.parseInt(value, 16));
    fields.push([key, value]);
  }
  return { name: m[1] as RaEventName, fields };
}

export function parseRaTrace(text: string, opts: { inoHex: boolean }): RaEvent[] {
  const out: RaEvent[] = [];
  for (const line of text.split('\n')) {
    const ev = parseRaLine(line, opts);
    if (ev) out.push(ev);
  }
  return out;
}

export function field(ev: RaEvent, key: string): string | undefined {
  return ev.fields.find(([k]) => k === key)?.[1];
}

/** The normalised text of each event (see the header). */
export function normalise(events: readonly RaEvent[]): string[] {
  const ordinal = new Map<string, number>();
  return events.map((ev) => {
    const parts = ev.fields.map(([k, v]) => {
      if (k !== 'ino') return `${k}=${v}`;
      let n = ordinal.get(v);
      if (n === undefined) {
        n = ordinal.size;
        ordinal.set(v, n);
      }
      return `ino=#${n}`;
    });
    return `${ev.name} ${parts.join(' ')}`;
  });
}

/** Normalised lines read back from a fixture or a saved list: comments (#...) and blanks skipped. */
export function readNormalised(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export interface DiffResult {
  /** Index of the first line that differs, or undefined when the lists are identical. */
  readonly firstDiff: number | undefined;
  /** The printable report. */
  readonly text: string;
}

/** A short label for a normalised event: `sync`, `async`, `order`, `unbounded`. */
function shortName(line: string): string {
  return line.replace(/^page_cache_(sync_ra|async_ra|ra_order|ra_unbounded)/, (_, n: string) => n.replace('_ra', '').replace('ra_', ''));
}

/**
 * Both lists side by side (numbered, `|` where equal, `<>` where not, the shorter side
 * blank) and the first difference spelled out field by field.
 */
export function diffEvents(left: readonly string[], right: readonly string[], labels: { left: string; right: string }, opts: { context?: number } = {}): DiffResult {
  const n = Math.max(left.length, right.length);
  let first: number | undefined;
  for (let i = 0; i < n; i++) {
    if (left[i] !== right[i]) {
      first = i;
      break;
    }
  }
  const l = left.map(shortName);
  const r = right.map(shortName);
  const width = Math.max(labels.left.length, ...l.map((s) => s.length));
  const out: string[] = [];
  out.push(`${'#'.padStart(4)}  ${labels.left.padEnd(width)}    ${labels.right}`);
  // With `context`, show only the lines around the first difference (and the last lines).
  const ctx = opts.context;
  for (let i = 0; i < n; i++) {
    if (ctx !== undefined && first !== undefined && (i < first - ctx || i > first + ctx)) continue;
    if (ctx !== undefined && first === undefined && i >= ctx) {
      out.push(`   … ${n - ctx} more, identical`);
      break;
    }
    const mark = left[i] === right[i] ? ' |' : '<>';
    out.push(`${String(i).padStart(4)}  ${(l[i] ?? '').padEnd(width)} ${mark} ${r[i] ?? ''}`);
  }
  if (first === undefined) {
    out.push(`identical: ${n} events`);
  } else {
    out.push(`first difference at event ${first} (${labels.left}: ${left.length} events, ${labels.right}: ${right.length}):`);
    out.push(`  ${labels.left}: ${left[first] ?? '(none)'}`);
    out.push(`  ${labels.right}: ${right[first] ?? '(none)'}`);
    const a = fieldsOf(left[first]);
    const b = fieldsOf(right[first]);
    if (a && b && a.name === b.name) {
      const differing = [...a.map.keys()].filter((k) => a.map.get(k) !== b.map.get(k));
      if (differing.length) out.push(`  fields: ${differing.map((k) => `${k} ${a.map.get(k)} vs ${b.map.get(k) ?? '-'}`).join(', ')}`);
    }
  }
  return { firstDiff: first, text: out.join('\n') };
}

function fieldsOf(line: string | undefined): { name: string; map: Map<string, string> } | undefined {
  if (!line) return undefined;
  const [name, ...rest] = line.split(' ');
  const map = new Map<string, string>();
  for (const w of rest) {
    const eq = w.indexOf('=');
    if (eq > 0) map.set(w.slice(0, eq), w.slice(eq + 1));
  }
  return { name: name!, map };
}

/** The settings a fixture was captured with, from its `# pattern=... ` header line. */
export interface FixtureHeader {
  pattern: string;
  readAheadKb: number;
  maxSectorsKb: number;
  kernel: string;
}

/** A saved event list: two comment lines, then one normalised event a line. */
export function formatFixture(h: FixtureHeader, lines: readonly string[]): string {
  return (
    `# aheadfs kernel-diff: readahead events of the running kernel, normalised (ino = file ordinal, dev dropped)\n` +
    `# pattern=${h.pattern} read_ahead_kb=${h.readAheadKb} max_sectors_kb=${h.maxSectorsKb} kernel=${h.kernel} fs=ext4\n` +
    lines.map((l) => l + '\n').join('')
  );
}

export function parseFixture(text: string): { header: FixtureHeader; lines: string[] } {
  const m = /^# pattern=(\S+) read_ahead_kb=(\d+) max_sectors_kb=(\d+) kernel=(\S+)/m.exec(text);
  if (!m) throw new Error('not a kernel-diff event list (no "# pattern=... read_ahead_kb=..." line)');
  return { header: { pattern: m[1]!, readAheadKb: Number(m[2]), maxSectorsKb: Number(m[3]), kernel: m[4]! }, lines: readNormalised(text) };
}
