/**
 * `-o` mount options, as mount(8), /etc/fstab and Debian's mount.fuse hand them to a
 * filesystem's program:
 *
 *   mount -t fuse.aheadfs /srv/store /mnt/a -o read_ahead_kb=1024,cache_size=512M
 *     -> /sbin/mount.fuse /srv/store /mnt/a -o rw,read_ahead_kb=1024,cache_size=512M -t fuse.aheadfs
 *     -> /bin/sh -c "'aheadfs' '/srv/store' '/mnt/a' '-o' 'rw,read_ahead_kb=1024,cache_size=512M,dev,suid'"
 *
 * Each aheadfs mount flag is an option with `_` for `-` (`read_ahead_kb=1024` is
 * `--read-ahead-kb 1024`, `allow_other` is `--allow-other`); `ro` / `rw` choose a
 * read-only mount; the kernel's own mount flags (nosuid, nodev, noexec, noatime, ...) go to
 * libfuse, which applies them; options meant for mount(8) or systemd (noauto, nofail,
 * _netdev, x-systemd.*, comment=...) are ignored, as mount helpers do. Anything else is
 * a UsageError naming it. Values are checked later by the flags' own parsers.
 */

import { UsageError } from '../errors.js';

/** The kernel's mount flags that libfuse 2 applies itself (lib/mount.c); `ro` and `rw` are ours. */
const KERNEL_FLAGS = new Set(['suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'async', 'sync', 'atime', 'noatime', 'dirsync']);

/** Options for mount(8), fstab and systemd that mean nothing to the filesystem. */
const IGNORED = new Set(['defaults', 'auto', 'noauto', 'user', 'nouser', 'users', 'owner', 'noowner', 'group', 'nogroup', '_netdev', 'nofail', 'relatime', 'norelatime', 'strictatime', 'lazytime', 'nolazytime', 'diratime', 'nodiratime', 'silent', 'loud']);
const IGNORED_PREFIXES = ['x-', 'comment=', 'helper=', 'uhelper='];

export interface MountOptionSpec {
  /** Flags that take a value (`cache-size`), by their long name. */
  valued: readonly string[];
  /** Boolean flags (`allow-other`). */
  switches: readonly string[];
}

export interface ParsedMountOptions {
  /** Flag name (long, with dashes) -> value as typed; `true` for a switch. */
  flags: Map<string, string | true>;
  /** Set when `ro` or `rw` was given (the last one wins). */
  readOnly: boolean | undefined;
  /** Kernel mount flags for libfuse, in the order given. */
  kernelFlags: string[];
}

/** Split at commas that are not escaped with a backslash. */
function splitOptions(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) cur += text[++i];
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.filter((o) => o !== '');
}

/** Parse one or more `-o` strings (later ones win). */
export function parseMountOptions(texts: readonly string[], spec: MountOptionSpec): ParsedMountOptions {
  const parsed: ParsedMountOptions = { flags: new Map(), readOnly: undefined, kernelFlags: [] };
  for (const opt of texts.flatMap(splitOptions)) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    if (opt === 'ro' || opt === 'rw') parsed.readOnly = opt === 'ro';
    else if (KERNEL_FLAGS.has(opt)) parsed.kernelFlags.push(opt);
    else if (IGNORED.has(opt) || IGNORED_PREFIXES.some((p) => opt.startsWith(p))) continue;
    else {
      const flag = key.replace(/_/g, '-');
      if (spec.valued.includes(flag)) {
        if (value === undefined || value === '') throw new UsageError(`-o ${key} needs a value (${key}=...)`);
        parsed.flags.set(flag, value);
      } else if (spec.switches.includes(flag)) {
        if (value !== undefined) throw new UsageError(`-o ${key} takes no value`);
        parsed.flags.set(flag, true);
      } else {
        throw new UsageError(`unknown mount option '${opt}' in -o (aheadfs mount --help lists the options; write read_ahead_kb=1024 for --read-ahead-kb 1024)`);
      }
    }
  }
  return parsed;
}
