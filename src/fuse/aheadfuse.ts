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
 *   fsname=aheadfs, subtype=aheadfs (the mount shows as fuse.aheadfs)
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
}

/** Options every aheadfs mount gets (see the overview). */
const FIXED_OPTIONS = ['default_permissions', `fsname=${FS_NAME}`, `subtype=${FS_NAME}`, 'direct_io', `max_read=${MAX_READ}`, 'use_ino', 'attr_timeout=0'];

export class AheadFuse extends Fuse {
  private readonly fuseDebug: boolean;

  constructor(mountpoint: string, ops: Fuse.Operations, { fuseDebug, allowOther = false }: AheadFuseOptions) {
    super(mountpoint, ops, {
      // No per-op timer: a slow device must not turn into ETIMEDOUT, and it saves a
      // setTimeout per request on the hot path.
      timeout: false,
      defaultPermissions: true,
      maxRead: MAX_READ,
      fsname: FS_NAME,
      subtype: FS_NAME,
      debug: fuseDebug,
      allowOther,
      useIno: true,
    });
    this.fuseDebug = fuseDebug;
  }

  /** The option string handed to libfuse (for the log). */
  optionString(): string {
    return this._fuseOptions();
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    const opts = base.startsWith('-o') ? base.slice(2).split(',').filter((o) => o !== '') : [];
    const out = opts.filter((o) => o !== 'debug' || this.fuseDebug);
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
