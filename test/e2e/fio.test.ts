/**
 * fio verify jobs: fio writes blocks with crc32c verification headers (checking them right
 * after the write, from the page cache), `drop_caches` empties the cache, and a fresh fio
 * process reads every block back through readahead and the block layer (--verify_only),
 * sequential and random, at several block sizes, on a default mount and on one with
 * injected device latency (dm-delay-like, --delay-read-us/--delay-write-us).
 * fio exits non-zero on any bad block, which fails the test with fio's message.
 */

import test from 'ava';
import { join } from 'node:path';
import { sh } from '../helpers/cli.js';
import { dropCaches } from '../helpers/control.js';
import { withMount, type MountOpts } from '../helpers/mount.js';

interface Job {
  rw: 'write' | 'randwrite';
  /** fio --bs, or a --bsrange (the verify header records each block's own length). */
  bs: string;
  size: string;
}

const SIZES: Record<string, number> = { m: 1 << 20 };
const bytes = (s: string): number => Number(s.slice(0, -1)) * SIZES[s.slice(-1)]!;

interface FioJson {
  jobs: { error: number; read: { io_bytes: number }; write: { io_bytes: number } }[];
}

async function fioJob(mnt: string, j: Job, extra: string): Promise<FioJson['jobs'][number]> {
  const name = `${j.rw}-${j.bs.replace(/\W/g, '_')}`;
  const bsOpt = j.bs.includes('-') ? `--bsrange=${j.bs}` : `--bs=${j.bs}`;
  const common = `--name=${name} --filename=${JSON.stringify(join(mnt, `${name}.fio`))} --rw=${j.rw} ${bsOpt} --size=${j.size} --verify=crc32c --verify_state_save=0 --ioengine=psync --output-format=json`;
  const out = await sh(`fio ${common} ${extra}`, { timeoutMs: 300_000 });
  return (JSON.parse(out.slice(out.indexOf('{'))) as FioJson).jobs[0]!;
}

/** Write with verification, drop the page cache, then verify every block with a fresh fio. */
async function writeDropVerify(mnt: string, j: Job): Promise<void> {
  const w = await fioJob(mnt, j, '');
  if (w.error !== 0 || w.write.io_bytes !== bytes(j.size)) throw new Error(`fio write ${JSON.stringify(j)}: error ${w.error}, wrote ${w.write.io_bytes}`);
  await dropCaches(mnt);
  const v = await fioJob(mnt, j, '--verify_only');
  if (v.error !== 0 || v.read.io_bytes !== bytes(j.size)) throw new Error(`fio verify ${JSON.stringify(j)}: error ${v.error}, read ${v.read.io_bytes}`);
}

const MATRIX: { name: string; mount: MountOpts; jobs: Job[] }[] = [
  {
    name: 'default mount',
    mount: { size: '512M' },
    jobs: [
      { rw: 'write', bs: '4k', size: '8m' },
      { rw: 'write', bs: '64k', size: '32m' },
      { rw: 'write', bs: '1m', size: '32m' },
      { rw: 'randwrite', bs: '4k', size: '8m' },
      { rw: 'randwrite', bs: '16k', size: '16m' },
      { rw: 'randwrite', bs: '128k', size: '32m' },
      { rw: 'randwrite', bs: '4k-256k', size: '16m' },
    ],
  },
  {
    // branch i13-faults: the mount options of the delay
    name: 'injected delay (--delay-read-us 500 --delay-write-us 200)',
    mount: { mountArgs: ['--delay-read-us', '500', '--delay-write-us', '200'] },
    jobs: [
      { rw: 'write', bs: '128k', size: '16m' },
      { rw: 'randwrite', bs: '4k', size: '4m' },
      { rw: 'randwrite', bs: '8k-64k', size: '8m' },
    ],
  },
];

for (const m of MATRIX) {
  test(`fio verify, drop_caches between write and verify: ${m.name}: ${m.jobs.map((j) => `${j.rw} ${j.bs}`).join(', ')}`, async (t) => {
    t.timeout(300_000);
    await withMount(t, m.mount, async (mnt) => {
      for (const j of m.jobs) await t.notThrowsAsync(writeDropVerify(mnt, j), `${j.rw} ${j.bs} ${j.size}`);
    });
  });
}
