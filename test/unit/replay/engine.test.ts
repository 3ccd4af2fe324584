/**
 * The replay engine: simulated time (the trace's t= and the elapsed time are the device
 * model's, not the wall clock's), determinism for a seed, iodepth, and our stride policy
 * against ondemand on the lab's traces.
 */

import test from 'ava';
import { DEVICE_PROFILES, type DeviceProfile } from '../../../src/replay/device.js';
import { runReplay, type ReplayConfig, type ReplayResult } from '../../../src/replay/engine.js';
import { parseTrace, type ReplayTrace } from '../../../src/replay/parse.js';
import { labTraces } from '../../../src/replay/traces.js';

function iolog(reads: [number, number][]): ReplayTrace {
  return parseTrace(['fio version 2 iolog', '/f add', ...reads.map(([o, l]) => `/f read ${o} ${l}`)].join('\n'));
}

const cfg = (o: Partial<ReplayConfig>): ReplayConfig => ({ kernel: '6.18', raPolicy: 'ondemand', readAheadKb: 128, device: DEVICE_PROFILES.ssd!, iodepth: 1, seed: 1, ...o });

const figures = ({ wallMs: _w, ...r }: ReplayResult): Omit<ReplayResult, 'wallMs'> => r;

test('time is simulated: one cold read takes the profile\'s latency plus its transfer, in the trace too', async (t) => {
  const slow: DeviceProfile = { name: 'slow', model: 'fixed', latencyUs: 250_000, bandwidthMBps: 100, parallelism: 1, jitterPct: 0 };
  const lines: string[] = [];
  const r = await runReplay(iolog([[0, 4096]]), cfg({ device: slow }), { traceSink: (l) => lines.push(l) });
  // The file is one page (its size is the end of the furthest read): 4 KiB in one request.
  t.is(r.deviceRequests, 1);
  t.is(r.elapsedUs, 250_000 + 4096 / 100);
  t.true(Math.abs(r.latencyP50Us - r.elapsedUs) <= r.elapsedUs / 1000, `its latency is the elapsed time (hdr: 3 digits): ${r.latencyP50Us}`);
  t.truthy(lines.find((l) => /^rq complete op=read sector=0 bytes=4096 status=ok ms=250\.041 t=250041$/.test(l)), lines.join('\n'));
  t.is(r.stalls, 1);
});

test('the same seed gives the same figures and trace; another seed other times on hdd', async (t) => {
  const tr = parseTrace(labTraces(1).find((x) => x.name === 'mixed')!.text);
  const run = async (seed: number): Promise<{ r: ReplayResult; lines: string[] }> => {
    const lines: string[] = [];
    const r = await runReplay(tr, cfg({ device: DEVICE_PROFILES.hdd!, seed }), { traceSink: (l) => lines.push(l) });
    return { r, lines };
  };
  const a = await run(5);
  const b = await run(5);
  t.deepEqual(figures(a.r), figures(b.r));
  t.is(a.lines.length, b.lines.length);
  t.true(a.lines.every((l, i) => l === b.lines[i]), 'identical trace lines');
  const c = await run(6);
  t.not(c.r.elapsedUs, a.r.elapsedUs);
  t.is(c.r.deviceRequests, a.r.deviceRequests, 'the decisions do not depend on the seed here');
});

test('iodepth: random reads overlap on a parallel device', async (t) => {
  const tr = parseTrace(labTraces(1).find((x) => x.name === 'random-4k')!.text);
  const one = await runReplay(tr, cfg({ iodepth: 1 }));
  const sixteen = await runReplay(tr, cfg({ iodepth: 16 }));
  t.is(one.deviceRequests, sixteen.deviceRequests);
  t.true(sixteen.elapsedUs * 8 < one.elapsedUs, `${sixteen.elapsedUs} vs ${one.elapsedUs}`);
});

test('stride: prefetches fixed-stride readers, leaves interleaved streams to ondemand', async (t) => {
  const traces = labTraces(1);
  const nbd = DEVICE_PROFILES['nbd-2ms']!;
  const run = (name: string, raPolicy: 'ondemand' | 'stride') => runReplay(parseTrace(traces.find((x) => x.name === name)!.text), cfg({ device: nbd, raPolicy }));
  const sOn = await run('stride-64k', 'ondemand');
  const sSt = await run('stride-64k', 'stride');
  t.is(sOn.stalls, sOn.reads, 'ondemand: every strided read waits for its own request');
  t.true(sSt.elapsedUs * 5 < sOn.elapsedUs, `stride ${sSt.elapsedUs} vs ondemand ${sOn.elapsedUs}`);
  t.true(sSt.raHit > sSt.reads * 0.99, 'the prefetched chunks are the ones read');
  // diskstats on the simulated clock: one request at a time, against many.
  t.true(sOn.avgInFlight < 1.1, `ondemand: ${sOn.avgInFlight} in flight`);
  t.true(sSt.avgInFlight > 8, `stride: ${sSt.avgInFlight} in flight`);
  const iOn = await run('interleave-8', 'ondemand');
  const iSt = await run('interleave-8', 'stride');
  t.true(iSt.elapsedUs <= iOn.elapsedUs * 1.05, `interleave-8: stride ${iSt.elapsedUs} vs ondemand ${iOn.elapsedUs}`);
  t.true(iSt.raWasted <= iOn.raWasted + 64 * 4, `few pages wasted by misfires: ${iSt.raWasted} vs ${iOn.raWasted}`);
});
