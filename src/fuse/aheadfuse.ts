/**
 * AheadFuse: fuse-native's Fuse with the mount options aheadfs needs, fstat by handle, and
 * the caller of each request (fuse-native as patched by patches/fuse-native+2.2.6.patch).
 *
 * fuse-native passes only a fixed list of options, so `_fuseOptions()` is extended:
 *   direct_io        every read(2) becomes one FUSE read of the application's size (<= max_read),
 *                    so the kernel's page cache and readahead stay out of the way: ours do the work
 *   max_read=131072  128 KiB requests
 *   default_permissions  the kernel checks modes, owners and groups (also for allow_other)
 *   use_ino          st_ino is our inode number (hard links share it: find -samefile, du, tar)
 *   attr_timeout=0   libfuse 2's high-level API gives each NAME its own kernel inode, so the
 *                    other name of a hard link would show cached attributes (nlink, size,
 *                    mode) for up to a second: attributes are asked for every time instead
 *   allow_other      only with --allow-other: other users may use the mount
 *   ro               only for a read-only mount: the kernel refuses writes with EROFS
 *   fsname=<store>   the mount's source, as df, findmnt and /proc/mounts show it (the store
 *                    directory; `aheadfs` when there is none); commas and backslashes escaped
 *   subtype=aheadfs  the mount shows as fuse.aheadfs
 * fuse-native also turns on libfuse's `debug` whenever $DEBUG contains '*'; that floods the
 * log, so it is removed unless asked for (`--fuse-debug`).
 */

import Fuse from 'fuse-native';
import { errnoOf } from './errno.js';
import { statArray } from './stat.js';

export const MAX_READ = 131072;
export const FS_NAME = 'aheadfs';

export interface AheadFuseOptions {
  /** libfuse's own request trace (very verbose). */
  fuseDebug: boolean;
  /** Let other users than the mounting one use the mount (default_permissions checks modes). */
  allowOther?: boolean;
  /** The mount's source (fsname): the store directory. Default `aheadfs`. */
  fsname?: string;
  /** Mount read-only (`ro`): the kernel answers every write with EROFS. */
  readOnly?: boolean;
  /** Kernel mount flags libfuse applies (nosuid, nodev, noexec, noatime, ...), from `-o`. */
  kernelFlags?: readonly string[];
}

/** libfuse splits options at commas and takes a backslash as an escape: keep a path whole. */
export function escapeFuseOption(value: string): string {
  return value.replace(/[\\,]/g, (c) => `\\${c}`);
}

/** Options every aheadfs mount gets (see the overview). */
const FIXED_OPTIONS = ['default_permissions', `subtype=${FS_NAME}`, 'direct_io', `max_read=${MAX_READ}`, 'use_ino', 'attr_timeout=0'];

export class AheadFuse extends Fuse {
  private readonly fuseDebug: boolean;
  private readonly fsname: string;
  private readonly readOnly: boolean;
  private readonly kernelFlags: readonly string[];

  constructor(mountpoint: string, ops: Fuse.Operations, { fuseDebug, allowOther = false, fsname = FS_NAME, readOnly = false, kernelFlags = [] }: AheadFuseOptions) {
    super(mountpoint, ops, {
      // No per-op timer: a slow device must not turn into ETIMEDOUT, and it saves a
      // setTimeout per request on the hot path.
      timeout: false,
      defaultPermissions: true,
      maxRead: MAX_READ,
      subtype: FS_NAME,
      debug: fuseDebug,
      allowOther,
      useIno: true,
    });
    this.fuseDebug = fuseDebug;
    this.fsname = fsname;
    this.readOnly = readOnly;
    this.kernelFlags = kernelFlags;
  }

  /** The option string handed to libfuse (for the log). */
  optionString(): string {
    return this._fuseOptions();
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    const opts = base.startsWith('-o') ? base.slice(2).split(',').filter((o) => o !== '') : [];
    const out = opts.filter((o) => (o !== 'debug' || this.fuseDebug) && !o.startsWith('fsname='));
    out.push(`fsname=${escapeFuseOption(this.fsname)}`);
    if (this.readOnly) out.push('ro');
    for (const f of this.kernelFlags) if (!out.includes(f)) out.push(f);
    for (const o of FIXED_OPTIONS) {
      if (!out.includes(o)) out.push(o);
    }
    if (this.fuseDebug && !out.includes('debug')) out.push('debug');
    return '-o' + out.join(',');
  }

  /** fuse-native sends fgetattr to ops.getattr without the handle; answer from the handle. */
  protected override _op_fgetattr(signal: Fuse.Signal, path: string, fd: number): void {
    const fgetattr = this.ops.fgetattr;
    if (!fgetattr) {
      signal(errnoOf('ENOSYS')); // not reached: makeOperations always provides fgetattr
      return;
    }
    fgetattr(path, fd, (err, stat) => {
      if (err || !stat) signal(err || errnoOf('EIO'), statArray({ mode: 0, uid: 0, gid: 0, size: 0, nlink: 1, atime: 0, mtime: 0, ctime: 0 }));
      else signal(0, statArray(stat));
    });
  }
}
