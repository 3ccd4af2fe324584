/**
 * The aheadfs side of `aheadfs kernel-diff`: the same pattern through a fresh aheadfs
 * mount with the same read_ahead_kb / max_sectors_kb, its readahead events taken from the
 * `page_cache_*` lines of `.aheadfs/trace`.
 *
 *   mkfs a store in a temp dir -> mount -> write the files, fsync -> umount -> mount again
 *   (cold cache) -> clear the trace -> pread the pattern -> read the trace -> umount,
 *   remove the temp dir (always, also on failure)
 *
 * The mount runs `--kernel 6.18` (src/mm/filemap-read-v6.ts with readahead-v6.ts over
 * the folio page cache, large folios up to order 9 as ext4's). One limit is FUSE's, not
 * the read path's: libfuse 2 passes at most 128 KiB per read, so a larger pread reaches
 * aheadfs as several reads and its req_count differs from the kernel's.
 */

import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRaTrace, type RaEvent } from './events.js';
import { replay, writeFiles, type QueueSettings } from './kernel.js';
import type { Pattern } from './patterns.js';

const BIN = fileURLToPath(new URL('../../bin/aheadfs.js', import.meta.url));

function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, DEBUG: '' } });
  if (r.status !== 0) throw new Error(`aheadfs ${args.join(' ')}: ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`);
}

export function runPatternOnAheadfs(pattern: Pattern, queue: QueueSettings, opts: { mountArgs?: string[] } = {}): { events: RaEvent[] } {
  const tmp = mkdtempSync(join(tmpdir(), 'aheadfs-kdiff-fs-'));
  const store = join(tmp, 'store');
  const mnt = join(tmp, 'mnt');
  mkdirSync(mnt);
  const mountArgs = ['mount', store, mnt, '--read-ahead-kb', String(queue.readAheadKb), '--max-sectors-kb', String(queue.maxSectorsKb), '--kernel', '6.18', ...(opts.mountArgs ?? [])];
  let mounted = false;
  const mount = (): void => {
    cli(mountArgs);
    mounted = true;
  };
  const umount = (): void => {
    if (!mounted) return;
    cli(['umount', mnt]);
    mounted = false;
  };
  try {
    cli(['mkfs', store, '--size', '128M', '--block-file-size', '16M']);
    mount();
    writeFiles(mnt, pattern);
    umount();
    mount(); // cold: a fresh mount caches nothing
    writeFileSync(join(mnt, '.aheadfs', 'trace'), 'clear\n');
    const fds = pattern.files.map((f) => openSync(join(mnt, f.name), 'r'));
    try {
      replay(fds, pattern);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    const text = readFileSync(join(mnt, '.aheadfs', 'trace'), 'utf8');
    return { events: parseRaTrace(text, { inoHex: true }) };
  } finally {
    try {
      umount();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}
