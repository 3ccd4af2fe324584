/** Reading and writing a mount's `.aheadfs/` control files from tests. */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DS } from '../../src/block/diskstats.js';

export type StatsSnapshot = Record<string, number>;

export async function readStats(mnt: string): Promise<StatsSnapshot> {
  return JSON.parse(await readFile(join(mnt, '.aheadfs', 'stats.json'), 'utf8')) as StatsSnapshot;
}

/** The 17 fields of `.aheadfs/diskstats`. */
export async function readDiskstats(mnt: string): Promise<number[]> {
  return (await readFile(join(mnt, '.aheadfs', 'diskstats'), 'utf8')).trim().split(/\s+/).map(Number);
}

export async function control(mnt: string, name: string, value: string): Promise<void> {
  await writeFile(join(mnt, '.aheadfs', name), value);
}

export async function readControl(mnt: string, name: string): Promise<string> {
  return readFile(join(mnt, '.aheadfs', name), 'utf8');
}

/**
 * `sync; echo 1 > drop_caches`: written files are dirty in a writeback mount, and
 * drop_caches (like the kernel's) does not drop dirty pages: the sync writes them back
 * first, so that what follows reads from the device.
 */
export const dropCaches = async (mnt: string): Promise<void> => {
  await control(mnt, 'sync', '1');
  await control(mnt, 'drop_caches', '1');
};

/**
 * Wait until the device has no request in flight (diskstats in_flight = 0), at most
 * `timeoutMs`. A read returns as soon as its own pages are in; the async readahead it
 * started may still be reading, and drop_caches skips those locked pages (as the kernel's
 * does). A test that counts what drop_caches drops waits for this first.
 */
export async function waitForIdleDevice(mnt: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const inFlight = (await readDiskstats(mnt))[DS.inFlight];
    if (inFlight === 0) return;
    if (Date.now() > deadline) throw new Error(`device still has ${inFlight} request(s) in flight after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 10));
  }
}
export const clearTrace = (mnt: string): Promise<void> => control(mnt, 'trace', '0');

const RA_LINE = /^ra (sync|async) ino=(\d+) fh=(\d+) index=(\d+) req=(\d+) start=(\d+) size=(\d+) async=(\d+)(?: order=\d+)? reason=(\w+)(?: pid=\d+)? t=\d+$/;

/** The windows of the `ra` lines in the trace, as `{start,size,async}`. */
export async function traceWindows(mnt: string): Promise<string[]> {
  const out: string[] = [];
  for (const line of (await readControl(mnt, 'trace')).split('\n')) {
    if (!line.startsWith('ra ')) continue;
    const m = RA_LINE.exec(line);
    if (!m) throw new Error(`malformed ra line: ${line}`);
    out.push(`{${m[6]},${m[7]},${m[8]}}`);
  }
  return out;
}
