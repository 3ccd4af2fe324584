/**
 * The two meta pages of `<store>/meta/data.mdb`, read with plain file reads (never mapped),
 * before anything lets LMDB map the file: LMDB trusts them, and a zeroed or flipped meta
 * page makes it read wild addresses (SIGSEGV) or pages past the end of the file (SIGBUS).
 *
 * Layout of the LMDB that lmdb-js 3.x bundles (mdb.c of its `mdb.master3` fork, 0.9.90,
 * 64-bit Linux; pgno_t, txnid_t and mdb_size_t are 8 bytes):
 *
 *   page 0 at offset 0, page 1 at offset pageSize, each:
 *     0  pgno u64 | 8 txnid u64 | 16 pad u16 | 18 flags u16 (P_META 0x08) | 20 lower/upper
 *     24 MDB_meta: magic u32 (0xBEEFC0DE) | version u32 (low 16 bits: MDB_DATA_VERSION 2)
 *                  | address u64 | mapsize u64
 *                  | dbs[0] free db, dbs[1] main db: 48 bytes each
 *                      pad u32 (dbs[0]: the page size) | flags u16 | depth u16
 *                      branch u64 | leaf u64 | overflow u64 | entries u64 | root u64
 *                  | last_pg u64 | txnid u64 | boot_id i64
 *   (lmdb-js' overlappingSync also keeps the last flushed meta at pageSize/2 in page 0.)
 *   The file may be shorter than last_pg (LMDB says so), never shorter than a root page.
 *
 * LMDB has no page checksums in this version: they exist only in its encrypted/remapped
 * mode (MDB_RPAGE_CACHE with a checksum function), which aheadfs does not use. So this
 * checks what can be checked: the P_META flag, the magic, the data version, a sane page
 * size equal in both pages, the last page inside the map, and the root page of both trees
 * inside the used pages and the file (or P_INVALID for an empty tree).
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export const MDB_MAGIC = 0xbeefc0de;
export const MDB_DATA_VERSION = 2;
const P_META = 0x08;
/** An empty tree's root (pgno_t)-1. */
const P_INVALID = 0xffff_ffff_ffff_ffffn;
const NUM_METAS = 2;
const PAGE_HEADER = 24;
const META_BYTES = 168;
const MIN_PAGE = 512;
const MAX_PAGE = 65536;
/** Deeper than any tree LMDB builds (its cursor stack is 32 pages). */
const MAX_DEPTH = 32;

/** The fields of one meta page this check reads. */
export interface LmdbMeta {
  page: number;
  flags: number;
  magic: number;
  version: number;
  mapSize: bigint;
  pageSize: number;
  lastPage: bigint;
  txnid: bigint;
  trees: { name: 'free' | 'main'; depth: number; root: bigint }[];
}

function readMeta(buf: Buffer, page: number): LmdbMeta {
  const m = PAGE_HEADER;
  const tree = (off: number, name: 'free' | 'main'): LmdbMeta['trees'][number] => ({
    name,
    depth: buf.readUInt16LE(off + 6),
    root: buf.readBigUInt64LE(off + 40),
  });
  return {
    page,
    flags: buf.readUInt16LE(18),
    magic: buf.readUInt32LE(m),
    version: buf.readUInt32LE(m + 4) & 0xffff,
    mapSize: buf.readBigUInt64LE(m + 16),
    pageSize: buf.readUInt32LE(m + 24),
    lastPage: buf.readBigUInt64LE(m + 120),
    txnid: buf.readBigUInt64LE(m + 128),
    trees: [tree(m + 24, 'free'), tree(m + 72, 'main')],
  };
}

/** What is wrong with one meta page, given the file's size (empty: nothing). */
function metaProblems(m: LmdbMeta, fileBytes: number): string[] {
  const where = `meta page ${m.page}`;
  if ((m.flags & P_META) === 0) return [`${where} is not a meta page (flags 0x${m.flags.toString(16)})`];
  if (m.magic !== MDB_MAGIC) return [`${where} has magic 0x${m.magic.toString(16)}, not 0x${MDB_MAGIC.toString(16)}`];
  if (m.version !== MDB_DATA_VERSION) return [`${where} has data version ${m.version}, not ${MDB_DATA_VERSION}`];
  const out: string[] = [];
  const ps = m.pageSize;
  if (ps < MIN_PAGE || ps > MAX_PAGE || (ps & (ps - 1)) !== 0) return [`${where} has page size ${ps}`];
  const filePages = BigInt(Math.floor(fileBytes / ps));
  // LMDB's own rule (mdb.c, MDB_meta.mm_last_pg): "the file may be shorter if the freeDB
  // lists the final pages", so the last page must lie inside the map, not the file; the
  // pages LMDB reads first (the roots) must lie inside the file.
  if (m.lastPage < BigInt(NUM_METAS - 1) || m.mapSize < BigInt(ps) * (m.lastPage + 1n)) {
    out.push(`${where}: last page ${m.lastPage} is outside the map (${m.mapSize} bytes)`);
  }
  for (const t of m.trees) {
    if (t.root === P_INVALID) continue;
    if (t.root < BigInt(NUM_METAS) || t.root > m.lastPage || t.root >= filePages) {
      out.push(`${where}: root page ${t.root} of the ${t.name} tree is outside pages ${NUM_METAS}..${m.lastPage}`);
    }
    if (t.depth === 0 || t.depth > MAX_DEPTH) out.push(`${where}: the ${t.name} tree has depth ${t.depth}`);
  }
  return out;
}

/**
 * Check the meta pages of an LMDB data file. Returns the problems found (empty: both
 * meta pages are sound). Never maps the file. Throws only if the file cannot be read.
 */
export function checkLmdbHeader(dataFile: string): string[] {
  const fd = openSync(dataFile, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(PAGE_HEADER + META_BYTES);
    if (readSync(fd, head, 0, head.length, 0) < head.length) return [`the file is ${size} bytes, too short for LMDB's meta pages`];
    const m0 = readMeta(head, 0);
    const p0 = metaProblems(m0, size);
    // Page 1 sits one page further: take the size from page 0 if it is sane, else the
    // usual 4096 (a zeroed page 0 must not hide a damaged page 1 from the report).
    const ps = p0.length === 0 || (m0.pageSize >= MIN_PAGE && m0.pageSize <= MAX_PAGE && (m0.pageSize & (m0.pageSize - 1)) === 0) ? m0.pageSize : 4096;
    const buf1 = Buffer.alloc(head.length);
    if (readSync(fd, buf1, 0, buf1.length, ps) < buf1.length) return [...p0, `the file is ${size} bytes, too short for meta page 1`];
    const m1 = readMeta(buf1, 1);
    const p1 = metaProblems(m1, size);
    const out = [...p0, ...p1];
    if (p0.length === 0 && p1.length === 0 && m0.pageSize !== m1.pageSize) {
      out.push(`the meta pages disagree on the page size (${m0.pageSize} and ${m1.pageSize})`);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
