/**
 * `aheadfs trace <mountpoint> [--follow] [--kind ra,bio,...]`: print `.aheadfs/trace`,
 * like ftrace's `trace`; with `--follow`, like `trace_pipe`: keep polling the file and
 * print only the lines that are new, until Ctrl-C.
 *
 * New lines are told apart by their ` t=<µs>` stamp (monotonic, never reset by a clear):
 * a poll prints the lines after the last stamp seen, and of the lines carrying that very
 * stamp only those it has not printed yet (two events can share a microsecond).
 *
 *   poll 1: ... t=100  t=105  t=105          printed all; last=105, seenAtLast=2
 *   poll 2: ... t=105  t=105  t=105  t=120   prints the third t=105 and t=120
 */

import { readControlFile } from './control.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import type { TraceKind } from '../stats/trace.js';

/** Every kind of trace line (the first word), as documented in the README. */
export const TRACE_KINDS = ['read', 'ra', 'bio', 'plug', 'rq', 'wait', 'wake', 'reclaim', 'writeback', 'balance_dirty_pages'] as const satisfies readonly TraceKind[];
// Compile-time check that the list names every TraceKind (a kind left out fails to compile).
const everyKindListed: [Exclude<TraceKind, (typeof TRACE_KINDS)[number]>] extends [never] ? true : false = true;
void everyKindListed;

/** How often --follow reads the trace. */
export const FOLLOW_POLL_MS = 200;

/** Parse `--kind a,b` (repeatable) into a set; unknown kinds are a UsageError. */
export function parseKinds(values: readonly string[] | undefined): Set<string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const kinds = new Set<string>();
  for (const v of values) {
    for (const k of v.split(',').map((s) => s.trim())) {
      if (k === '') continue;
      if (!(TRACE_KINDS as readonly string[]).includes(k)) throw new UsageError(`unknown trace kind ${JSON.stringify(k)} (kinds: ${TRACE_KINDS.join(', ')})`);
      kinds.add(k);
    }
  }
  if (kinds.size === 0) throw new UsageError(`--kind needs at least one of: ${TRACE_KINDS.join(', ')}`);
  return kinds;
}

/** The ` t=<µs>` stamp that ends a trace line, or undefined. */
export function traceStamp(line: string): number | undefined {
  const m = / t=(\d+)$/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** Which lines of a new read of the trace were not printed yet (see the header). */
export class TraceFollower {
  private last = -1;
  private seenAtLast = 0;

  take(lines: readonly string[]): string[] {
    const out: string[] = [];
    let atLast = 0;
    for (const line of lines) {
      const t = traceStamp(line);
      if (t === undefined || t < this.last) continue;
      if (t === this.last) {
        atLast++;
        if (atLast <= this.seenAtLast) continue;
        this.seenAtLast++;
        out.push(line);
        continue;
      }
      this.last = t;
      this.seenAtLast = 1;
      atLast = 1;
      out.push(line);
    }
    return out;
  }
}

function matches(kinds: Set<string> | undefined, line: string): boolean {
  if (kinds === undefined) return true;
  const sp = line.indexOf(' ');
  return kinds.has(sp < 0 ? line : line.slice(0, sp));
}

export function traceCommand(y: Argv): Argv {
  return y.command(
    'trace <mountpoint>',
    'print the trace of a mounted store (--follow: new lines as they come, like trace_pipe)',
    (c) =>
      c
        .positional('mountpoint', { type: 'string', demandOption: true })
        .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing new lines until Ctrl-C' })
        .option('kind', { type: 'string', array: true, requiresArg: true, describe: `only these kinds (comma-separated): ${TRACE_KINDS.join(',')}` }),
    async (argv) => {
      const kinds = parseKinds(argv.kind);
      const read = async (): Promise<string[]> => {
        const text = await readControlFile(argv.mountpoint, 'trace');
        return text === '' ? [] : text.replace(/\n$/, '').split('\n');
      };
      const print = (lines: readonly string[]): void => {
        const shown = lines.filter((l) => matches(kinds, l));
        if (shown.length) process.stdout.write(shown.join('\n') + '\n');
      };
      const follower = new TraceFollower();
      print(follower.take(await read()));
      if (!argv.follow) return;
      // Until Ctrl-C (SIGINT ends the process, as with `cat trace_pipe`).
      for (;;) {
        await sleep(FOLLOW_POLL_MS);
        print(follower.take(await read()));
      }
    },
  );
}
