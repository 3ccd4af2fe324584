/**
 * Aim a damage at LMDB's own pages in a data.mdb buffer (layout: src/fs/fsck/lmdb-header.ts).
 */

/** Page size and the root page of the free-page (0) or main (1) tree of the meta page LMDB picks. */
export function lmdbRoot(buf: Buffer, tree: 0 | 1): { ps: number; root: number } {
  const ps = buf.readUInt32LE(24 + 24);
  const txnid = (page: number): bigint => buf.readBigUInt64LE(page * ps + 24 + 128);
  const meta = txnid(0) >= txnid(1) ? 0 : ps;
  return { ps, root: Number(buf.readBigUInt64LE(meta + 24 + 24 + tree * 48 + 40)) };
}

/**
 * Write `pgno` as the first page number of the first free-list record in the free-page
 * tree's root page (a leaf in a small store), as a flipped bit there would.
 */
export function damageFreeList(buf: Buffer, pgno: bigint): void {
  const { ps, root } = lmdbRoot(buf, 0);
  const node = root * ps + 24 + buf.readUInt16LE(root * ps + 24);
  const data = node + 8 + buf.readUInt16LE(node + 6);
  buf.writeBigUInt64LE(pgno, data + 8);
}
