/**
 * Open the BlockDevice a store's superblock names: its block files (default) or an NBD
 * export. Mount-time failures (unreachable server, unknown export, an export smaller than
 * the store) are one-line Errors (exit 1 at mount).
 */

import { join } from 'node:path';
import type { Superblock } from '../fs/superblock.js';
import type { Stats } from '../stats/registry.js';
import type { BlockDevice } from './blockdev.js';
import { BlockFilesDevice } from './device.js';
import { NbdDevice } from './nbd/device.js';
import type { LayerLog } from '../stats/kmsg.js';

export interface NbdMountOptions {
  /** Connections to the export (1..16; more than 1 only if the server allows multi-conn). */
  connections: number;
  /** A command without a reply for this long kills its connection (ms). */
  timeoutMs: number;
  /** How long to reconnect after a lost connection before I/O fails with EIO (ms). */
  reconnectMs: number;
}

export const DEFAULT_NBD_OPTIONS: NbdMountOptions = { connections: 1, timeoutMs: 30_000, reconnectMs: 30_000 };

export async function openStoreDevice(
  store: string,
  sb: Superblock,
  opts: { stats: Stats; log: LayerLog; nbd?: NbdMountOptions; readOnly?: boolean },
): Promise<BlockDevice> {
  if (sb.device === 'files') {
    return BlockFilesDevice.open(join(store, 'blocks'), { blockFileSize: sb.blockFileSize, blockFileCount: sb.blockFileCount }, { stats: opts.stats, log: opts.log, readOnly: opts.readOnly === true });
  }
  const dev = await NbdDevice.open(sb.url, { stats: opts.stats, log: opts.log, ...(opts.nbd ?? DEFAULT_NBD_OPTIONS) });
  if (dev.info.sizeBytes < sb.sizeBytes) {
    await dev.close();
    throw new Error(`${sb.url}: the export holds ${dev.info.sizeBytes} bytes, less than the store's ${sb.sizeBytes}`);
  }
  const l = dev.limits;
  opts.log(
    `device ${sb.url}: ${dev.info.sizeBytes} bytes, ${dev.connectionCount} connection(s), block sizes ${l.logicalBlockSize}/${l.physicalBlockSize}/${l.maxTransferBytes}, ` +
      `flush ${dev.canFlush ? 'yes' : 'NO'} (negotiated with ${dev.info.via === 'go' ? 'NBD_OPT_GO' : 'NBD_OPT_EXPORT_NAME'})`,
    { level: 'info', subsystem: 'nbd' },
  );
  return dev;
}
