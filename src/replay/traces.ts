/**
 * The lab's trace set: named access patterns written as fio iolog v2, generated from a
 * seed (xorshift32), so the same seed gives byte-identical traces everywhere.
 *
 *   seq-4k          one reader, 4 KiB reads front to back of a 64 MiB file
 *   stride-64k      4 KiB every 64 KiB (a column of fixed-size records)
 *   stride-8k       4 KiB every 8 KiB (every other page)
 *   interleave-2    two sequential 4 KiB streams on one descriptor, taking turns
 *   interleave-8    eight such streams, round robin
 *   random-4k       4 KiB at random page offsets of a 1 GiB file
 *   mixed           a seeded mix: sequential runs of 16 KiB reads, random 4 KiB reads,
 *                   short strided scans, one descriptor
 *
 * Every trace reads one file (`/lab/<name>`), through one descriptor: the readahead
 * state of that descriptor is what the policies differ in.
 */

import { xorshift32 } from '../prng.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const PAGE = 4 * KiB;

export interface LabTrace {
  readonly name: string;
  readonly description: string;
  /** fio iolog v2 text. */
  readonly text: string;
}

function iolog(name: string, reads: readonly (readonly [number, number])[]): string {
  const f = `/lab/${name}`;
  const lines = ['fio version 2 iolog', `${f} add`, `${f} open`];
  for (const [off, len] of reads) lines.push(`${f} read ${off} ${len}`);
  lines.push(`${f} close`);
  return lines.join('\n') + '\n';
}

function interleaved(streams: number, readsPerStream: number, regionBytes: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < readsPerStream; i++) for (let s = 0; s < streams; s++) out.push([s * regionBytes + i * PAGE, PAGE]);
  return out;
}

/** The lab's traces (about 8,000 to 16,000 reads each). */
export function labTraces(seed = 1): LabTrace[] {
  const rnd = xorshift32(seed);
  const seq: [number, number][] = [];
  for (let off = 0; off < 64 * MiB; off += PAGE) seq.push([off, PAGE]);
  const stride64: [number, number][] = [];
  for (let i = 0; i < 8192; i++) stride64.push([i * 64 * KiB, PAGE]);
  const stride8: [number, number][] = [];
  for (let i = 0; i < 8192; i++) stride8.push([i * 8 * KiB, PAGE]);
  const random: [number, number][] = [];
  for (let i = 0; i < 8192; i++) random.push([(rnd() % (GiB / PAGE)) * PAGE, PAGE]);
  const mixed: [number, number][] = [];
  let cursor = 0;
  while (mixed.length < 10000) {
    const kind = rnd() % 10;
    if (kind < 5) {
      // a sequential run of 16 KiB reads from a random point
      cursor = (rnd() % (GiB / MiB)) * MiB;
      const n = 16 + (rnd() % 64);
      for (let i = 0; i < n; i++) mixed.push([cursor + i * 16 * KiB, 16 * KiB]);
    } else if (kind < 8) {
      mixed.push([(rnd() % (GiB / PAGE)) * PAGE, PAGE]);
    } else {
      // a short strided scan: 4 KiB every 32 KiB
      const at = (rnd() % (GiB / MiB)) * MiB;
      for (let i = 0; i < 32; i++) mixed.push([at + i * 32 * KiB, PAGE]);
    }
  }
  return [
    { name: 'seq-4k', description: '4 KiB reads front to back of a 64 MiB file', text: iolog('seq-4k', seq) },
    { name: 'stride-64k', description: '4 KiB every 64 KiB (8192 reads over 512 MiB)', text: iolog('stride-64k', stride64) },
    { name: 'stride-8k', description: '4 KiB every 8 KiB (8192 reads over 64 MiB)', text: iolog('stride-8k', stride8) },
    { name: 'interleave-2', description: 'two sequential 4 KiB streams 256 MiB apart, one descriptor, taking turns', text: iolog('interleave-2', interleaved(2, 8192, 256 * MiB)) },
    { name: 'interleave-8', description: 'eight sequential 4 KiB streams 64 MiB apart, one descriptor, round robin', text: iolog('interleave-8', interleaved(8, 2048, 64 * MiB)) },
    { name: 'random-4k', description: '8192 reads of 4 KiB at random pages of 1 GiB', text: iolog('random-4k', random) },
    { name: 'mixed', description: 'seeded mix: 16 KiB sequential runs, random 4 KiB, short 32 KiB strides (10,000+ reads)', text: iolog('mixed', mixed) },
  ];
}
