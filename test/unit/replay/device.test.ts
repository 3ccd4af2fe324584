/**
 * The simulated device's timing model on the simulated clock: fixed latency, the shared
 * link, parallelism; the hdd's seek, rotation and streaming; the seed.
 */

import test from 'ava';
import { SimClock } from '../../../src/replay/clock.js';
import { DEVICE_PROFILES, SimDevice, type DeviceProfile } from '../../../src/replay/device.js';

const seg = (bytes: number): Uint8Array[] => [new Uint8Array(bytes)];

/** Submit reads at time 0 and run the clock; each read's completion time (µs). */
async function completions(profile: DeviceProfile, reads: [number, number][], seed = 1): Promise<number[]> {
  const clock = new SimClock();
  const dev = new SimDevice(profile, clock, 1 << 30, { seed });
  const done: number[] = new Array<number>(reads.length);
  const ps = reads.map(([sector, bytes], i) => dev.read(sector, seg(bytes)).then(() => (done[i] = clock.nowUs)));
  while (clock.step()) await Promise.resolve();
  await Promise.all(ps);
  return done;
}

const fixed = (o: Partial<DeviceProfile & { model: 'fixed' }>): DeviceProfile => ({ name: 't', model: 'fixed', latencyUs: 100, bandwidthMBps: 100, parallelism: 1, jitterPct: 0, ...o });

test('fixed: latency then transfer; one slot serves one request after the other', async (t) => {
  // 100 µs + 10,000 bytes at 100 MB/s (100 µs)
  t.deepEqual(await completions(fixed({}), [[0, 10_000], [100, 10_000]]), [200, 400]);
});

test('fixed: with parallelism the latencies overlap and only the link is shared', async (t) => {
  t.deepEqual(await completions(fixed({ parallelism: 4 }), [[0, 10_000], [100, 10_000], [200, 10_000]]), [200, 300, 400]);
  // Small requests on a parallel device: all done after one latency.
  t.deepEqual(await completions(fixed({ parallelism: 4, bandwidthMBps: 1e6 }), [[0, 4096], [8, 4096], [16, 4096]]).then((d) => d.map(Math.round)), [100, 100, 100]);
});

test('hdd: a far request seeks, a queued continuation streams on without seek or rotation', async (t) => {
  const hdd: DeviceProfile = { name: 'h', model: 'hdd', rpm: 6000, settleMs: 1, fullStrokeMs: 11, bandwidthMBps: 100, capacityGiB: 1 };
  // Three requests queued at once: 0..8 (head starts at 0: no seek), 8..16 (continues: streams),
  // then the far end of the disk (a full stroke: 11 ms, plus up to one revolution of 10 ms).
  const [a, b, c] = await completions(hdd, [[0, 4096], [8, 4096], [(1 << 30) / 512 - 8, 4096]]);
  const transfer = 4096 / 100;
  t.true(a! >= transfer && a! < transfer + 10_000, `first: rotation + transfer (${a})`);
  t.is(Math.round((b! - a!) * 1000), Math.round(transfer * 1000), 'the queued continuation costs only its transfer');
  t.true(c! - b! >= 11_000 + transfer && c! - b! < 21_000 + transfer, `full stroke + rotation + transfer (${c! - b!})`);
});

test('the seed drives jitter and rotation: the same seed gives the same times, another seed others', async (t) => {
  const reads: [number, number][] = Array.from({ length: 20 }, (_, i) => [i * 1_000_000, 4096]);
  for (const p of [DEVICE_PROFILES.hdd!, DEVICE_PROFILES.ssd!]) {
    const one = await completions(p, reads, 7);
    t.deepEqual(await completions(p, reads, 7), one, p.name);
    t.notDeepEqual(await completions(p, reads, 8), one, p.name);
  }
});
