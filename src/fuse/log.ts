/**
 * The daemon's log, `<store>/aheadfs.log`: one timestamped line per event. Written
 * synchronously (mount, unmount and errors are rare; a line must survive a crash right
 * after it). When the daemon runs attached (`--foreground` typed by a user) lines are
 * echoed to stderr as well.
 *
 * Opened O_NOFOLLOW and 0600: the daemon runs as root, and a store prepared with
 * `aheadfs.log -> /root/victim` must not make it append to the victim (store-files.ts).
 */

import { closeSync, constants, openSync, writeSync } from 'node:fs';
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
