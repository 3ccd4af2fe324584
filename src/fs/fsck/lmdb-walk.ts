/**
 * A structural walk of LMDB's B-trees in `meta/data.mdb` with plain file reads and bounds
 * checks on every field, like LMDB's own `mdb_page_get` would need but does not make:
 * LMDB maps the file and follows page numbers as they are, so a flipped bit in a branch
 * node or an overflow reference makes it read past the map (SIGSEGV) or the file
 * (SIGBUS), and a damaged page of its free-page tree is found only by the first write
 * transaction (the daemon then dies on its first write).
 *
 * Starting from the meta page LMDB would pick (the larger txnid; aheadfs does not use
 * MDB_PREVSNAPSHOT), it walks the free-page tree and the main tree with the named
 * databases below it (F_SUBDATA leaves), and checks, for every page: inside the file and
 * the used pages, its header's page number, a known page type, `lower <= upper <= page
 * size`, every node inside the page, branch children and overflow runs inside the used
 * pages, each page reached once; and every word of a free-list record a page number or
 * a run length within the used pages (the fork's own list format: midl.c).
 * Layout: lmdb-header.ts; the fork's mdb.c (0.9.90).
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const PAGE_HEADER = 24;
const NODE_HEADER = 8;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
const P_INVALID = 0xffff_ffff_ffff_ffffn;
const MAX_DEPTH = 32;
/** Problems reported at most (a wrecked file would otherwise print one per page). */
const MAX_PROBLEMS = 20;

interface Tree {
  name: string;
  root: bigint;
  /** The free-page tree: its records list free pages. */
  free?: boolean;
}

/** The meta page LMDB uses: the one with the larger txnid. Context: checkLmdbHeader passed. */
function pickMeta(fd: number): { pageSize: number; lastPage: bigint; trees: Tree[] } {
  const metas = [0, 1].map((i) => {
    const probe = Buffer.alloc(4);
    readSync(fd, probe, 0, 4, PAGE_HEADER + 24);
    const ps = probe.readUInt32LE(0);
    const b = Buffer.alloc(PAGE_HEADER + 168);
    readSync(fd, b, 0, b.length, i * ps);
    const m = PAGE_HEADER;
    return {
      pageSize: b.readUInt32LE(m + 24),
      lastPage: b.readBigUInt64LE(m + 120),
      txnid: b.readBigUInt64LE(m + 128),
      trees: [
        { name: 'free-page', root: b.readBigUInt64LE(m + 24 + 40), free: true },
        { name: 'main', root: b.readBigUInt64LE(m + 72 + 40) },
      ],
    };
  });
  return metas[0]!.txnid >= metas[1]!.txnid ? metas[0]! : metas[1]!;
}

/**
 * Walk the trees of an LMDB data file whose meta pages checkLmdbHeader found sound.
 * Returns the problems (empty: every reachable page is sound). Never maps the file.
 */
export function walkLmdb(dataFile: string): string[] {
  const fd = openSync(dataFile, 'r');
  try {
    const { pageSize: ps, lastPage, trees } = pickMeta(fd);
    const filePages = BigInt(Math.floor(fstatSync(fd).size / ps));
    const limit = lastPage < filePages ? lastPage : filePages - 1n;
    const problems: string[] = [];
    const bad = (msg: string): void => void (problems.length < MAX_PROBLEMS && problems.push(msg));
    const inUse = new Set<bigint>();
    const page = Buffer.alloc(ps);
    const inRange = (pgno: bigint): boolean => pgno >= 2n && pgno <= limit;

    const claim = (pgno: bigint, what: string): boolean => {
      if (!inRange(pgno)) {
        bad(`${what}: page ${pgno} is outside the used pages 2..${limit}`);
        return false;
      }
      if (inUse.has(pgno)) {
        bad(`${what}: page ${pgno} is reached twice`);
        return false;
      }
      inUse.add(pgno);
      return true;
    };

    const readData = (node: number, size: number, flags: number, what: string): Buffer | undefined => {
      if ((flags & F_BIGDATA) === 0) return page.subarray(node, node + size);
      const ov = page.readBigUInt64LE(node);
      const n = page.readBigUInt64LE(node + 16);
      const need = BigInt(Math.floor((PAGE_HEADER - 1 + size) / ps) + 1);
      if (n !== need) {
        bad(`${what}: overflow of ${size} bytes claims ${n} pages, not ${need}`);
        return undefined;
      }
      for (let k = 0n; k < n; k++) if (!claim(ov + k, `${what} overflow`)) return undefined;
      const buf = Buffer.alloc(PAGE_HEADER + size);
      readSync(fd, buf, 0, buf.length, Number(ov) * ps);
      if ((buf.readUInt16LE(18) & P_OVERFLOW) === 0 || buf.readBigUInt64LE(0) !== ov) {
        bad(`${what}: page ${ov} is not the overflow page its node points at`);
        return undefined;
      }
      return buf.subarray(PAGE_HEADER);
    };

    const walk = (tree: Tree, pgno: bigint, depth: number): void => {
      const what = `${tree.name} tree`;
      if (problems.length >= MAX_PROBLEMS) return;
      if (depth > MAX_DEPTH) return bad(`${what}: deeper than ${MAX_DEPTH} pages`);
      if (!claim(pgno, what)) return;
      readSync(fd, page, 0, ps, Number(pgno) * ps);
      const hdr = page.readBigUInt64LE(0);
      const flags = page.readUInt16LE(18);
      const lower = page.readUInt16LE(20);
      const upper = page.readUInt16LE(22);
      if (hdr !== pgno) return bad(`${what}: page ${pgno} says it is page ${hdr}`);
      const kind = flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_LEAF2);
      if (kind !== P_BRANCH && kind !== P_LEAF) return bad(`${what}: page ${pgno} has type 0x${flags.toString(16)}`);
      if (lower % 2 !== 0 || lower > upper || PAGE_HEADER + upper > ps) {
        return bad(`${what}: page ${pgno} has free space ${lower}..${upper} outside the page`);
      }
      const n = lower >> 1;
      if (n === 0 && kind === P_BRANCH) return bad(`${what}: branch page ${pgno} is empty`);
      const children: bigint[] = [];
      const subs: Tree[] = [];
      for (let i = 0; i < n; i++) {
        const node = PAGE_HEADER + page.readUInt16LE(PAGE_HEADER + 2 * i);
        if (node < PAGE_HEADER + upper || node + NODE_HEADER > ps) return bad(`${what}: page ${pgno} node ${i} at ${node} is outside the page`);
        const lo = page.readUInt16LE(node);
        const hi = page.readUInt16LE(node + 2);
        const nflags = page.readUInt16LE(node + 4);
        const ksize = page.readUInt16LE(node + 6);
        const keyEnd = node + NODE_HEADER + ksize;
        if (keyEnd > ps) return bad(`${what}: page ${pgno} node ${i} has a key past the page`);
        if (kind === P_BRANCH) {
          children.push(BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nflags) << 32n));
          continue;
        }
        const dsize = lo | (hi << 16);
        const inline = (nflags & F_BIGDATA) !== 0 ? 24 : dsize;
        if (keyEnd + inline > ps) return bad(`${what}: page ${pgno} node ${i} has data past the page`);
        if ((nflags & F_SUBDATA) !== 0 && (nflags & F_DUPDATA) === 0) {
          if (dsize !== 48) return bad(`${what}: page ${pgno} node ${i} is a database record of ${dsize} bytes`);
          const name = page.subarray(node + NODE_HEADER, keyEnd).toString('utf8').replace(/\0+$/, '');
          const root = page.readBigUInt64LE(keyEnd + 40);
          if (root !== P_INVALID) subs.push({ name: `database ${JSON.stringify(name)}`, root });
        } else if (tree.free === true) {
          const data = readData(keyEnd, dsize, nflags, what);
          if (data === undefined) return;
          if (data.length % 8 !== 0) return bad(`${what}: page ${pgno} node ${i} is not a list of page numbers`);
          // The fork's lists (midl.c): a length, then page numbers, 0 for a gap, -n before
          // the first page of a run of n. Every word is at most a page count.
          for (let k = 0; k < data.length; k += 8) {
            const w = data.readBigInt64LE(k);
            if ((w < 0n ? -w : w) > lastPage + 1n) return bad(`${what}: page ${pgno} node ${i} lists page ${w}, outside 2..${lastPage}`);
          }
        } else if ((nflags & F_BIGDATA) !== 0) {
          if (readData(keyEnd, dsize, nflags, what) === undefined) return;
        }
      }
      for (const c of children) walk(tree, c, depth + 1);
      for (const s of subs) walk(s, s.root, 1);
    };

    for (const t of trees) if (t.root !== P_INVALID) walk(t, t.root, 1);
    return problems;
  } finally {
    closeSync(fd);
  }
}
