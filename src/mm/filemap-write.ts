/**
 * The write path (generic_perform_write with write-through) and truncate
 * (truncate_inode_pages_range) of the page cache.
 *
 * filemapWrite, per page of [pos, pos + len), in index order:
 *
 *   find or allocate the page, lock it (async)                 grab_cache_page_write_begin
 *   partial page, not uptodate, within i_size -> readpage, wait  (read-modify-write)
 *   partial page, not uptodate, past i_size   -> zero what the write does not cover
 *   copy, PG_uptodate | PG_dirty, extend i_size                 write_end
 *   ...
 *   aops.writepages(all locked dirty pages, index order)        write-through
 *   unlock: the pages end clean
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

import { blkFinishPlug, blkStartPlug } from '../block/plug.js';
import { fsError, toFsError } from '../errors.js';
import { addToPageCacheLru, deleteFromPageCache, findGetPage, type AddressSpace } from './filemap.js';
import { markPageAccessed, pinBit } from './lru.js';
import { PAGE_SIZE, PG_dirty, PG_error, PG_raunread, PG_uptodate, PG_writeback, PageLocked, PageUptodate, PageWriteback, type Page } from './page.js';
import type { MmFile } from './types.js';
import { lockPageAsync, trylockPage, unlockPage, waitOnPageBitAsync } from './wait.js';

/** lock_page for async code: resolves once the caller holds the lock (no await if free). */
function lockPage(page: Page): Promise<void> | undefined {
  if (trylockPage(page)) return undefined;
  return new Promise((resolve) => lockPageAsync(page, resolve));
}

function waitOnPageBit(page: Page, bit: number): Promise<void> | undefined {
  if (!page.has(bit)) return undefined;
  return new Promise((resolve) => waitOnPageBitAsync(page, bit, resolve));
}

/**
 * grab_cache_page_write_begin + the read half of write_begin: return the page at `index`,
 * locked by the caller, in the mapping, ready to take bytes [from, to) of a write.
 *
 * @param flushHeld writes through (and unlocks) the pages this write already holds; called
 *   when no frame is free and our own locked pages may be what pins the cache.
 */
async function writeBeginPage(
  mapping: AddressSpace,
  index: number,
  from: number,
  to: number,
  holding: () => boolean,
  flushHeld: () => Promise<void>,
): Promise<Page> {
  const { cache } = mapping;
  for (;;) {
    let page = findGetPage(mapping, index);
    if (page === undefined) {
      page = addToPageCacheLru(mapping, index); // locked, not uptodate
      if (page === undefined) {
        if (mapping.pages.has(index)) continue;
        if (holding()) {
          await flushHeld();
          continue;
        }
        const pinned = cache.lruvec.findPinnedPage();
        if (pinned === undefined) throw fsError('ENOMEM', `no page frame free for inode ${mapping.ino} page ${index}`);
        await waitOnPageBit(pinned, pinBit(pinned));
        continue;
      }
    } else {
      await lockPage(page);
      // Truncated or reclaimed while we waited for the lock?
      if (page.mapping !== mapping) {
        unlockPage(page);
        continue;
      }
      // wait_for_stable_page: do not change data the device is reading for a write.
      while (PageWriteback(page)) await waitOnPageBit(page, PG_writeback);
    }

    if (!PageUptodate(page) && (from !== 0 || to !== PAGE_SIZE)) {
      const pageStart = index * PAGE_SIZE;
      const isize = mapping.host.size;
      if (pageStart < isize) {
        // Read-modify-write: bring in the bytes this write does not cover.
        page.clear(PG_error);
        cache.stats.c.readpage_ios++;
        const plug = blkStartPlug();
        try {
          mapping.aops.readpage(mapping, page); // unlocks the page when the read completes
        } catch {
          page.set(PG_error);
          if (PageLocked(page)) unlockPage(page);
        } finally {
          blkFinishPlug(plug);
        }
        await lockPage(page);
        if (page.mapping !== mapping) {
          unlockPage(page); // truncated meanwhile: start over
          continue;
        }
        if (!PageUptodate(page)) {
          unlockPage(page);
          throw fsError('EIO', `read error at page ${index} of inode ${mapping.ino} (read-modify-write)`);
        }
        // Bytes past i_size in this page must read as zeros once the file grows over them.
        const eofInPage = isize - pageStart;
        if (eofInPage < PAGE_SIZE) page.data.fill(0, eofInPage);
      } else {
        // Wholly past EOF: nothing to read; zero what the write does not cover.
        page.data.fill(0, 0, from);
        page.data.fill(0, to, PAGE_SIZE);
      }
    }
    return page;
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
  const host = mapping.host;
  const end = pos + len;
  const firstIndex = Math.floor(pos / PAGE_SIZE);
  const lastIndex = Math.floor((end - 1) / PAGE_SIZE);
  const oldSize = host.size;
  /** Locked pages holding copied bytes not yet written through, index order. */
  const held: Page[] = [];
  let pending = 0; // bytes copied into `held`
  let written = 0; // bytes written through

  const writeThrough = async (): Promise<void> => {
    if (held.length === 0) return;
    await mapping.aops.writepages(mapping, held);
    for (const page of held) unlockPage(page);
    held.length = 0;
    written += pending;
    pending = 0;
  };

  try {
    for (let index = firstIndex; index <= lastIndex; index++) {
      const from = index === firstIndex ? pos % PAGE_SIZE : 0;
      const to = index === lastIndex ? ((end - 1) % PAGE_SIZE) + 1 : PAGE_SIZE;
      const page = await writeBeginPage(mapping, index, from, to, () => held.length > 0, writeThrough);
      held.push(page);

      // write_end: copy, mark uptodate and dirty, extend i_size.
      const n = to - from;
      const srcOff = index * PAGE_SIZE + from - pos;
      page.data.set(buf.subarray(srcOff, srcOff + n), from);
      page.clear(PG_error | PG_raunread); // overwritten: neither a readahead hit nor waste
      page.set(PG_uptodate | PG_dirty);
      markPageAccessed(page);
      pending += n;
      const pageEnd = index * PAGE_SIZE + to;
      if (pageEnd > host.size) host.size = pageEnd;
    }
    await writeThrough();
    return written;
  } catch (err) {
    // Unlock everything, and drop every page of the failed chunk, not only those left
    // dirty: a page whose own bio completed may still be unreachable in the store (its
    // new block was unreserved when a sibling bio failed, or attachExtents failed), and
    // i_size is cut back below it. Re-reading from the device is always right.
    for (const page of held) discardFailedPage(page);
    held.length = 0;
    // Cut an i_size this write extended back to the bytes that reached the device.
    if (host.size > oldSize && host.size <= end) host.size = Math.max(oldSize, pos + written);
    const error = toFsError(err, `write of ${len} bytes at ${pos} to inode ${mapping.ino}`);
    // mapping_set_error: a short write hides the error from write(2); fsync still reports it.
    if (error.code === 'EIO') mapping.wbErr++;
    if (written > 0) return written;
    throw error;
  }
}

/** A locked page whose write-through failed: out of the cache (re-read from the device), unlocked. */
function discardFailedPage(page: Page): void {
  page.clear(PG_dirty | PG_uptodate);
  if (!PageWriteback(page)) deleteFromPageCache(page);
  unlockPage(page);
}

/**
 * block_truncate_page: i_size was just cut to `from`, inside a page; zero the rest of that
 * page, [from, end of page), and write it through, so that a later extension of the file
 * reads zeros there and never the old bytes. i_size is not touched (a write would extend
 * it to the end of the page): a reader meanwhile sees the new size and nothing past it.
 *
 * Context: the vfs holds the inode's lock and has set `host.size = from` first
 * (truncate_setsize); it calls this only when the block is mapped: a hole reads as zeros
 * already, and writing it would allocate a block (ENOSPC on a full store).
 */
export async function blockTruncatePage(mapping: AddressSpace, from: number): Promise<void> {
  const offset = from % PAGE_SIZE;
  if (!Number.isSafeInteger(from) || from < 0 || offset === 0) return;
  const index = Math.floor(from / PAGE_SIZE);
  // write_begin for bytes [offset, PAGE_SIZE): reads the page if needed (it is within i_size)
  // and zeroes what lies past i_size in it, which is all we write.
  const page = await writeBeginPage(mapping, index, offset, PAGE_SIZE, () => false, async () => {});
  page.data.fill(0, offset);
  page.set(PG_uptodate | PG_dirty);
  try {
    await mapping.aops.writepages(mapping, [page]);
  } catch (err) {
    discardFailedPage(page);
    if (toFsError(err).code === 'EIO') mapping.wbErr++; // mapping_set_error
    throw toFsError(err, `zeroing the tail of page ${index} of inode ${mapping.ino} after a truncate`);
  }
  unlockPage(page);
}

/**
 * truncate_inode_pages: drop every page wholly past `newSize`, and zero the tail of a
 * partial last page (which stays uptodate). Locked pages are waited for (async); pages
 * under writeback too.
 *
 * Context: the caller holds the inode's lock. A truncate has set `host.size = newSize`
 * first (so that no reader brings those pages back). Eviction of an inode (its last link
 * gone and its last handle released) calls truncateInodePages(mapping, 0) and then
 * cache.forgetMapping(ino): no reader is left to bring pages back.
 */
export async function truncateInodePages(mapping: AddressSpace, newSize: number): Promise<void> {
  if (!Number.isSafeInteger(newSize) || newSize < 0) throw fsError('EINVAL', `truncate to ${newSize}`);
  const start = Math.ceil(newSize / PAGE_SIZE); // first page wholly past EOF
  const partial = newSize % PAGE_SIZE;

  const victims = [...mapping.pages.values()].filter((p) => p.index >= start).sort((a, b) => a.index - b.index);
  for (const page of victims) {
    if (page.mapping !== mapping) continue; // reclaimed meanwhile
    await lockPage(page);
    // Reclaimed (or truncated by a concurrent truncate) while we waited?
    if (page.mapping !== mapping) {
      unlockPage(page);
      continue;
    }
    while (PageWriteback(page)) await waitOnPageBit(page, PG_writeback);
    page.clear(PG_dirty); // cancel_dirty_page: the data is past EOF now
    deleteFromPageCache(page); // waiters wake to page.mapping === undefined and look again
    unlockPage(page);
  }

  if (partial !== 0) {
    const page = findGetPage(mapping, Math.floor(newSize / PAGE_SIZE));
    if (page !== undefined) {
      await lockPage(page);
      // Zero past EOF so that a later extension reads zeros, not the old bytes.
      if (page.mapping === mapping && PageUptodate(page)) page.data.fill(0, partial);
      unlockPage(page);
    }
  }
}
