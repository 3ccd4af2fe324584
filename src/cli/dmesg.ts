/**
 * `aheadfs dmesg <mountpoint> [--follow] [--raw]`: print the mount's message ring,
 * `.aheadfs/kmsg` (src/stats/kmsg.ts), as dmesg prints the kernel's:
 *
 *   [    3.141593] warn   tunables: write of "2" to .aheadfs/tunables/nr_requests refused (EINVAL): ...
 *
 * `--follow` (like `dmesg --follow`) keeps polling and prints each new record once, told
 * apart by its sequence number; records the ring dropped between two polls are counted
 * in one line. `--raw` prints the file's own lines (with the sequence numbers).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Argv } from 'yargs';
import { formatDmesgLine, formatKmsgRecord, parseKmsgLine, type KmsgRecord } from '../stats/kmsg.js';
import { readControlFile } from './control.js';

/** How often --follow reads the ring. */
export const DMESG_POLL_MS = 200;

/** The records of one read of `.aheadfs/kmsg`. */
function parse(text: string): KmsgRecord[] {
  return text
    .split('\n')
    .map(parseKmsgLine)
    .filter((r): r is KmsgRecord => r !== undefined);
}

/** Which records of a new read were not printed yet; how many were lost in between. */
export class KmsgFollower {
  private next = 0;

  take(records: readonly KmsgRecord[]): { records: KmsgRecord[]; lost: number } {
    const fresh = records.filter((r) => r.seq >= this.next);
    const lost = fresh.length > 0 ? fresh[0]!.seq - this.next : 0;
    if (fresh.length > 0) this.next = fresh[fresh.length - 1]!.seq + 1;
    return { records: fresh, lost };
  }
}

export function dmesgCommand(y: Argv): Argv {
  return y.command(
    'dmesg <mountpoint>',
    "print a mounted store's messages: why a write was refused, device errors, faults (--follow: new ones as they come)",
    (c) =>
      c
        .positional('mountpoint', { type: 'string', demandOption: true, describe: 'a mounted aheadfs' })
        .option('follow', { alias: 'w', type: 'boolean', default: false, describe: 'keep printing new messages until Ctrl-C (dmesg --follow)' })
        .option('raw', { type: 'boolean', default: false, describe: 'the lines of .aheadfs/kmsg as they are (with sequence numbers)' }),
    async (argv) => {
      const follower = new KmsgFollower();
      const show = async (first: boolean): Promise<void> => {
        const { records, lost } = follower.take(parse(await readControlFile(argv.mountpoint, 'kmsg')));
        const lines: string[] = [];
        if (lost > 0 && !first) lines.push(`aheadfs dmesg: ${lost} message(s) dropped by the ring before they could be read`);
        for (const r of records) lines.push(argv.raw ? formatKmsgRecord(r) : formatDmesgLine(r));
        if (lines.length) process.stdout.write(lines.join('\n') + '\n');
      };
      await show(true);
      if (!argv.follow) return;
      // Until Ctrl-C (SIGINT ends the process, as with dmesg --follow).
      for (;;) {
        await sleep(DMESG_POLL_MS);
        await show(false);
      }
    },
  );
}
