/**
 * What src/fuse needs from src/vfs: re-exported in one place so the adapter's imports
 * stay short.
 */

export type { ControlFiles, ControlSession, MountedFs, MountOptions } from '../vfs/index.js';
export { describeMountOptions, openFilesystem } from '../vfs/index.js';
import type { openFilesystem } from '../vfs/index.js';

export type OpenFilesystem = (...args: Parameters<typeof openFilesystem>) => Promise<import('../vfs/index.js').MountedFs>;
