/**
 * Truncate (mm/truncate.c, Linux 6.18: truncate_inode_pages_range,
 * truncate_inode_partial_folio) and block_truncate_page.
 *
 *   new EOF                 v
 *   folios   [ 0 ][ 1 ][ 2 | 3 ][ 4..7           ][ 8 ]
 *            kept  kept  straddles: zero past EOF,  wholly past EOF: removed
 *                        split to order 0, pages
 *                        past EOF removed
 *
 * A large folio that straddles the new EOF is zeroed from EOF to its end and split into
 * order-0 folios (a uniform split: 6.18's try_folio_split makes a non-uniform one, keeping
 * larger pieces where it can; what stays cached is the same pages); the pieces wholly
 * past EOF are then removed like any other folio there. The 4.18 read path never creates
 * large folios, so there every folio is one page and this is truncate_inode_pages as before.
 */

import { fsError, toFsError } from '../errors.js';
import { folioTestUptodate, folioTestWriteback, type Folio } from './folio.js';
import { discardFailedFolio, folioLock, folioWaitBit, writeBeginFolio } from './filemap-write.js';
import { PAGE_SIZE, PG_dirty, PG_uptodate, PG_writeback } from './page.js';
import { folioCancelDirty, mappingSetError } from './page-writeback.js';
import { filemapGetFolio, filemapRemoveFolio, splitFolio, type AddressSpace } from './pagecache.js';
import { folioUnlock } from './wait.js';

/**
 * block_truncate_page: i_size was just cut to `from`, inside a page; zero the rest of the
 * folio holding it, [from, end of folio), and write it through, so that a later extension
 * of the file reads zeros there and never the old bytes. i_size is not touched (a write
 * would extend it): a reader meanwhile sees the new size and nothing past it.
 *
 * Context: the vfs holds the inode's lock and has set `host.size = from` first
 * (truncate_setsize); it calls this only when the block is mapped: a hole reads as zeros
 * already, and writing it would allocate a block (ENOSPC on a full store).
 */
export async function blockTruncatePage(mapping: AddressSpace, from: number): Promise<void> {
  const offset = from % PAGE_SIZE;
  if (!Number.isSafeInteger(from) || from < 0 || offset === 0) return;
  const index = Math.floor(from / PAGE_SIZE);
  // write_begin for bytes [from, end of page): reads the folio if needed (it is within
  // i_size) and zeroes what lies past i_size in it, which is all we write.
  const folio = await writeBeginFolio(mapping, index, from, (index + 1) * PAGE_SIZE, () => false, async () => {});
  // A writeback mount's write_begin does not wait for writeback; this write-through does.
  while (folioTestWriteback(folio)) await folioWaitBit(folio, PG_writeback);
  folio.data.fill(0, from - folio.index * PAGE_SIZE);
  folio.set(PG_uptodate | PG_dirty);
  try {
    await mapping.aops.writepages(mapping, [folio]);
  } catch (err) {
    discardFailedFolio(folio);
    if (toFsError(err).code === 'EIO') mappingSetError(mapping, 'EIO');
    throw toFsError(err, `zeroing the tail of page ${index} of inode ${mapping.ino} after a truncate`);
  }
  folioUnlock(folio);
}

/**
 * truncate_inode_pages: remove every folio wholly past `newSize`, split a large folio
 * that straddles it (truncate_inode_partial_folio), and zero the tail of the folio
 * holding the new last byte (which stays uptodate). Locked folios are waited for
 * (async); folios under writeback too.
 *
 * Context: the caller holds the inode's lock. A truncate has set `host.size = newSize`
 * first (so that no reader brings those pages back). Eviction of an inode (its last link
 * gone and its last handle released) calls truncateInodePages(mapping, 0) and then
 * cache.forgetMapping(ino): no reader is left to bring pages back.
 */
export async function truncateInodePages(mapping: AddressSpace, newSize: number): Promise<void> {
  if (!Number.isSafeInteger(newSize) || newSize < 0) throw fsError('EINVAL', `truncate to ${newSize}`);
  const start = Math.ceil(newSize / PAGE_SIZE); // first page wholly past EOF

  const victims = [...mapping.folios()].filter((f) => f.nextIndex > start).sort((a, b) => a.index - b.index);
  for (const folio of victims) {
    if (folio.mapping !== mapping) continue; // reclaimed meanwhile
    await folioLock(folio);
    // Reclaimed (or truncated by a concurrent truncate) while we waited?
    if (folio.mapping !== mapping) {
      folioUnlock(folio);
      continue;
    }
    while (folioTestWriteback(folio)) await folioWaitBit(folio, PG_writeback);
    if (folio.index >= start) {
      truncateInodeFolio(folio);
    } else {
      truncateInodePartialFolio(folio, newSize, start);
    }
    folioUnlock(folio); // waiters wake to folio.mapping === undefined (if removed) and look again
  }

  if (newSize % PAGE_SIZE !== 0) {
    const folio = filemapGetFolio(mapping, Math.floor(newSize / PAGE_SIZE));
    if (folio !== undefined) {
      await folioLock(folio);
      // Zero past EOF so that a later extension reads zeros, not the old bytes.
      if (folio.mapping === mapping && folioTestUptodate(folio)) folio.data.fill(0, newSize - folio.index * PAGE_SIZE);
      folioUnlock(folio);
    }
  }
}

/** truncate_inode_folio: a locked folio wholly past EOF leaves the cache. */
function truncateInodeFolio(folio: Folio): void {
  folioCancelDirty(folio); // the data is past EOF now: never written
  filemapRemoveFolio(folio);
}

/**
 * truncate_inode_partial_folio: a locked large folio with pages on both sides of the new
 * EOF. Zero it from EOF to its end, split it to order 0, and remove the pieces wholly past
 * EOF (fresh, unlocked folios nobody waits on). The first piece keeps the caller's lock.
 */
function truncateInodePartialFolio(folio: Folio, newSize: number, start: number): void {
  if (folioTestUptodate(folio)) folio.data.fill(0, newSize - folio.index * PAGE_SIZE);
  for (const piece of splitFolio(folio)) {
    if (piece.index < start) continue;
    truncateInodeFolio(piece);
  }
}
