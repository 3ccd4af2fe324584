/**
 * A file's extent map: file blocks -> device blocks, as sorted, non-overlapping extents.
 *
 *   file blocks   0        8        12  14          20
 *                 [== e0 ==]        [e1]            [==== e2 ====]
 *   device        500..507          900..901        1000..1005
 *                 |<- mapped ->|hole|<- mapped ->|   hole   |<- mapped ->|
 *
 * Extents are merged when they touch in the file AND on the device, so a file written
 * sequentially into contiguous blocks is one extent. `map` answers "where do file
 * blocks [b, b+n) live", holes included, which is what the read path needs to build one
 * bio per contiguous device run. `punch` removes a range (truncate, overwrite-by-attach)
 * and returns the device runs it released.
 *
 * Each mutation returns the records to change in the LMDB extents db (key
 * [ino, fileBlock], value [devBlock, len]), in order; meta.ts puts them in the same
 * transaction as the rest of the operation.
 */

/** One extent: `len` file blocks from `fileBlock` live at device blocks from `devBlock`. */
export interface Extent {
  fileBlock: number;
  devBlock: number;
  len: number;
}

/** A piece of a mapped range: `devBlock` undefined is a hole (reads as zeros). */
export interface BlockMapping {
  fileBlock: number;
  devBlock: number | undefined;
  len: number;
}

export type ExtentChange = { kind: 'put'; ext: Extent } | { kind: 'del'; fileBlock: number };

/** Invariant: exts sorted by fileBlock, exts[i].fileBlock + exts[i].len <= exts[i+1].fileBlock. */
export class ExtentMap {
  private readonly exts: Extent[] = [];
  /** Mapped blocks (sum of len). */
  blocks = 0;

  /** Build from stored extents (any order). */
  static from(exts: Iterable<Extent>): ExtentMap {
    const m = new ExtentMap();
    for (const e of exts) m.exts.push({ ...e });
    m.exts.sort((a, b) => a.fileBlock - b.fileBlock);
    for (const e of m.exts) m.blocks += e.len;
    return m;
  }

  get count(): number {
    return this.exts.length;
  }

  /** Extents in file order (copies). */
  toArray(): Extent[] {
    return this.exts.map((e) => ({ ...e }));
  }

  /** Index of the last extent with fileBlock <= block, or -1. */
  private floor(block: number): number {
    let lo = 0;
    let hi = this.exts.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.exts[mid]!.fileBlock <= block) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }

  /**
   * Cover [fileBlock, fileBlock+count) exactly, in order, holes included; neighbouring
   * pieces contiguous on the device are merged.
   */
  map(fileBlock: number, count: number): BlockMapping[] {
    const out: BlockMapping[] = [];
    const end = fileBlock + count;
    const push = (fb: number, dev: number | undefined, len: number): void => {
      const last = out[out.length - 1];
      if (last && (dev === undefined ? last.devBlock === undefined : last.devBlock !== undefined && last.devBlock + last.len === dev)) {
        last.len += len;
      } else {
        out.push({ fileBlock: fb, devBlock: dev, len });
      }
    };
    let pos = fileBlock;
    let i = this.floor(fileBlock);
    if (i < 0 || this.exts[i]!.fileBlock + this.exts[i]!.len <= fileBlock) i += 1;
    while (pos < end) {
      const e = this.exts[i];
      if (!e || e.fileBlock >= end) {
        push(pos, undefined, end - pos);
        break;
      }
      if (e.fileBlock > pos) {
        push(pos, undefined, e.fileBlock - pos);
        pos = e.fileBlock;
      }
      const stop = Math.min(end, e.fileBlock + e.len);
      push(pos, e.devBlock + (pos - e.fileBlock), stop - pos);
      pos = stop;
      i += 1;
    }
    return out;
  }

  /**
   * The device block that would continue the file at `fileBlock` (the allocation goal):
   * after the nearest extent before it, else before the nearest extent after it.
   */
  goalFor(fileBlock: number): number | undefined {
    const i = this.floor(fileBlock);
    if (i >= 0) {
      const e = this.exts[i]!;
      return e.devBlock + (fileBlock - e.fileBlock);
    }
    const next = this.exts[0];
    if (next && next.devBlock - (next.fileBlock - fileBlock) >= 0) return next.devBlock - (next.fileBlock - fileBlock);
    return undefined;
  }

  /**
   * Remove every mapping of [from, to) (to may be Infinity), trimming extents that
   * straddle the edges. Returns the device runs released and the records to change.
   */
  punch(from: number, to: number): { freed: Extent[]; changes: ExtentChange[] } {
    const freed: Extent[] = [];
    const changes: ExtentChange[] = [];
    let i = this.floor(from);
    if (i < 0) i = 0;
    while (i < this.exts.length) {
      const e = this.exts[i]!;
      const eEnd = e.fileBlock + e.len;
      if (e.fileBlock >= to) break;
      if (eEnd <= from) {
        i += 1;
        continue;
      }
      const cutStart = Math.max(from, e.fileBlock);
      const cutEnd = Math.min(to, eEnd);
      freed.push({ fileBlock: cutStart, devBlock: e.devBlock + (cutStart - e.fileBlock), len: cutEnd - cutStart });
      this.blocks -= cutEnd - cutStart;
      const head: Extent | undefined = cutStart > e.fileBlock ? { fileBlock: e.fileBlock, devBlock: e.devBlock, len: cutStart - e.fileBlock } : undefined;
      const tail: Extent | undefined =
        cutEnd < eEnd ? { fileBlock: cutEnd, devBlock: e.devBlock + (cutEnd - e.fileBlock), len: eEnd - cutEnd } : undefined;
      const repl: Extent[] = [];
      if (head) {
        repl.push(head);
        changes.push({ kind: 'put', ext: { ...head } }); // same key: overwrites e
      } else {
        changes.push({ kind: 'del', fileBlock: e.fileBlock });
      }
      if (tail) {
        repl.push(tail);
        changes.push({ kind: 'put', ext: { ...tail } });
      }
      this.exts.splice(i, 1, ...repl);
      i += repl.length;
    }
    return { freed, changes };
  }

  /**
   * Map [ext.fileBlock, +len) to ext.devBlock..; the range must be a hole (punch first).
   * Merges with the extents before/after when contiguous in the file and on the device.
   */
  insert(ext: Extent): ExtentChange[] {
    const changes: ExtentChange[] = [];
    const i = this.floor(ext.fileBlock); // extent before (or -1)
    const prev = i >= 0 ? this.exts[i] : undefined;
    const next = this.exts[i + 1];
    if (prev && prev.fileBlock + prev.len > ext.fileBlock) throw new Error(`extent map: ${ext.fileBlock}+${ext.len} overlaps a mapping`);
    if (next && ext.fileBlock + ext.len > next.fileBlock) throw new Error(`extent map: ${ext.fileBlock}+${ext.len} overlaps a mapping`);
    const joinPrev = prev !== undefined && prev.fileBlock + prev.len === ext.fileBlock && prev.devBlock + prev.len === ext.devBlock;
    const joinNext = next !== undefined && ext.fileBlock + ext.len === next.fileBlock && ext.devBlock + ext.len === next.devBlock;
    if (joinPrev && joinNext) {
      prev.len += ext.len + next.len;
      this.exts.splice(i + 1, 1);
      changes.push({ kind: 'del', fileBlock: next.fileBlock }, { kind: 'put', ext: { ...prev } });
    } else if (joinPrev) {
      prev.len += ext.len;
      changes.push({ kind: 'put', ext: { ...prev } });
    } else if (joinNext) {
      changes.push({ kind: 'del', fileBlock: next.fileBlock });
      next.fileBlock = ext.fileBlock;
      next.devBlock = ext.devBlock;
      next.len += ext.len;
      changes.push({ kind: 'put', ext: { ...next } });
    } else {
      const e = { ...ext };
      this.exts.splice(i + 1, 0, e);
      changes.push({ kind: 'put', ext: { ...e } });
    }
    this.blocks += ext.len;
    return changes;
  }
}
