/**
 * `aheadfs iostat <mountpoint> [interval [count]]`: `iostat -x` rows for the aheadfs
 * device, computed from two samples of `.aheadfs/diskstats` taken `interval` seconds
 * apart (sysstat's formulas, src/block/diskstats.ts). Prints `count` rows (default 1):
 *
 *   Device       r/s     rkB/s   rrqm/s  %rrqm r_await rareq-sz   w/s ...  aqu-sz  %util
 *   aheadfs   312.00  39936.00   120.00  27.78    0.41   128.00  0.00 ...    0.13  12.80
 */

import { parseWholeNumber } from './args.js';
import { checkInterval, readControlFile } from './control.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Argv } from 'yargs';
import { IOSTAT_X_COLUMNS, iostatX, type IostatX } from '../block/diskstats.js';

async function sample(mnt: string): Promise<number[]> {
  return (await readControlFile(mnt, 'diskstats')).trim().split(/\s+/).map(Number);
}

export function formatIostatHeader(): string {
  return ['Device'.padEnd(9), ...IOSTAT_X_COLUMNS.map(([h]) => h.padStart(9))].join(' ');
}

export function formatIostatRow(device: string, row: IostatX): string {
  return [device.padEnd(9), ...IOSTAT_X_COLUMNS.map(([, k]) => row[k].toFixed(2).padStart(9))].join(' ');
}

export function iostatCommand(y: Argv): Argv {
  return y.command(
    'iostat <mountpoint> [interval] [count]',
    'device figures like iostat -x, from two diskstats samples',
    (c) =>
      c
        .positional('mountpoint', { type: 'string', demandOption: true })
        .positional('interval', { type: 'string', default: '1', describe: 'seconds between samples' })
        .positional('count', { type: 'string', default: '1', describe: 'rows to print' }),
    async (argv) => {
      const interval = checkInterval('interval', argv.interval);
      const count = parseWholeNumber('count', argv.count, { min: 1, max: Number.MAX_SAFE_INTEGER });
      const mnt = argv.mountpoint;
      let prev = await sample(mnt);
      let t0 = performance.now();
      process.stdout.write(formatIostatHeader() + '\n');
      for (let i = 0; i < count; i++) {
        await sleep(interval * 1000);
        const cur = await sample(mnt);
        const t1 = performance.now();
        process.stdout.write(formatIostatRow('aheadfs', iostatX(prev, cur, t1 - t0)) + '\n');
        prev = cur;
        t0 = t1;
      }
    },
  );
}
