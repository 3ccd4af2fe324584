/** POSIX namespace operations through node's fs, with the errno the kernel hands back. */

import test from 'ava';
import { link, lstat, mkdir, readdir, readFile, readlink, rename, rmdir, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withMount } from '../helpers/mount.js';

test('mkdir, rename, unlink, rmdir, link, symlink and their errors', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const p = (...s: string[]): string => join(mnt, ...s);

    await mkdir(p('d'));
    t.true((await stat(p('d'))).isDirectory());
    await t.throwsAsync(mkdir(p('d')), { code: 'EEXIST' });
    await t.throwsAsync(mkdir(p('nope', 'x')), { code: 'ENOENT' });

    await writeFile(p('d', 'f'), 'hello');
    await t.throwsAsync(rmdir(p('d')), { code: 'ENOTEMPTY' });
    await t.throwsAsync(unlink(p('d')), { code: 'EISDIR' });
    await t.throwsAsync(unlink(p('missing')), { code: 'ENOENT' });
    await t.throwsAsync(rmdir(p('d', 'f')), { code: 'ENOTDIR' });

    // rename a file, then over an existing file (replaces it)
    await rename(p('d', 'f'), p('g'));
    t.is(await readFile(p('g'), 'utf8'), 'hello');
    await t.throwsAsync(stat(p('d', 'f')), { code: 'ENOENT' });
    await writeFile(p('h'), 'other');
    await rename(p('g'), p('h'));
    t.is(await readFile(p('h'), 'utf8'), 'hello');
    await t.throwsAsync(stat(p('g')), { code: 'ENOENT' });

    // directories: rename over an empty dir works, over a non-empty one fails
    await mkdir(p('e'));
    await mkdir(p('full'));
    await writeFile(p('full', 'x'), 'x');
    await t.throwsAsync(rename(p('e'), p('full')), { code: 'ENOTEMPTY' });
    await mkdir(p('empty'));
    await rename(p('e'), p('empty'));
    await t.throwsAsync(stat(p('e')), { code: 'ENOENT' });
    await t.throwsAsync(rename(p('h'), p('empty')), { code: 'EISDIR' });
    await t.throwsAsync(rename(p('missing'), p('z')), { code: 'ENOENT' });

    // hard links share content and count
    await link(p('h'), p('h2'));
    t.is((await stat(p('h'))).nlink, 2);
    t.is(await readFile(p('h2'), 'utf8'), 'hello');
    await t.throwsAsync(link(p('h'), p('h2')), { code: 'EEXIST' });
    await unlink(p('h'));
    t.is(await readFile(p('h2'), 'utf8'), 'hello');
    t.is((await stat(p('h2'))).nlink, 1);

    // symlinks
    await symlink('h2', p('s'));
    t.true((await lstat(p('s'))).isSymbolicLink());
    t.is(await readlink(p('s')), 'h2');
    t.is(await readFile(p('s'), 'utf8'), 'hello');
    await t.throwsAsync(symlink('x', p('s')), { code: 'EEXIST' });

    await t.throwsAsync(writeFile(p('x'.repeat(300)), ''), { code: 'ENAMETOOLONG' });

    // rmdir of an emptied directory; the listing is what we made, without .aheadfs
    await unlink(p('full', 'x'));
    await rmdir(p('full'));
    t.deepEqual((await readdir(mnt)).sort(), ['d', 'empty', 'h2', 's']);
  });
});

test('the control directory resolves but is not listed', async (t) => {
  await withMount(t, {}, async (mnt) => {
    t.false((await readdir(mnt)).includes('.aheadfs'));
    t.true((await stat(join(mnt, '.aheadfs'))).isDirectory());
    t.true((await stat(join(mnt, '.aheadfs', 'tunables'))).isDirectory());
    const stats = await readFile(join(mnt, '.aheadfs', 'stats'), 'utf8');
    for (const name of ['read_calls', 'read_bytes', 'write_calls', 'write_bytes', 'disk_read_ios', 'disk_read_bytes', 'disk_write_ios', 'disk_write_bytes', 'direct_io']) {
      t.regex(stats, new RegExp(`^${name} \\d+$`, 'm'));
    }
    const json = JSON.parse(await readFile(join(mnt, '.aheadfs', 'stats.json'), 'utf8')) as Record<string, unknown>;
    t.is(typeof json, 'object');
    t.is(Number((await readFile(join(mnt, '.aheadfs', 'pid'), 'utf8')).trim()) > 0, true);
  });
});
