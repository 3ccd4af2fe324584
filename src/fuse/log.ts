/**
 * The daemon's log, `<store>/aheadfs.log`: one timestamped line per event. Written
 * synchronously (mount, unmount and errors are rare; a line must survive a crash right
 * after it). When the daemon runs attached (`--foreground` typed by a user) lines are
 * echoed to stderr as well.
 *
 * Opened O_NOFOLLOW and 0600: the daemon runs as root, and a store prepared with
 * `aheadfs.log -> /root/victim` must not make it append to the victim (store-files.ts).
 */

import { closeSync, constants, openSync, readSync, statSync, writeSync } from 'node:fs';
import { STORE_FILE_MODE } from '../fs/store-files.js';

/** open(2) flags of the log: append, create, never through a symlink. */
export const LOG_OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

export interface DaemonLog {
  (msg: string): void;
  close(): void;
}

export function openLog(path: string, { echo }: { echo: boolean }): DaemonLog {
  const fd = openSync(path, LOG_OPEN_FLAGS, STORE_FILE_MODE);
  let open = true;
  const log = ((msg: string): void => {
    const line = `${new Date().toISOString()} [${process.pid}] ${msg}\n`;
    if (open) {
      try {
        writeSync(fd, line);
      } catch {
        // A full disk must not take the daemon down; the line is lost.
      }
    }
    if (echo) process.stderr.write(line);
  }) as DaemonLog;
  log.close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return log;
}

/** Our own lines begin with an ISO time; anything else in the log is a child's stderr (libfuse's). */
const OWN_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[\d+\] /;

/**
 * libfuse's own words among log text: the daemon's stderr is the log, so what libfuse
 * prints when a mount fails (`fuse: mountpoint is not empty`, `fuse: device not found,
 * try 'modprobe fuse' first`, `fusermount: ...`) lands between our lines. Joined with
 * '; ', without the `fuse: ` prefix; '' when there is none.
 */
export function libfuseReason(text: string): string {
  return text
    .split('\n')
    // Indented lines continue one of ours (a stack trace); libfuse's start at the margin.
    .filter((l) => l.trim() !== '' && !OWN_LINE.test(l) && !/^\s/.test(l))
    .map((l) => l.trim().replace(/^fuse: /, ''))
    .join('; ');
}

/** The log's size now (where a later `logSince` starts); 0 if it cannot be read. */
export function logSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The log's text from byte `offset` on (at most 64 KiB); '' if it cannot be read. */
export function logSince(path: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    const buf = Buffer.alloc(65536);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8', 0, n);
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
