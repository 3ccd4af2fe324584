/**
 * One buffered read of an open file, as the vfs (a FUSE read) and `aheadfs replay` both
 * make it: the `read` trace line (tunables/trace = 2; traceRead, called first), then the
 * `--ra-policy stride` prefetch (ra-stride.ts), then the mount's kernel's read loop (4.18: filemap-read.ts,
 * 6.18: filemap-read-v6.ts). Synchronous when everything is cached: `done` runs before
 * this returns.
 */

import type { FsError } from '../errors.js';
import { filemapRead } from './filemap-read.js';
import { filemapReadV6 } from './filemap-read-v6.js';
import type { AddressSpace } from './pagecache.js';
import { TraceEvent } from '../stats/trace.js';
import { strideReadahead, type MmFileStride } from './ra-stride.js';

/** An open file as the read entry needs it. */
export interface ReadFile extends MmFileStride {
  readonly ino: number;
}

/** The `read` line (only with tunables/trace = 2). */
export function traceRead(mapping: AddressSpace, file: ReadFile, pos: number, len: number): void {
  const { trace } = mapping.cache;
  if (trace.reads) trace.emit(TraceEvent.read, file.ino, file.fh, pos, len);
}

export function fileRead(mapping: AddressSpace, file: ReadFile, buf: Uint8Array, pos: number, len: number, done: (err: FsError | undefined, n: number) => void): void {
  const { cache } = mapping;
  if (cache.raPolicy === 'stride') strideReadahead(mapping, file, pos, len);
  if (cache.kernel === '6.18') filemapReadV6(mapping, file, buf, pos, len, done);
  else filemapRead(mapping, file, buf, pos, len, done);
}
