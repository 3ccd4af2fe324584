/**
 * The daemon's log, `<store>/aheadfs.log`: one timestamped line per event. Written
 * synchronously (mount, unmount and errors are rare; a line must survive a crash right
 * after it). When the daemon runs attached (`--foreground` typed by a user) lines are
 * echoed to stderr as well.
 */

import { closeSync, openSync, writeSync } from 'node:fs';

export interface DaemonLog {
  (msg: string): void;
  close(): void;
}

export function openLog(path: string, { echo }: { echo: boolean }): DaemonLog {
  const fd = openSync(path, 'a', 0o644);
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
