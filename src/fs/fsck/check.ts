/**
 * The metadata checker of `aheadfs fsck`: pure functions over the raw records of meta/
 * (as LMDB decoded them, trusted in nothing), the device size, and nothing else.
 *
 *   records ──> 1. shape: every key and value of the expected type and range
 *               2. misc: schema, device size, nextIno above every inode
 *               3. names: parent a directory, child present, name legal; a directory
 *                  has one name at most, the root none
 *               4. tree: what the root reaches (breadth first over the names)
 *               5. link counts: a directory 2 + its subdirectories, anything else its names;
 *                  nlink 0 with no name is an orphan (listed, not a problem: the next mount
 *                  frees it, as after a crash)
 *               6. extents: owner a regular file, inside the device, inside the file's size,
 *                  not overlapping in the file
 *               6b. device: an NBD export smaller than the store, extents past its end
 *               7. space: extents and free runs swept in device order: no block owned
 *                  twice, none owned by nobody (leaked), used + free = device blocks
 *
 * The same pass plans the repair (`RepairPlan`): the record changes that free what the
 * root does not reach, fix link counts, drop names and extents that cannot be served,
 * and rebuild the free list as the complement of the extents. Damaged inode records,
 * a missing root, another schema or device size are not repaired (the plan is refused:
 * guessing there would destroy data); blocks owned by two files stay a problem.
 *
 * Tolerant of what other versions add: unknown fields of an inode record and unknown misc
 * keys are ignored; every POSIX file type is accepted (a fifo or device has no extents).
 */

import { NAME_MAX, ROOT_INO, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../inode.js';
import { META_SCHEMA } from '../metadb.js';
import { BLOCK_SIZE } from '../superblock.js';

/** One record of a database, as LMDB decoded it. */
export interface RawRecord {
  key: unknown;
  value: unknown;
}

export interface RawMeta {
  inodes: RawRecord[];
  dirents: RawRecord[];
  extents: RawRecord[];
  free: RawRecord[];
  misc: RawRecord[];
}

export type DbName = keyof RawMeta;

export type ProblemKind = 'record' | 'misc' | 'root' | 'name' | 'nlink' | 'unreachable' | 'extent' | 'space' | 'device';

export interface Problem {
  kind: ProblemKind;
  message: string;
}

export interface Orphan {
  ino: number;
  blocks: number;
}

export interface Counts {
  inodes: number;
  directories: number;
  deviceBlocks: number;
  usedBlocks: number;
  freeBlocks: number;
}

export type RepairOp = { db: DbName; op: 'put'; key: unknown; value: unknown } | { db: DbName; op: 'del'; key: unknown };

/** What a repair would change: the record operations in order, and one line per fix. */
export interface RepairPlan {
  ops: RepairOp[];
  fixes: string[];
  /** Why no repair is possible (then ops is empty). */
  refused?: string;
}

export interface CheckResult {
  problems: Problem[];
  orphans: Orphan[];
  counts: Counts;
  plan: RepairPlan;
}

/** S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK beside the three aheadfs makes today. */
const KNOWN_TYPES = new Set([S_IFREG, S_IFDIR, S_IFLNK, 0o010000, 0o020000, 0o060000, 0o140000]);

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** A record's key or value in a message: JSON (one line), at most 80 characters. */
const show = (v: unknown): string => {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  text = text.replace(/\n/g, ' ');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

interface InodeRec {
  ino: number;
  mode: number;
  size: number;
  nlink: number;
  record: Record<string, unknown>;
}

interface Extent {
  ino: number;
  fileBlock: number;
  devBlock: number;
  len: number;
}

function typeName(mode: number): string {
  const t = mode & S_IFMT;
  return t === S_IFDIR ? 'directory' : t === S_IFREG ? 'file' : t === S_IFLNK ? 'symlink' : `type 0${t.toString(8)}`;
}

/** Why an inode record is unusable, or undefined. */
function badInode(key: unknown, value: unknown): string | undefined {
  if (!isUint(key) || key < 1) return `key ${show(key)} is not an inode number`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `value ${show(value)} is not an inode`;
  const v = value as Record<string, unknown>;
  for (const f of ['mode', 'uid', 'gid', 'size', 'nlink']) if (!isUint(v[f])) return `${f} ${show(v[f])} is not a whole number`;
  for (const f of ['atimeMs', 'mtimeMs', 'ctimeMs']) if (typeof v[f] !== 'number' || !Number.isFinite(v[f])) return `${f} ${show(v[f])} is not a time`;
  const mode = v.mode as number;
  if (!KNOWN_TYPES.has(mode & S_IFMT)) return `mode 0${mode.toString(8)} has no file type`;
  if ((mode & S_IFMT) === S_IFLNK) {
    if (typeof v.target !== 'string') return 'a symlink without a target';
    if (Buffer.byteLength(v.target, 'utf8') !== v.size) return `symlink size ${show(v.size)} but a target of ${Buffer.byteLength(v.target, 'utf8')} bytes`;
  }
  return undefined;
}

function badName(name: string): boolean {
  return name.length === 0 || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || Buffer.byteLength(name, 'utf8') > NAME_MAX;
}

/** Runs of [0, total) covered by none of the sorted, possibly overlapping intervals. */
function gaps(sorted: { start: number; len: number }[], total: number): { start: number; len: number }[] {
  const out: { start: number; len: number }[] = [];
  let pos = 0;
  for (const r of sorted) {
    if (r.start > pos) out.push({ start: pos, len: r.start - pos });
    pos = Math.max(pos, r.start + r.len);
  }
  if (pos < total) out.push({ start: pos, len: total - pos });
  return out;
}

const runText = (start: number, len: number): string => (len === 1 ? `block ${start}` : `blocks ${start}-${start + len - 1}`);

/**
 * Check the records of a store whose device has `deviceBlocks` 4 KiB blocks; plan the
 * repair at the same time. Pure: reads only its arguments. `exportBlocks`: whole blocks
 * the store's NBD export really holds (asked of the server by fsck), when known; an
 * export smaller than the store is a `device` problem, each extent past its end an
 * `extent` problem, and nothing is repaired (the data is not there to keep).
 */
export function checkMeta(raw: RawMeta, deviceBlocks: number, exportBlocks?: number): CheckResult {
  const problems: Problem[] = [];
  const problem = (kind: ProblemKind, message: string): void => void problems.push({ kind, message });
  const ops: RepairOp[] = [];
  const fixes: string[] = [];
  let refused: string | undefined;
  const refuse = (why: string): void => void (refused ??= why);

  // 1. Inodes.
  const inodes = new Map<number, InodeRec>();
  for (const { key, value } of raw.inodes) {
    const why = badInode(key, value);
    if (why !== undefined) {
      problem('record', `inode record ${show(key)}: ${why}`);
      refuse('an inode record is damaged');
      continue;
    }
    const v = value as Record<string, unknown>;
    inodes.set(key as number, { ino: key as number, mode: v.mode as number, size: v.size as number, nlink: v.nlink as number, record: v });
  }
  const isDirIno = (ino: number): boolean => ((inodes.get(ino)?.mode ?? 0) & S_IFMT) === S_IFDIR;
  const root = inodes.get(ROOT_INO);
  if (!root || !isDirIno(ROOT_INO)) {
    problem('root', root ? `the root (inode ${ROOT_INO}) is a ${typeName(root.mode)}, not a directory` : `there is no root directory (inode ${ROOT_INO})`);
    refuse('the root directory is missing');
  }

  // 2. Misc.
  const misc = new Map<unknown, unknown>(raw.misc.map((r) => [r.key, r.value]));
  if (misc.get('schema') !== META_SCHEMA) {
    problem('misc', `schema ${show(misc.get('schema'))}, expected ${META_SCHEMA}`);
    refuse('the schema is not this version');
  }
  if (misc.get('deviceBlocks') !== deviceBlocks) {
    problem('misc', `the metadata describes ${show(misc.get('deviceBlocks'))} blocks, the device has ${deviceBlocks}`);
    refuse('the metadata describes another device size');
  }
  const maxIno = Math.max(ROOT_INO, ...inodes.keys());
  const nextIno = misc.get('nextIno');
  if (!isUint(nextIno) || nextIno <= maxIno) {
    problem('misc', `nextIno ${show(nextIno)} is not above the largest inode ${maxIno}`);
    ops.push({ db: 'misc', op: 'put', key: 'nextIno', value: maxIno + 1 });
    fixes.push(`nextIno set to ${maxIno + 1}`);
  }

  // 3. Names: keep the servable ones; a directory keeps its first name only.
  const children = new Map<number, { name: string; ino: number; key: unknown }[]>();
  const dirNamed = new Set<number>();
  for (const { key, value } of raw.dirents) {
    const ok = Array.isArray(key) && key.length === 2 && isUint(key[0]) && typeof key[1] === 'string' && isUint(value);
    const dropName = (why: string): void => {
      problem('name', `name ${show(key)} -> ${show(value)}: ${why}`);
      ops.push({ db: 'dirents', op: 'del', key });
      fixes.push(`removed the name ${show(key)}`);
    };
    if (!ok) {
      dropName('not a [directory, name] -> inode record');
      continue;
    }
    const [parent, name] = key as [number, string];
    const ino = value as number;
    if (badName(name)) dropName('an illegal name');
    else if (!inodes.has(parent)) dropName(`directory ${parent} does not exist`);
    else if (!isDirIno(parent)) dropName(`inode ${parent} is a ${typeName(inodes.get(parent)!.mode)}, not a directory`);
    else if (!inodes.has(ino)) dropName(`inode ${ino} does not exist`);
    else if (ino === ROOT_INO) dropName('the root has no name');
    else if (isDirIno(ino) && dirNamed.has(ino)) dropName(`directory ${ino} already has a name`);
    else {
      if (isDirIno(ino)) dirNamed.add(ino);
      let list = children.get(parent);
      if (!list) children.set(parent, (list = []));
      list.push({ name, ino, key });
    }
  }

  // 4. What the root reaches.
  const reached = new Set<number>();
  if (root) {
    reached.add(ROOT_INO);
    const queue = [ROOT_INO];
    while (queue.length > 0) {
      const dir = queue.shift()!;
      for (const c of children.get(dir) ?? []) {
        if (reached.has(c.ino)) continue;
        reached.add(c.ino);
        if (isDirIno(c.ino)) queue.push(c.ino);
      }
    }
  }

  // 5. Link counts, from the names in reached directories.
  const names = new Map<number, number>();
  const subdirs = new Map<number, number>();
  const anyName = new Set<number>();
  for (const [dir, list] of children) {
    for (const c of list) {
      anyName.add(c.ino);
      if (!reached.has(dir)) continue;
      names.set(c.ino, (names.get(c.ino) ?? 0) + 1);
      if (isDirIno(c.ino)) subdirs.set(dir, (subdirs.get(dir) ?? 0) + 1);
    }
  }
  const extentBlocks = new Map<number, number>();
  for (const { key, value } of raw.extents) {
    if (Array.isArray(key) && isUint(key[0]) && Array.isArray(value) && isUint(value[1])) extentBlocks.set(key[0], (extentBlocks.get(key[0]) ?? 0) + value[1]);
  }
  const orphans: Orphan[] = [];
  const freed = new Set<number>();
  for (const i of inodes.values()) {
    const blocks = extentBlocks.get(i.ino) ?? 0;
    if (!reached.has(i.ino)) {
      if (i.nlink === 0 && !anyName.has(i.ino)) {
        orphans.push({ ino: i.ino, blocks });
        fixes.push(`freed orphan inode ${i.ino} (${blocks} blocks)`);
      } else {
        problem('unreachable', `inode ${i.ino} (${typeName(i.mode)}, nlink ${i.nlink}, ${blocks} blocks) is not reachable from the root`);
        fixes.push(`freed unreachable inode ${i.ino} (${blocks} blocks)`);
      }
      freed.add(i.ino);
      ops.push({ db: 'inodes', op: 'del', key: i.ino });
      for (const c of children.get(i.ino) ?? []) ops.push({ db: 'dirents', op: 'del', key: c.key });
      continue;
    }
    const expected = isDirIno(i.ino) ? 2 + (subdirs.get(i.ino) ?? 0) : (names.get(i.ino) ?? 0);
    if (i.nlink !== expected) {
      problem('nlink', `inode ${i.ino} (${typeName(i.mode)}) has nlink ${i.nlink}, its names give ${expected}`);
      ops.push({ db: 'inodes', op: 'put', key: i.ino, value: { ...i.record, nlink: expected } });
      fixes.push(`inode ${i.ino}: nlink ${i.nlink} -> ${expected}`);
    }
  }

  // 6. Extents.
  /** Extents that stay, and those of inodes the repair frees (in use until then). */
  const kept: Extent[] = [];
  const going: Extent[] = [];
  const byIno = new Map<number, Extent[]>();
  for (const { key, value } of raw.extents) {
    const ok = Array.isArray(key) && key.length === 2 && key.every(isUint) && Array.isArray(value) && value.length === 2 && isUint(value[0]) && isUint(value[1]) && value[1] > 0;
    /** Drop the record; `why` undefined: the problem was reported already. */
    const dropExtent = (why: string | undefined): void => {
      if (why !== undefined) problem('extent', `extent ${show(key)} -> ${show(value)}: ${why}`);
      ops.push({ db: 'extents', op: 'del', key });
      fixes.push(`removed the extent ${show(key)} -> ${show(value)}`);
    };
    if (!ok) {
      dropExtent('not a [inode, file block] -> [device block, length] record');
      continue;
    }
    const [ino, fileBlock] = key as [number, number];
    const [devBlock, len] = value as [number, number];
    const owner = inodes.get(ino);
    if (freed.has(ino)) {
      ops.push({ db: 'extents', op: 'del', key }); // goes with its inode
      if (devBlock + len <= deviceBlocks) going.push({ ino, fileBlock, devBlock, len });
      continue;
    }
    if (!owner) dropExtent(`inode ${ino} does not exist`);
    else if ((owner.mode & S_IFMT) !== S_IFREG) dropExtent(`inode ${ino} is a ${typeName(owner.mode)}`);
    else if (devBlock + len > deviceBlocks) dropExtent(`past the end of the device (${deviceBlocks} blocks)`);
    else {
      const e = { ino, fileBlock, devBlock, len };
      const eofBlocks = Math.ceil(owner.size / BLOCK_SIZE);
      if (fileBlock + len > eofBlocks) {
        problem('extent', `inode ${ino}: file blocks ${fileBlock}-${fileBlock + len - 1} lie past its size (${owner.size} bytes)`);
        if (fileBlock >= eofBlocks) {
          dropExtent(undefined);
          continue;
        }
        e.len = eofBlocks - fileBlock;
        ops.push({ db: 'extents', op: 'put', key, value: [devBlock, e.len] });
        fixes.push(`inode ${ino}: extent at file block ${fileBlock} cut to ${e.len} blocks`);
      }
      kept.push(e);
      let list = byIno.get(ino);
      if (!list) byIno.set(ino, (list = []));
      list.push(e);
    }
  }
  for (const [ino, list] of byIno) {
    list.sort((a, b) => a.fileBlock - b.fileBlock);
    for (let k = 1; k < list.length; k++) {
      const a = list[k - 1]!;
      if (a.fileBlock + a.len > list[k]!.fileBlock) problem('extent', `inode ${ino}: extents at file blocks ${a.fileBlock} and ${list[k]!.fileBlock} overlap`);
    }
  }

  // 6b. The export behind an NBD store (issue 15): it must hold every block of the store.
  if (exportBlocks !== undefined && exportBlocks < deviceBlocks) {
    problem('device', `the export holds ${exportBlocks} blocks, less than the store's ${deviceBlocks}`);
    refuse('the export is smaller than the store (grow or restore the export)');
    for (const e of [...kept].sort((a, b) => a.devBlock - b.devBlock)) {
      if (e.devBlock + e.len > exportBlocks) {
        problem('extent', `inode ${e.ino}: file blocks ${e.fileBlock}-${e.fileBlock + e.len - 1} are on device ${runText(e.devBlock, e.len)}, past the end of the export (${exportBlocks} blocks)`);
      }
    }
  }

  // 7. Space: owners of every block, in device order.
  const free: { start: number; len: number }[] = [];
  for (const { key, value } of raw.free) {
    if (!isUint(key) || !isUint(value) || value === 0) problem('space', `free record ${show(key)} -> ${show(value)} is not a run of blocks`);
    else if (key + value > deviceBlocks) problem('space', `free ${runText(key, value)} past the end of the device (${deviceBlocks} blocks)`);
    else free.push({ start: key, len: value });
  }
  type Owned = { start: number; len: number; owner: string };
  const owned: Owned[] = [
    ...[...kept, ...going].map((e) => ({ start: e.devBlock, len: e.len, owner: `inode ${e.ino}` })),
    ...free.map((f) => ({ start: f.start, len: f.len, owner: 'the free list' })),
  ].sort((a, b) => a.start - b.start || a.len - b.len);
  let cover: Owned | undefined;
  for (const o of owned) {
    if (cover && o.start < cover.start + cover.len) {
      const end = Math.min(cover.start + cover.len, o.start + o.len);
      problem('space', `${runText(o.start, end - o.start)} ${end - o.start === 1 ? 'belongs' : 'belong'} to ${cover.owner} and to ${o.owner}`);
    }
    if (!cover || o.start + o.len > cover.start + cover.len) cover = o;
  }
  const leaked = gaps(owned, deviceBlocks);
  for (const g of leaked) problem('space', `${runText(g.start, g.len)} ${g.len === 1 ? 'is' : 'are'} neither free nor in a file (leaked)`);
  const usedBlocks = [...kept, ...going].reduce((s, e) => s + e.len, 0);
  const freeBlocks = free.reduce((s, f) => s + f.len, 0);
  if (usedBlocks + freeBlocks !== deviceBlocks) {
    problem('space', `${usedBlocks} blocks used + ${freeBlocks} free = ${usedBlocks + freeBlocks}, the device has ${deviceBlocks}`);
  }
  const rebuilt = gaps(
    kept.map((e) => ({ start: e.devBlock, len: e.len })).sort((a, b) => a.start - b.start),
    deviceBlocks,
  );
  const same = rebuilt.length === free.length && rebuilt.every((r, k) => r.start === free[k]!.start && r.len === free[k]!.len) && free.length === raw.free.length;
  if (!same) {
    for (const { key } of raw.free) ops.push({ db: 'free', op: 'del', key });
    for (const r of rebuilt) ops.push({ db: 'free', op: 'put', key: r.start, value: r.len });
    fixes.push(`free list rebuilt: ${rebuilt.reduce((s, r) => s + r.len, 0)} blocks in ${rebuilt.length} runs`);
  }

  const counts: Counts = {
    inodes: inodes.size,
    directories: [...inodes.values()].filter((i) => (i.mode & S_IFMT) === S_IFDIR).length,
    deviceBlocks,
    usedBlocks,
    freeBlocks,
  };
  return { problems, orphans, counts, plan: refused ? { ops: [], fixes: [], refused } : { ops, fixes } };
}
