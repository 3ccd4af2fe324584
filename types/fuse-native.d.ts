/**
 * Type declarations for fuse-native 2.2.6 (CommonJS, `module.exports = Fuse`), covering only
 * what aheadfs uses. Import with `import Fuse from 'fuse-native'` (esModuleInterop).
 * These describe the package as patched by patches/fuse-native+2.2.6.patch (the caller's
 * context, both utimens times with UTIME_NOW/UTIME_OMIT, nanoseconds in stat, use_ino).
 *
 * Reply conventions (see node_modules/fuse-native/index.js):
 *   - errno values are NEGATIVE (`Fuse.ENOENT === -2`); 0 is success.
 *   - most callbacks: `cb(0, value)` or `cb(Fuse.EXXX)`.
 *   - read/write: `cb(n)` where n >= 0 is the byte count, or a negative errno.
 */
declare module 'fuse-native' {
  namespace Fuse {
    interface Stat {
      mode: number;
      uid: number;
      gid: number;
      size: number;
      dev?: number;
      nlink: number;
      ino?: number;
      rdev?: number;
      blksize?: number;
      blocks?: number;
      /** Milliseconds since the epoch (a fraction carries the nanoseconds), or a Date. */
      atime: number | Date;
      mtime: number | Date;
      ctime: number | Date;
    }

    interface StatFs {
      bsize: number;
      frsize: number;
      blocks: number;
      bfree: number;
      bavail: number;
      files: number;
      ffree: number;
      favail: number;
      fsid?: number;
      flag?: number;
      namemax: number;
    }

    /** A utimens time: milliseconds since the epoch (a fraction carries the nanoseconds), or UTIME_NOW / UTIME_OMIT. */
    type TimeArg = number | 'now' | 'omit';

    /** fuse_get_context() of the request being dispatched. */
    interface Context {
      uid: number;
      gid: number;
      pid: number;
      umask: number;
    }

    type DoneCallback = (err: number) => void;
    type ValueCallback<T> = (err: number, value?: T) => void;
    /** `n >= 0` bytes transferred, or a negative errno. */
    type CountCallback = (n: number) => void;

    interface Operations {
      init?(cb: DoneCallback): void;
      getattr?(path: string, cb: ValueCallback<Stat>): void;
      /** fuse-native routes fgetattr to `getattr`; its presence only marks the op implemented. */
      fgetattr?(path: string, fd: number, cb: ValueCallback<Stat>): void;
      readdir?(path: string, cb: (err: number, names?: string[], stats?: Stat[]) => void): void;
      access?(path: string, mode: number, cb: DoneCallback): void;
      statfs?(path: string, cb: ValueCallback<StatFs>): void;
      open?(path: string, flags: number, cb: ValueCallback<number>): void;
      create?(path: string, mode: number, cb: ValueCallback<number>): void;
      mknod?(path: string, mode: number, dev: number, cb: DoneCallback): void;
      read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: CountCallback): void;
      write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: CountCallback): void;
      flush?(path: string, fd: number, cb: DoneCallback): void;
      release?(path: string, fd: number, cb: DoneCallback): void;
      fsync?(path: string, datasync: number, fd: number, cb: DoneCallback): void;
      truncate?(path: string, size: number, cb: DoneCallback): void;
      ftruncate?(path: string, fd: number, size: number, cb: DoneCallback): void;
      unlink?(path: string, cb: DoneCallback): void;
      mkdir?(path: string, mode: number, cb: DoneCallback): void;
      rmdir?(path: string, cb: DoneCallback): void;
      rename?(src: string, dest: string, cb: DoneCallback): void;
      link?(src: string, dest: string, cb: DoneCallback): void;
      /** `target` is the link's content, `path` the new link (libfuse's from/to). */
      symlink?(target: string, path: string, cb: DoneCallback): void;
      readlink?(path: string, cb: ValueCallback<string>): void;
      chmod?(path: string, mode: number, cb: DoneCallback): void;
      chown?(path: string, uid: number, gid: number, cb: DoneCallback): void;
      /** Both times as utimensat(2) gives them (the patch: 2.2.6 passed the atime twice). */
      utimens?(path: string, atime: TimeArg, mtime: TimeArg, cb: DoneCallback): void;
    }

    interface Options {
      /** Per-op reply timeout in ms (default 15000), or false for none. */
      timeout?: number | false;
      debug?: boolean;
      force?: boolean;
      mkdir?: boolean;
      defaultPermissions?: boolean;
      maxRead?: number;
      fsname?: string;
      subtype?: string;
      allowOther?: boolean;
      /** The patch: libfuse's use_ino (st_ino from getattr is reported). */
      useIno?: boolean;
    }

    /** The signal a `_op_*` handler replies through: errno (or count) first. */
    type Signal = (err: number, ...values: unknown[]) => void;
  }

  class Fuse {
    constructor(mnt: string, ops: Fuse.Operations, opts?: Fuse.Options);
    readonly mnt: string;
    readonly ops: Fuse.Operations;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /** The option string given to libfuse, e.g. `-odefault_permissions,fsname=x` (or ''). */
    protected _fuseOptions(): string;
    /** Dispatch of FUSE fgetattr (index.js sends it to ops.getattr without the fd). */
    protected _op_fgetattr(signal: Fuse.Signal, path: string, fd: number): void;
    /**
     * The patch: the caller of the op being dispatched. The object is reused: read it
     * synchronously inside an op handler and copy what you keep.
     */
    getContext(): Fuse.Context;
    /** `fusermount -uz <mnt>`. */
    static unmount(mnt: string, cb: (err: Error | null) => void): void;

    static readonly EPERM: number;
    static readonly ENOENT: number;
    static readonly EIO: number;
    static readonly EBADF: number;
    static readonly EACCES: number;
    static readonly EEXIST: number;
    static readonly EINVAL: number;
    static readonly ENOSYS: number;
    static readonly ENOTCONN: number;
  }

  export = Fuse;
}
