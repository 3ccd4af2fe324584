/**
 * The index of a page cache (the kernel's i_pages is an XArray, lib/xarray.c of Linux 6.18):
 * page index -> entry, in nodes of XA_CHUNK_SIZE = 64 consecutive slots.
 *
 *   top: Map<node number, Node>        node number = floor(index / 64)
 *   Node { count, slots[64] }          slots[index % 64]
 *   last: the node of the last lookup  (sequential lookups skip the Map)
 *
 * Why not one Map<index, entry>: a 64 MiB file is 16384 indexes, a hash table far larger
 * than the CPU caches, so each cached read paid a cache miss or two just to find its folio.
 * Here neighbouring indexes share a node (one array), the top Map has 64x fewer entries,
 * and a read that looks up the index after the previous one finds the node without a
 * hash at all, as the kernel's xa_state walk stays in its node.
 *
 * The part of the Map interface the page cache uses (get, set, delete, has, size, keys,
 * values, entries, iteration). Iteration visits nodes in the order they were created and
 * the slots of a node in index order; like a Map, removing entries while iterating is
 * safe (removed ones are not visited).
 *
 * Invariants: a node is in `top` iff its count > 0; count = the defined slots of the node;
 * size = the sum of the counts; `last` is undefined or a node in `top` with number lastNr.
 */

/** XA_CHUNK_SHIFT of a 64-bit kernel: nodes of 64 slots. */
const XA_CHUNK_SHIFT = 6;
const XA_CHUNK_SIZE = 1 << XA_CHUNK_SHIFT;

class XaNode<T> {
  count = 0;
  readonly slots: (T | undefined)[] = new Array<T | undefined>(XA_CHUNK_SIZE).fill(undefined);
}

export class XArray<T> {
  private readonly top = new Map<number, XaNode<T>>();
  private lastNr = -1;
  private last: XaNode<T> | undefined = undefined;
  private count = 0;

  /** Entries present. */
  get size(): number {
    return this.count;
  }

  private node(nr: number): XaNode<T> | undefined {
    if (nr === this.lastNr) return this.last;
    const n = this.top.get(nr);
    if (n !== undefined) {
      this.lastNr = nr;
      this.last = n;
    }
    return n;
  }

  /** xa_load. `index` is a non-negative safe integer. */
  get(index: number): T | undefined {
    const n = this.node(Math.floor(index / XA_CHUNK_SIZE));
    return n === undefined ? undefined : n.slots[index % XA_CHUNK_SIZE];
  }

  has(index: number): boolean {
    return this.get(index) !== undefined;
  }

  /** xa_store (an `undefined` value is a delete). */
  set(index: number, value: T | undefined): this {
    if (value === undefined) {
      this.delete(index);
      return this;
    }
    const nr = Math.floor(index / XA_CHUNK_SIZE);
    let n = this.node(nr);
    if (n === undefined) {
      n = new XaNode<T>();
      this.top.set(nr, n);
      this.lastNr = nr;
      this.last = n;
    }
    const slot = index % XA_CHUNK_SIZE;
    if (n.slots[slot] === undefined) {
      n.count++;
      this.count++;
    }
    n.slots[slot] = value;
    return this;
  }

  /** xa_erase; true when there was an entry. A node left empty is freed. */
  delete(index: number): boolean {
    const nr = Math.floor(index / XA_CHUNK_SIZE);
    const n = this.node(nr);
    if (n === undefined) return false;
    const slot = index % XA_CHUNK_SIZE;
    if (n.slots[slot] === undefined) return false;
    n.slots[slot] = undefined;
    this.count--;
    if (--n.count === 0) {
      this.top.delete(nr);
      if (this.lastNr === nr) {
        this.lastNr = -1;
        this.last = undefined;
      }
    }
    return true;
  }

  clear(): void {
    this.top.clear();
    this.lastNr = -1;
    this.last = undefined;
    this.count = 0;
  }

  *entries(): IterableIterator<[number, T]> {
    for (const [nr, n] of this.top) {
      const base = nr * XA_CHUNK_SIZE;
      for (let i = 0; i < XA_CHUNK_SIZE; i++) {
        const v = n.slots[i];
        if (v !== undefined) yield [base + i, v];
      }
    }
  }

  *keys(): IterableIterator<number> {
    for (const [index] of this.entries()) yield index;
  }

  *values(): IterableIterator<T> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[number, T]> {
    return this.entries();
  }
}
