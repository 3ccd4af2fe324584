/**
 * The FUSE adapter on its own: an in-memory Vfs (test/helpers/memvfs.ts) mounted in this
 * process, so that errno mapping, the control directory and the mount options are checked
 * independently of the real filesystem. Only async fs calls here: this process also
 * serves the mount.
 */

import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AheadFuse } from '../../src/fuse/aheadfuse.js';
import { ControlDir } from '../../src/fuse/control-dir.js';
import { findMount } from '../../src/fuse/mounts.js';
import { makeOperations } from '../../src/fuse/ops.js';
import { MemControl, memFilesystem } from '../helpers/memvfs.js';

const run = promisify(execFile);

async function withMemMount(t: import('ava').ExecutionContext, body: (mnt: string, control: MemControl, logs: string[]) => Promise<void>): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-adapter-'));
  const mnt = join(tmp, 'mnt');
  await mkdir(mnt);
  const mfs = memFilesystem();
  const logs: string[] = [];
  const fuse = new AheadFuse(mnt, makeOperations({ vfs: mfs.vfs, control: new ControlDir(mfs.control, process.pid), log: (m) => logs.push(m) }), { fuseDebug: false });
  const unmount = async (): Promise<void> => {
    if (await findMount(mnt)) await new Promise<void>((r) => fuse.unmount(() => r()));
    await rm(tmp, { recursive: true, force: true });
  };
  t.teardown(unmount);
  await new Promise<void>((res, rej) => fuse.mount((err) => (err ? rej(err) : res())));
  try {
    await body(mnt, mfs.control as MemControl, logs);
  } finally {
    await unmount();
  }
}

test('mount options: direct_io, max_read, fsname and subtype; no libfuse debug from $DEBUG', (t) => {
  const saved = process.env.DEBUG;
  process.env.DEBUG = '*';
  try {
    const f = new AheadFuse('/nonexistent', {}, { fuseDebug: false });
    const opts = f.optionString().replace(/^-o/, '').split(',');
    for (const o of ['direct_io', 'max_read=131072', 'default_permissions', 'fsname=aheadfs', 'subtype=aheadfs']) t.true(opts.includes(o), o);
    t.false(opts.includes('debug'));
    t.true(new AheadFuse('/nonexistent', {}, { fuseDebug: true }).optionString().replace(/^-o/, '').split(',').includes('debug'));
  } finally {
    if (saved === undefined) delete process.env.DEBUG;
    else process.env.DEBUG = saved;
  }
});

test('errno mapping and the control directory through a real mount', async (t) => {
  await withMemMount(t, async (mnt, control) => {
    const m = await findMount(mnt);
    t.is(m?.fstype, 'fuse.aheadfs');
    t.is(m?.source, 'aheadfs');

    await mkdir(join(mnt, 'd'));
    await writeFile(join(mnt, 'd', 'f'), 'x');
    await t.throwsAsync(mkdir(join(mnt, 'd')), { code: 'EEXIST' });
    await t.throwsAsync(readFile(join(mnt, 'missing')), { code: 'ENOENT' });
    await t.throwsAsync(run('rmdir', [join(mnt, 'd')]), { message: /not empty/i });

    // fstat on an open handle goes through fgetattr
    const fh = await open(join(mnt, 'd', 'f'), 'r+');
    await fh.write('hello', 0);
    t.is((await fh.stat()).size, 5);
    await fh.close();

    t.deepEqual((await readdir(mnt)).sort(), ['d']);
    const ctl = join(mnt, '.aheadfs');
    t.true((await stat(ctl)).isDirectory());
    t.deepEqual((await readdir(ctl)).sort(), ['drop_caches', 'pid', 'stats', 'tunables']);
    t.is((await readFile(join(ctl, 'pid'), 'utf8')).trim(), String(process.pid));
    const st = await stat(join(ctl, 'stats'));
    t.true(st.isFile());
    t.is(st.mode & 0o777, 0o444);
    t.is((await stat(join(ctl, 'tunables', 'read_ahead_kb'))).mode & 0o777, 0o644);
    t.regex(await readFile(join(ctl, 'stats'), 'utf8'), /^write_calls [1-9]\d*$/m);

    await run('bash', ['-c', `echo 512 > ${join(ctl, 'tunables', 'read_ahead_kb')}`]);
    t.is(control.readAheadKb, 512);
    await t.throwsAsync(run('bash', ['-c', `echo nope > ${join(ctl, 'tunables', 'read_ahead_kb')}`]), { message: /Invalid argument/ });
    await run('bash', ['-c', `echo 1 > ${join(ctl, 'drop_caches')}`]);
    t.is(control.drops, 1);
    await t.throwsAsync(readFile(join(ctl, 'nope')), { code: 'ENOENT' });
    await t.throwsAsync(writeFile(join(ctl, 'new'), 'x'), { code: 'EACCES' });
    await t.throwsAsync(mkdir(ctl), { code: 'EEXIST' });
  });
});
