/**
 * The write path of the page cache (generic_perform_write), in two modes:
 *
 * Writeback (the default; cache.wb set): per folio of [pos, pos + len), in index order:
 *
 *   write_begin (below), then balance_dirty_pages: dirtying this folio would pass the
 *     dirty limit -> unlock, wait for writeback progress, start over (page-writeback.ts)
 *   a folio over holes: delalloc reservation (ENOSPC now, not at writeback)
 *   copy, PG_uptodate, folioMarkDirty, extend i_size, unlock        write_end
 *
 * and reply: the flusher (fs-writeback.ts) or an fsync writes the folios back later.
 * A folio under writeback is written to without waiting (folio_wait_stable waits only
 * where the device needs stable pages; ours do not): it is dirty again, and written back
 * once more after its current writeback ends. Write-through waits (below).
 *
 * Write-through (--writeback off; cache.wb undefined), as before the writeback cache:
 *
 * filemapWrite, per folio of [pos, pos + len), in index order:
 *
 *   find the folio holding the page, or add an order-0 one; lock it (async)  write_begin
 *   partly written, not uptodate, within i_size -> read it, wait   (read-modify-write)
 *   partly written, not uptodate, past i_size   -> zero what the write does not cover
 *   copy, PG_uptodate | PG_dirty, extend i_size                     write_end
 *   ...
 *   aops.writepages(all locked dirty folios, index order)           write-through
 *   unlock: the folios end clean
 *
 * All pages of a request stay locked until writepages returns, so a reader never sees
 * half of a write. Pages are locked in ascending index order (the vfs lets one write of an
 * inode run at a time anyway).
 * If the cache is too small to hold a whole request locked, the pages held so far are
 * written through first (one writepages call per such chunk).
 *
 * On an error every page is unlocked; the pages of the chunk that failed are dropped from
 * the cache (dirty or not: a failed writepages commits none of the chunk's new blocks), and
 * an i_size extended by this write is cut back to what reached the device, so that the
 * cache never shows data the store does not have.
 */

import { fsError, toFsError } from '../errors.js';
import { folioTestUptodate, folioTestWriteback, type Folio } from './folio.js';
import { folioMarkAccessed } from './lru.js';
import { PAGE_SIZE, PG_dirty, PG_error, PG_raunread, PG_uptodate, PG_writeback } from './page.js';
import { filemapAddFolio, filemapGetFolio, filemapReadFolio, filemapRemoveFolio, filemapWaitForMemory, type AddressSpace } from './pagecache.js';
import { filemapWriteAndWait } from './fs-writeback.js';
import { balanceDirtyPages, delallocReserve, folioCancelDirty, folioMarkDirty, mappingSetError } from './page-writeback.js';
import { PG_delalloc } from './page.js';
import type { MmFile } from './types.js';
import { folioLockAsync, folioTrylock, folioUnlock, folioWaitBitAsync } from './wait.js';

/** folio_lock for async code: resolves once the caller holds the lock (no await if free). */
export function folioLock(folio: Folio): Promise<void> | undefined {
  if (folioTrylock(folio)) return undefined;
  return new Promise((resolve) => folioLockAsync(folio, resolve));
}

/** folio_wait_bit for async code: resolves once `bit` is clear (no await if it is). */
export function folioWaitBit(folio: Folio, bit: number): Promise<void> | undefined {
  if (!folio.has(bit)) return undefined;
  return new Promise((resolve) => folioWaitBitAsync(folio, bit, resolve));
}

/**
 * write_begin (grab_cache_page_write_begin + the read half): return the folio holding page
 * `index`, locked by the caller, in the mapping, ready to take the bytes of [pos, end) that
 * fall in it.
 *
 * @param flushHeld writes through (and unlocks) the folios this write already holds; called
 *   when no frame is free and our own locked folios may be what pins the cache.
 */
export async function writeBeginFolio(
  mapping: AddressSpace,
  index: number,
  pos: number,
  end: number,
  holding: () => boolean,
  flushHeld: () => Promise<void>,
): Promise<Folio> {
  const { cache } = mapping;
  for (;;) {
    let folio = filemapGetFolio(mapping, index);
    if (folio === undefined) {
      const added = filemapAddFolio(mapping, index, 0); // locked, not uptodate
      if (added.kind === 'exists') continue;
      if (added.kind === 'nomem') {
        if (holding()) {
          await flushHeld();
          continue;
        }
        const waited = await new Promise<boolean>((resolve) => {
          if (!filemapWaitForMemory(cache, () => resolve(true))) resolve(false);
        });
        if (waited) continue;
        // Writeback: nothing locked or under writeback to wait for, but the frames may be
        // dirty: write the inode dirtied longest ago back (WB_REASON_VMSCAN), look again.
        const oldest = cache.wb?.bDirty.values().next().value;
        if (oldest !== undefined) {
          await filemapWriteAndWait(oldest, 'vmscan');
          continue;
        }
        throw fsError('ENOMEM', `no page frame free for inode ${mapping.ino} page ${index}`);
      }
      folio = added.folio;
    } else {
      await folioLock(folio);
      // Truncated or reclaimed while we waited for the lock?
      if (folio.mapping !== mapping) {
        folioUnlock(folio);
        continue;
      }
      // folio_wait_stable, write-through: do not change data the device is reading for a
      // write. A writeback mount does not need stable pages: a page changed while its bio
      // reads it is dirty again and written once more (a crash in between finds that
      // page's old or new bytes, or a mix of them: all of this file).
      if (cache.wb === undefined) while (folioTestWriteback(folio)) await folioWaitBit(folio, PG_writeback);
    }

    const folioPos = folio.index * PAGE_SIZE;
    const folioEnd = folioPos + folio.data.byteLength;
    const from = Math.max(pos, folioPos) - folioPos;
    const to = Math.min(end, folioEnd) - folioPos;
    if (!folioTestUptodate(folio) && (from !== 0 || to !== folio.data.byteLength)) {
      const isize = mapping.host.size;
      if (folioPos < isize) {
        // Read-modify-write: bring in the bytes this write does not cover.
        filemapReadFolio(mapping, folio); // unlocks the folio when the read completes
        await folioLock(folio);
        if (folio.mapping !== mapping) {
          folioUnlock(folio); // truncated meanwhile: start over
          continue;
        }
        if (!folioTestUptodate(folio)) {
          folioUnlock(folio);
          throw fsError('EIO', `read error at page ${index} of inode ${mapping.ino} (read-modify-write)`);
        }
        // Bytes past i_size in this folio must read as zeros once the file grows over them.
        const eofInFolio = isize - folioPos;
        if (eofInFolio < folio.data.byteLength) folio.data.fill(0, eofInFolio);
      } else {
        // Wholly past EOF: nothing to read; zero what the write does not cover.
        folio.data.fill(0, 0, from);
        folio.data.fill(0, to);
      }
    }
    return folio;
  }
}

/**
 * Write buf[0, len) at `pos` through the page cache to the device (write-through). Resolves
 * with the bytes written (len, or fewer if a later chunk failed after earlier ones were
 * written); rejects with an FsError if nothing was written.
 *
 * Context: the vfs serializes writes and truncates of one inode (InodeLocks, i_rwsem).
 */
export async function filemapWrite(mapping: AddressSpace, file: MmFile, buf: Uint8Array, pos: number, len: number): Promise<number> {
  void file; // the write path keeps no per-open state (no readahead for writes)
  if (!Number.isSafeInteger(pos) || pos < 0 || !Number.isSafeInteger(len) || len < 0 || len > buf.length) {
    throw fsError('EINVAL', `write of ${len} bytes at ${pos} from a ${buf.length}-byte buffer`);
  }
  if (len === 0) return 0;
  if (mapping.cache.wb !== undefined) return filemapWriteDirty(mapping, buf, pos, len);
  const host = mapping.host;
  const end = pos + len;
  const oldSize = host.size;
  /** Locked folios holding copied bytes not yet written through, index order. */
  const held: Folio[] = [];
  let pending = 0; // bytes copied into `held`
  let written = 0; // bytes written through

  const writeThrough = async (): Promise<void> => {
    if (held.length === 0) return;
    await mapping.aops.writepages(mapping, held);
    for (const folio of held) folioUnlock(folio);
    held.length = 0;
    written += pending;
    pending = 0;
  };

  try {
    let cur = pos;
    while (cur < end) {
      const index = Math.floor(cur / PAGE_SIZE);
      const folio = await writeBeginFolio(mapping, index, pos, end, () => held.length > 0, writeThrough);
      held.push(folio);

      // write_end: copy, mark uptodate and dirty, extend i_size.
      const folioPos = folio.index * PAGE_SIZE;
      const stop = Math.min(end, folioPos + folio.data.byteLength);
      folio.data.set(buf.subarray(cur - pos, stop - pos), cur - folioPos);
      folio.clear(PG_error | PG_raunread); // overwritten: neither a readahead hit nor waste
      folio.set(PG_uptodate | PG_dirty);
      folioMarkAccessed(folio);
      pending += stop - cur;
      if (stop > host.size) host.size = stop;
      cur = stop;
    }
    await writeThrough();
    return written;
  } catch (err) {
    // Unlock everything, and drop every page of the failed chunk, not only those left
    // dirty: a page whose own bio completed may still be unreachable in the store (its
    // new block was unreserved when a sibling bio failed, or attachExtents failed), and
    // i_size is cut back below it. Re-reading from the device is always right.
    for (const folio of held) discardFailedFolio(folio);
    held.length = 0;
    // Cut an i_size this write extended back to the bytes that reached the device.
    if (host.size > oldSize && host.size <= end) host.size = Math.max(oldSize, pos + written);
    const error = toFsError(err, `write of ${len} bytes at ${pos} to inode ${mapping.ino}`);
    // mapping_set_error: a short write hides the error from write(2); fsync still reports it.
    if (error.code === 'EIO') mappingSetError(mapping, 'EIO');
    if (written > 0) return written;
    throw error;
  }
}

/**
 * generic_perform_write for a writeback mount: copy into folios, mark them dirty, reply.
 * Resolves with the bytes copied (fewer than len if a later folio failed, ENOSPC say);
 * rejects if none were.
 */
async function filemapWriteDirty(mapping: AddressSpace, buf: Uint8Array, pos: number, len: number): Promise<number> {
  const { cache, host } = mapping;
  const end = pos + len;
  let cur = pos;
  try {
    while (cur < end) {
      const index = Math.floor(cur / PAGE_SIZE);
      const folio = await writeBeginFolio(mapping, index, pos, end, () => false, async () => {});
      if (!folio.has(PG_dirty)) {
        const throttle = balanceDirtyPages(cache, folio.nrPages);
        if (throttle !== undefined) {
          folioUnlock(folio);
          await throttle;
          continue; // look the folio up again: it may be gone or split meanwhile
        }
      }
      let delalloc = folio.has(PG_delalloc);
      if (!delalloc && mapping.aops.delallocPages !== undefined && mapping.aops.delallocPages(mapping, folio) > 0) {
        try {
          delallocReserve(cache, folio.nrPages, mapping.aops.freeBlocks?.() ?? Infinity);
        } catch (err) {
          if (!folioTestUptodate(folio)) filemapRemoveFolio(folio); // nothing of it was written
          folioUnlock(folio);
          throw err;
        }
        delalloc = true;
      }
      // write_end: copy, uptodate, dirty, extend i_size.
      const folioPos = folio.index * PAGE_SIZE;
      const stop = Math.min(end, folioPos + folio.data.byteLength);
      folio.data.set(buf.subarray(cur - pos, stop - pos), cur - folioPos);
      folio.clear(PG_error | PG_raunread);
      folio.set(PG_uptodate);
      folioMarkDirty(folio, { delalloc });
      folioMarkAccessed(folio);
      if (stop > host.size) host.size = stop;
      folioUnlock(folio);
      cur = stop;
    }
    return len;
  } catch (err) {
    if (cur > pos) return cur - pos;
    throw toFsError(err, `write of ${len} bytes at ${pos} to inode ${mapping.ino}`);
  }
}

/** A locked folio whose write-through failed: out of the cache (re-read from the device), unlocked. */
export function discardFailedFolio(folio: Folio): void {
  folioCancelDirty(folio);
  folio.clear(PG_uptodate);
  if (!folioTestWriteback(folio)) filemapRemoveFolio(folio);
  folioUnlock(folio);
}
