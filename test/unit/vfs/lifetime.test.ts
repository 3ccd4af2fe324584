/**
 * Lifetime of inodes under racing namespace operations (unlink, rename-over, open with
 * O_TRUNC): every call that succeeded in the kernel's terms succeeds here, an inode is
 * freed exactly once, and the allocator's free blocks come back to what they were, also
 * after a remount. Each race is run at many interleavings: the second call started 0..40
 * event-loop turns after the first, with the caches dropped so that I/O really yields.
 */

import test from 'ava';
import { openVfsStore, vfsReadAll } from '../fs/helpers.js';

const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const ROOT = { uid: 0, gid: 0 };
const TURNS = 40;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Start `first`, then `second` `turns` event-loop turns later; both settle. */
async function race<A, B>(first: () => Promise<A>, second: () => Promise<B>, turns: number): Promise<[PromiseSettledResult<A>, PromiseSettledResult<B>]> {
  const a = first();
  for (let i = 0; i < turns; i++) await turn();
  const b = second();
  return Promise.all([a.then(ok, ko), b.then(ok, ko)]) as Promise<[PromiseSettledResult<A>, PromiseSettledResult<B>]>;
}
const ok = <T>(value: T): PromiseFulfilledResult<T> => ({ status: 'fulfilled', value });
const ko = (reason: unknown): PromiseRejectedResult => ({ status: 'rejected', reason });
const why = (r: PromiseSettledResult<unknown>): string => (r.status === 'rejected' ? String(r.reason) : 'ok');

test('dropping the last two names of a file at once (unlink, rename over): every call succeeds, the inode is freed once', async (t) => {
  const store = await openVfsStore(t);
  let fs = store.fs;
  const free = (await fs.vfs.statfs()).bfree;
  const data = new Uint8Array(64 * 1024).fill(3);
  const bad: string[] = [];
  for (const kind of ['unlink', 'rename'] as const) {
    for (let turns = 0; turns <= TURNS; turns++) {
      const name = `${kind}${turns}`;
      const fh = await fs.vfs.create(`/${name}.a`, 0o644, O_WRONLY, ROOT);
      await fs.vfs.write(fh, data, data.length, 0);
      await fs.vfs.release(fh);
      await fs.vfs.link(`/${name}.a`, `/${name}.b`);
      if (kind === 'rename') await fs.vfs.release(await fs.vfs.create(`/${name}.new`, 0o644, O_WRONLY, ROOT));
      fs.control.write('drop_caches', '1\n');
      const second = kind === 'unlink' ? () => fs.vfs.unlink(`/${name}.b`) : () => fs.vfs.rename(`/${name}.new`, `/${name}.b`);
      const [a, b] = await race(() => fs.vfs.unlink(`/${name}.a`), second, turns);
      if (a.status !== 'fulfilled') bad.push(`${name}: unlink a: ${why(a)}`);
      if (b.status !== 'fulfilled') bad.push(`${name}: ${kind} b: ${why(b)}`);
      if (kind === 'rename') await fs.vfs.unlink(`/${name}.b`);
    }
  }
  t.deepEqual(bad, []);
  t.deepEqual((await fs.vfs.readdir('/')).map((e) => e.name), ['.', '..']);
  t.is((await fs.vfs.statfs()).bfree, free, 'every block is free again');
  fs = await store.reopen();
  t.is((await fs.vfs.statfs()).bfree, free, 'every block is free after a remount');
});

test('open or create with O_TRUNC racing an unlink of the name: the open succeeds and its handle works until release', async (t) => {
  const store = await openVfsStore(t);
  let fs = store.fs;
  const free = (await fs.vfs.statfs()).bfree;
  const old = new Uint8Array(64 * 1024).fill(1);
  const data = new Uint8Array(10000).fill(2);
  const bad: string[] = [];
  for (const kind of ['open', 'create'] as const) {
    for (let turns = 0; turns <= TURNS; turns++) {
      const name = `/${kind}${turns}`;
      const w = await fs.vfs.create(name, 0o644, O_WRONLY, ROOT);
      await fs.vfs.write(w, old, old.length, 0);
      await fs.vfs.release(w);
      fs.control.write('drop_caches', '1\n');
      const flags = O_RDWR | O_TRUNC;
      const open = kind === 'open' ? () => fs.vfs.open(name, flags) : () => fs.vfs.create(name, 0o644, flags, ROOT);
      const [o, u] = await race(open, () => fs.vfs.unlink(name), turns);
      if (u.status !== 'fulfilled') bad.push(`${name}: unlink: ${why(u)}`);
      if (o.status !== 'fulfilled') {
        bad.push(`${name}: ${kind}: ${why(o)}`);
        continue;
      }
      // The handle is a file like any other until its release (then it is freed).
      const fh = o.value;
      try {
        t.is(await fs.vfs.write(fh, data, data.length, 0), data.length);
        fs.control.write('drop_caches', '1\n');
        const got = await vfsReadAll(fs.vfs, fh);
        if (!got.equals(Buffer.from(data))) bad.push(`${name}: read back ${got.length} bytes, not the ${data.length} written`);
      } catch (err) {
        bad.push(`${name}: write/read on the handle: ${String(err)}`);
      } finally {
        await fs.vfs.release(fh).catch((err: unknown) => bad.push(`${name}: release: ${String(err)}`));
      }
    }
  }
  t.deepEqual(bad, []);
  t.deepEqual((await fs.vfs.readdir('/')).map((e) => e.name), ['.', '..']);
  t.is((await fs.vfs.statfs()).bfree, free, 'every block is free again');
  fs = await store.reopen();
  t.is((await fs.vfs.statfs()).bfree, free, 'every block is free after a remount');
});
