/**
 * nullfs: the ceiling for any fuse-native filesystem on this machine. The same binding and
 * the same mount options as aheadfs (AheadFuse: direct_io, max_read=131072, ...), but reads
 * are answered from memory and writes are accepted and dropped.
 *
 *   node dist/bench/nullfs.js <mountpoint> <files> <bytes-per-file> [pattern|memory]
 *
 * Serves /f0 ... /f<files-1>, each <bytes-per-file> long (writes may extend them). Where a
 * read's bytes come from is the one difference between the two modes:
 *   pattern  one repeating 132 KiB pattern for every file and offset (the default): the
 *            source of each copy stays in the CPU caches. The ceiling of FUSE itself.
 *   memory   each file's own bytes, held in memory (one buffer per file, the same bytes
 *            as the pattern until written): every copy reads the file's working set from
 *            RAM, as a filesystem that caches the whole file must. The ceiling for any
 *            page cache re-reading a file this large. Writes inside the first
 *            <bytes-per-file> bytes are kept.
 * Prints `ready` on stdout once mounted; unmounts and exits on SIGTERM/SIGINT or stdin EOF
 * (so it never outlives the bench that started it).
 */

import type Fuse from 'fuse-native';
import { pathToFileURL } from 'node:url';
import { AheadFuse } from '../fuse/aheadfuse.js';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const ENOENT = -2;
const PATTERN_PERIOD = 4096;

/** A repeating pattern long enough to serve any read (<= 128 KiB) at any offset with one copy. */
export function makePattern(maxRead: number): Buffer {
  const b = Buffer.allocUnsafe(maxRead + PATTERN_PERIOD);
  for (let i = 0; i < b.length; i++) b[i] = (i * 131 + 17) & 0xff;
  return b;
}

export type NullBacking = 'pattern' | 'memory';

export function nullOperations(nFiles: number, fileBytes: number, backing: NullBacking = 'pattern'): Fuse.Operations {
  const sizes = new Map<string, number>();
  for (let i = 0; i < nFiles; i++) sizes.set(`/f${i}`, fileBytes);
  const pattern = makePattern(1 << 17);
  // memory: every byte of every file, written once (so the pages are really there).
  const contents = new Map<string, Buffer>();
  if (backing === 'memory') {
    for (const path of sizes.keys()) {
      const b = Buffer.allocUnsafe(fileBytes);
      for (let off = 0; off < fileBytes; off += PATTERN_PERIOD) pattern.copy(b, off, 0, Math.min(PATTERN_PERIOD, fileBytes - off));
      contents.set(path, b);
    }
  }
  const now = Date.now();
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const stat = (mode: number, size: number): Fuse.Stat => ({ mode, uid, gid, size, nlink: 1, blksize: 4096, blocks: Math.ceil(size / 512), atime: now, mtime: now, ctime: now });
  const getattr = (path: string, cb: Fuse.ValueCallback<Fuse.Stat>): void => {
    if (path === '/') return cb(0, stat(S_IFDIR | 0o755, 4096));
    const size = sizes.get(path);
    if (size === undefined) return cb(ENOENT);
    cb(0, stat(S_IFREG | 0o644, size));
  };
  return {
    getattr,
    fgetattr: (path, _fd, cb) => getattr(path, cb),
    readdir: (path, cb) => (path === '/' ? cb(0, ['.', '..', ...[...sizes.keys()].map((p) => p.slice(1))]) : cb(ENOENT)),
    access: (_path, _mode, cb) => cb(0),
    open: (path, _flags, cb) => (sizes.has(path) ? cb(0, 1) : cb(ENOENT)),
    create: (path, _mode, cb) => {
      if (!sizes.has(path)) sizes.set(path, 0);
      cb(0, 1);
    },
    unlink: (path, cb) => (sizes.delete(path) ? cb(0) : cb(ENOENT)),
    release: (_path, _fd, cb) => cb(0),
    flush: (_path, _fd, cb) => cb(0),
    fsync: (_path, _datasync, _fd, cb) => cb(0),
    truncate: (path, size, cb) => {
      if (!sizes.has(path)) return cb(ENOENT);
      sizes.set(path, size);
      cb(0);
    },
    ftruncate: (path, _fd, size, cb) => {
      sizes.set(path, size);
      cb(0);
    },
    read: (path, _fd, buf, len, pos, cb) => {
      const size = sizes.get(path) ?? 0;
      const n = Math.max(0, Math.min(len, size - pos));
      if (n > 0) {
        const data = contents.get(path);
        if (data !== undefined && pos + n <= data.length) data.copy(buf, 0, pos, pos + n);
        else {
          const off = pos % PATTERN_PERIOD;
          pattern.copy(buf, 0, off, off + n);
        }
      }
      cb(n);
    },
    write: (path, _fd, buf, len, pos, cb) => {
      // memory: bytes inside a file's buffer land there (read back as written); the rest is dropped.
      const data = contents.get(path);
      if (data !== undefined && pos < data.length) buf.copy(data, pos, 0, Math.min(len, data.length - pos));
      const size = sizes.get(path) ?? 0;
      if (pos + len > size) sizes.set(path, pos + len);
      cb(len);
    },
  };
}

async function main(): Promise<void> {
  const [mnt, files, bytes, backing = 'pattern'] = process.argv.slice(2);
  const nFiles = Number(files);
  const fileBytes = Number(bytes);
  if (mnt === undefined || !Number.isSafeInteger(nFiles) || nFiles < 1 || !Number.isSafeInteger(fileBytes) || fileBytes < 0 || (backing !== 'pattern' && backing !== 'memory')) {
    process.stderr.write('usage: nullfs <mountpoint> <files> <bytes-per-file> [pattern|memory]\n');
    process.exit(2);
  }
  const fuse = new AheadFuse(mnt, nullOperations(nFiles, fileBytes, backing), { fuseDebug: false });
  await new Promise<void>((res, rej) => fuse.mount((err) => (err ? rej(err) : res())));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    fuse.unmount(() => process.exit(0));
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.stdout.write('ready\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`nullfs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
