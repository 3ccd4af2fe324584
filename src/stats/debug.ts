/**
 * Developer logs with the `debug` package: one namespace per layer, switched on with
 * `DEBUG=aheadfs:*` (or `DEBUG=aheadfs:ra,aheadfs:block`). In the daemon they go to stderr,
 * which is the store's aheadfs.log. libfuse's own request trace stays off unless
 * `--fuse-debug` is given (src/fuse/aheadfuse.ts drops it from libfuse's mount options).
 *
 * Only slow paths log (a window decided, a device opened, a reclaim batch, a mount); the
 * cached read path never does. Callers on warm paths test `.enabled` before formatting.
 */

import createDebug from 'debug';

export const dbg = {
  ra: createDebug('aheadfs:ra'),
  mm: createDebug('aheadfs:mm'),
  block: createDebug('aheadfs:block'),
  fs: createDebug('aheadfs:fs'),
  vfs: createDebug('aheadfs:vfs'),
  fuse: createDebug('aheadfs:fuse'),
} as const;
