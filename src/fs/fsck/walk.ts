/**
 * The LMDB side of fsck: read every record of meta/ as LMDB decodes it, and apply a
 * repair plan in one write transaction. Run only in the walk child (walk-child.ts):
 * reading mapped pages of a damaged file can kill the process (SIGSEGV, SIGBUS), and
 * that must be the child, never the CLI or the mount daemon.
 */

import { join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { MAX_DBS } from '../metadb.js';
import { META_DIR } from '../superblock.js';
import type { DbName, RawMeta, RepairOp } from './check.js';

const DBS: readonly DbName[] = ['inodes', 'dirents', 'extents', 'free', 'misc'];

export class MetaWalk {
  private constructor(
    private readonly root: RootDatabase,
    private readonly dbs: Map<DbName, Database<unknown, Key>>,
  ) {}

  /** Open `<store>/meta`; read-only unless `writable`. Throws if a database is missing. */
  static open(store: string, opts: { writable: boolean }): MetaWalk {
    const root = open({ path: join(store, META_DIR), maxDbs: MAX_DBS, readOnly: !opts.writable });
    const dbs = new Map<DbName, Database<unknown, Key>>();
    for (const name of DBS) {
      // With readOnly, lmdb-js returns undefined for a database that does not exist.
      const db = root.openDB<unknown, Key>(name, {}) as Database<unknown, Key> | undefined;
      if (db === undefined) throw new Error(`the database ${name} is missing`);
      dbs.set(name, db);
    }
    return new MetaWalk(root, dbs);
  }

  private db(name: DbName): Database<unknown, Key> {
    return this.dbs.get(name)!;
  }

  /** Every record of every database, in key order. Touches every page of our trees. */
  read(): RawMeta {
    const all = (name: DbName): RawMeta[DbName] => [...this.db(name).getRange()].map(({ key, value }) => ({ key, value }));
    return { inodes: all('inodes'), dirents: all('dirents'), extents: all('extents'), free: all('free'), misc: all('misc') };
  }

  /** Apply the plan's operations, in order, as one transaction; resolves once durable. */
  async apply(ops: readonly RepairOp[]): Promise<void> {
    this.root.transactionSync(() => {
      for (const o of ops) {
        const db = this.db(o.db);
        if (o.op === 'put') db.putSync(o.key as Key, o.value);
        else db.removeSync(o.key as Key);
      }
    });
    await this.root.flushed;
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
