/**
 * The block device under the request queue: what queue.ts and the mount need of it, and
 * nothing more. Two implementations:
 *
 *   BlockFilesDevice (device.ts)   the store's blocks/*.blk, O_DIRECT       (default)
 *   NbdDevice        (nbd/device.ts) an NBD export over TCP                 (mkfs --device nbd://...)
 *
 * Fault injection (fault-inject.ts) and the request queue sit above this interface, so
 * they work the same on every device. Both devices count into the same `disk_*` counters.
 */

import type { QueueDevice } from './queue.js';

export interface DeviceLimits {
  /** Smallest unit the device addresses (bytes, power of two; 512 for block files). */
  logicalBlockSize: number;
  /** The size the device prefers (bytes; NBD's preferred block size). */
  physicalBlockSize: number;
  /** Largest transfer in one device command (bytes); the device splits larger requests itself. */
  maxTransferBytes: number;
}

export interface BlockDevice extends QueueDevice {
  /** Device size in 512-byte sectors. */
  readonly nrSectors: number;
  readonly limits: DeviceLimits;
  /**
   * false: the device cannot make completed writes durable on demand (an NBD server
   * without NBD_FLAG_SEND_FLUSH): flush() rejects with EIO, so fsync reports EIO.
   */
  readonly canFlush: boolean;
  /** For logs: `block files in /store/blocks (O_DIRECT)`, `nbd://127.0.0.1:10809/x`. */
  readonly description: string;
  /** Wait for I/O in progress, then release the device. Later I/O rejects with EIO. */
  close(): Promise<void>;
}
