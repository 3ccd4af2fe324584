/**
 * What src/fuse needs from src/vfs's `openFilesystem` (src/vfs/index.ts, owned by the lead).
 *
 * TEMPORARY: these interfaces restate the announced shape of src/vfs/index.ts so that the
 * adapter and the daemon can be built while it is being written. Once it lands, replace
 * this file's declarations with `export type { ... } from '../vfs/index.js'` and the
 * dynamic import in `loadOpenFilesystem` with a static one.
 */

import type { Stats } from '../stats/registry.js';
import type { Trace } from '../stats/trace.js';
import type { Vfs } from '../vfs/types.js';

export interface MountOptions {
  cacheBytes: number;
  readAheadKb: number;
  maxSectorsKb: number;
  nrRequests: number;
  scheduler: 'none' | 'mq-deadline';
  raPolicy: 'ondemand' | 'none';
  readpages: boolean;
  log: (msg: string) => void;
}

/** The `.aheadfs/` directory's content. Names are relative to it: 'stats', 'tunables/read_ahead_kb'. */
export interface ControlFiles {
  /** '' -> top-level names; 'tunables' -> the tunables' names. */
  list(dir: string): string[];
  isDir(name: string): boolean;
  /** Throws FsError ENOENT for an unknown name. */
  read(name: string): string;
  /** Throws FsError EINVAL (bad value), EACCES (read-only file) or ENOENT. */
  write(name: string, data: string): void;
}

export interface MountedFs {
  vfs: Vfs;
  stats: Stats;
  trace: Trace;
  control: ControlFiles;
  superblock: { uuid: string; sizeBytes: number };
}

export type OpenFilesystem = (store: string, options: MountOptions) => Promise<MountedFs>;

export async function loadOpenFilesystem(): Promise<OpenFilesystem> {
  // A variable specifier keeps tsc from resolving a module that does not exist yet.
  const spec = '../vfs/index.js';
  const mod = (await import(spec)) as { openFilesystem?: OpenFilesystem };
  if (typeof mod.openFilesystem !== 'function') throw new Error('src/vfs/index.ts does not export openFilesystem');
  return mod.openFilesystem;
}
