/**
 * FUSE operations: a thin adapter from fuse-native's callbacks to the `Vfs`.
 *
 * Every handler does the same three things: call the vfs (or the control directory for
 * paths under /.aheadfs), reply, or turn the error into an errno in errno.ts. There is no
 * filesystem logic here. Replies follow fuse-native: `cb(0, value)` / `cb(-errno)`, and
 * `cb(n)` (bytes) for read and write.
 *
 * The caller of each request (uid, gid: fuse_get_context, through the patched
 * fuse-native) is read synchronously when the request arrives and handed to the vfs calls
 * whose outcome depends on who asks: creating (ownership), write, truncate and chmod
 * (set-id bits); a read hands the vfs the caller's pid for the trace lines. Not
 * available through fuse-native: the open flags of create (we pass O_CREAT|O_RDWR; the
 * kernel has already settled O_EXCL by its lookup).
 */

import { constants } from 'node:fs';
import type Fuse from 'fuse-native';
import type { Caller, Vfs } from '../vfs/types.js';
import { callerOf } from './caller.js';
import { ControlDir, isControlFh, isControlPath } from './control-dir.js';
import { errnoFromError, errnoOf } from './errno.js';
import { attrToStat, toFuseStatFs } from './stat.js';

type Log = (msg: string) => void;

const CREATE_FLAGS = constants.O_CREAT | constants.O_RDWR;
/** The name libfuse 2 (fuse.c hidden_name) gives an open file it is told to unlink. */
const HIDDEN_NAME = /\/\.fuse_hidden[0-9a-f]{16}$/;

export interface AdapterDeps {
  vfs: Vfs;
  control: ControlDir;
  log: Log;
  /**
   * The context of the request being dispatched (AheadFuse.getContext), read synchronously
   * at the start of a handler. Undefined: every request counts as the daemon's own user.
   */
  context?: () => Fuse.Context;
}

export function makeOperations({ vfs, control, log, context }: AdapterDeps): Fuse.Operations {
  const daemon: Caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const caller = (): Caller => (context ? callerOf(context()) : daemon);
  const fail = (op: string, err: unknown): number => errnoFromError(err, log, op);

  /** Run a vfs call that resolves to nothing; reply 0 or the errno. */
  function done(op: string, cb: Fuse.DoneCallback, call: () => Promise<void>): void {
    value<void, undefined>(op, (code: number) => cb(code), call, () => undefined);
  }

  /** Run a vfs call that resolves to a value; reply (0, value) or the errno. */
  function value<T, R>(op: string, cb: Fuse.ValueCallback<R>, call: () => Promise<T>, map: (v: T) => R): void {
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      cb(fail(op, err));
      return;
    }
    p.then(
      (v) => cb(0, map(v)),
      (err: unknown) => cb(fail(op, err)),
    );
  }

  /** Run a synchronous control-directory call. */
  function sync<R>(op: string, cb: Fuse.ValueCallback<R>, call: () => R): void {
    let r: R;
    try {
      r = call();
    } catch (err) {
      cb(fail(op, err));
      return;
    }
    cb(0, r);
  }

  /** Namespace changes are not allowed under /.aheadfs. */
  const controlDenied = (cb: Fuse.DoneCallback, ...paths: string[]): boolean => {
    if (!paths.some(isControlPath)) return false;
    cb(errnoOf('EACCES'));
    return true;
  };

  const id = <T>(v: T): T => v;

  return {
    init(cb) {
      cb(0);
    },

    getattr(path, cb) {
      if (isControlPath(path)) return sync('getattr', cb, () => control.getattr(path));
      value('getattr', cb, () => vfs.getattr(path), attrToStat);
    },

    // Never called by fuse-native itself (it sends fgetattr to getattr); AheadFuse's
    // _op_fgetattr override calls it so that fstat(2) is answered from the handle.
    fgetattr(path, fd, cb) {
      if (isControlFh(fd) || isControlPath(path)) return sync('fgetattr', cb, () => control.getattr(path));
      if (fd === 0) return value('getattr', cb, () => vfs.getattr(path), attrToStat);
      value('fgetattr', cb, () => vfs.fgetattr(fd), attrToStat);
    },

    readdir(path, cb) {
      const withDots = (names: string[]): string[] => (names.includes('.') ? names : ['.', '..', ...names]);
      if (isControlPath(path)) return sync('readdir', cb, () => withDots(control.readdir(path)));
      // With the inode number and type of each entry: readdir's d_ino and d_type (use_ino).
      vfs.readdir(path).then(
        (entries) =>
          cb(
            0,
            entries.map((e) => e.name),
            entries.map((e) => ({ ino: e.ino, mode: e.mode, uid: 0, gid: 0, size: 0, nlink: 1, atime: 0, mtime: 0, ctime: 0 })),
          ),
        (err: unknown) => cb(fail('readdir', err)),
      );
    },

    access(path, mode, cb) {
      if (isControlPath(path)) return sync('access', cb, () => void control.getattr(path));
      done('access', cb, () => vfs.access(path, mode));
    },

    statfs(_path, cb) {
      value('statfs', cb, () => vfs.statfs(), toFuseStatFs);
    },

    open(path, flags, cb) {
      if (isControlPath(path)) return sync('open', cb, () => control.open(path));
      const c = caller();
      value('open', cb, () => vfs.open(path, flags, c), id);
    },

    create(path, mode, cb) {
      if (isControlPath(path)) return cb(errnoOf('EACCES'));
      const c = caller();
      value('create', cb, () => vfs.create(path, mode, CREATE_FLAGS, c), id);
    },

    mknod(path, mode, dev, cb) {
      if (controlDenied(cb, path)) return;
      const c = caller();
      done('mknod', cb, () => vfs.mknod(path, mode, dev, c));
    },

    read(_path, fd, buf, len, pos, cb) {
      if (isControlFh(fd)) {
        try {
          cb(control.read(fd, buf, len, pos));
        } catch (err) {
          cb(fail('read', err));
        }
        return;
      }
      // Callback form: the cached path replies without a single await. `replied` guards
      // against a throw after `done` already ran (a double reply would corrupt libfuse).
      let replied = false;
      try {
        const pid = context ? context().pid : 0;
        vfs.read(
          fd,
          buf,
          len,
          pos,
          (err, n) => {
            replied = true;
            cb(err ? fail('read', err) : n);
          },
          pid,
        );
      } catch (err) {
        if (replied) log(`read: error thrown after the reply: ${String(err)}`);
        else cb(fail('read', err));
      }
    },

    write(_path, fd, buf, len, pos, cb) {
      if (isControlFh(fd)) {
        try {
          const n = control.write(fd, buf, len);
          if (typeof n === 'number') cb(n);
          else n.then(cb, (err: unknown) => cb(fail('write', err)));
        } catch (err) {
          cb(fail('write', err));
        }
        return;
      }
      let p: Promise<number>;
      try {
        p = vfs.write(fd, buf, len, pos, caller());
      } catch (err) {
        cb(fail('write', err));
        return;
      }
      p.then(cb, (err: unknown) => cb(fail('write', err)));
    },

    flush(_path, fd, cb) {
      if (isControlFh(fd)) return cb(0);
      done('flush', cb, () => vfs.flush(fd));
    },

    release(_path, fd, cb) {
      if (isControlFh(fd)) {
        control.release(fd);
        return cb(0);
      }
      done('release', cb, () => vfs.release(fd));
    },

    fsync(_path, datasync, fd, cb) {
      if (isControlFh(fd)) return cb(0);
      done('fsync', cb, () => vfs.fsync(fd, datasync !== 0));
    },

    truncate(path, size, cb) {
      if (isControlPath(path)) return sync('truncate', cb, () => control.truncate(path));
      const c = caller();
      done('truncate', cb, () => vfs.truncate(path, size, c));
    },

    ftruncate(path, fd, size, cb) {
      if (isControlFh(fd)) return sync('ftruncate', cb, () => control.truncate(path));
      const c = caller();
      done('ftruncate', cb, () => vfs.ftruncate(fd, size, c));
    },

    unlink(path, cb) {
      if (controlDenied(cb, path)) return;
      done('unlink', cb, () => vfs.unlink(path));
    },

    mkdir(path, mode, cb) {
      if (controlDenied(cb, path)) return;
      const c = caller();
      done('mkdir', cb, () => vfs.mkdir(path, mode, c));
    },

    rmdir(path, cb) {
      if (controlDenied(cb, path)) return;
      done('rmdir', cb, () => vfs.rmdir(path));
    },

    rename(src, dest, cb) {
      if (controlDenied(cb, src, dest)) return;
      // libfuse 2 turns the unlink of an open file into a rename to .fuse_hiddenXXXXXXXXXXXXXXXX
      // and unlinks that name at the last close. The vfs unlinks it now instead, with the
      // hidden path kept as an alias (fstat, fchmod use it): no .fuse_hidden file shows, a
      // directory that held it can be removed, and after a crash the orphan is freed at the
      // next mount. (hard_remove would do without the rename, but libfuse then has no path
      // for the inode and fstat of the open file fails with ENOENT.)
      if (HIDDEN_NAME.test(dest)) {
        done('rename', cb, async () => {
          if (!(await vfs.hide(src, dest))) await vfs.rename(src, dest);
        });
        return;
      }
      done('rename', cb, () => vfs.rename(src, dest));
    },

    link(src, dest, cb) {
      if (controlDenied(cb, src, dest)) return;
      done('link', cb, () => vfs.link(src, dest));
    },

    symlink(target, path, cb) {
      if (controlDenied(cb, path)) return;
      const c = caller();
      done('symlink', cb, () => vfs.symlink(target, path, c));
    },

    readlink(path, cb) {
      if (isControlPath(path)) return cb(errnoOf('EINVAL'));
      value('readlink', cb, () => vfs.readlink(path), id);
    },

    chmod(path, mode, cb) {
      if (controlDenied(cb, path)) return;
      const c = caller();
      done('chmod', cb, () => vfs.chmod(path, mode, c));
    },

    chown(path, uid, gid, cb) {
      if (controlDenied(cb, path)) return;
      done('chown', cb, () => vfs.chown(path, uid, gid));
    },

    utimens(path, atime, mtime, cb) {
      if (isControlPath(path)) return cb(0); // `touch` on a control file: nothing to record
      done('utimens', cb, () => vfs.utimens(path, atime, mtime));
    },
  };
}
