/**
 * The README's five-minute tour, run verbatim: the `sh` block under "## A five-minute
 * tour" goes to `bash -e` from the repository's root, line for line as a reader pastes it.
 *
 * Only the environment is the test's: `npm link` installs into a temporary npm prefix
 * (`npm_config_prefix`, whose bin/ is first on PATH), so the machine's global packages are
 * left alone; and the tour's directory, `/tmp/aheadfs-tour` in the README, becomes a fresh
 * temporary directory, so two runs of the suite at once (two checkouts) never unmount or
 * delete each other's tour. Whatever the tour mounts is unmounted afterwards, also when a
 * line fails.
 */

import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findMount } from '../../src/fuse/mounts.js';
import { ROOT, sh } from '../helpers/cli.js';

/** The tour's directory, as the README's block names it (checked below). */
const README_TOUR_DIR = '/tmp/aheadfs-tour';

/** The first ```sh block after the tour's heading. */
export function tourBlock(readme: string): string {
  const at = readme.indexOf('\n## A five-minute tour\n');
  if (at < 0) throw new Error('README has no "## A five-minute tour" section');
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (m === null) throw new Error('the tour section has no ```sh block');
  return m[1]!;
}

async function unmountTour(dir: string): Promise<void> {
  const mnt = join(dir, 'mount');
  if ((await findMount(mnt)) !== undefined) {
    await sh(`node ${join(ROOT, 'bin/aheadfs.js')} umount ${mnt}`).catch(() => undefined);
    if ((await findMount(mnt)) !== undefined) await sh(`fusermount -uz ${mnt}`);
  }
}

test('the README tour runs verbatim and does what it says', async (t) => {
  t.timeout(180_000);
  const block = tourBlock(await readFile(join(ROOT, 'README.md'), 'utf8'));
  t.true(block.includes(`cd ${README_TOUR_DIR}`), `the tour works in ${README_TOUR_DIR}`);
  const tourDir = await mkdtemp(join(tmpdir(), 'aheadfs-tour-'));
  const script = block.split(README_TOUR_DIR).join(tourDir);
  const prefix = await mkdtemp(join(tmpdir(), 'aheadfs-tour-npm-'));
  try {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'bash',
        ['-e', '-c', script],
        {
          cwd: ROOT,
          // ignore_scripts: `npm link` would otherwise run the package's postinstall, whose node-gyp
          // rebuild removes fuse.node for seconds under the tests running beside this one.
          env: { ...process.env, DEBUG: '', npm_config_ignore_scripts: 'true', npm_config_prefix: prefix, PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}` },
          maxBuffer: 16 << 20,
          timeout: 170_000,
        },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
      );
    });
    t.is(r.code, 0, `the tour failed:\n${r.stderr}\n${r.stdout}`);
    // What the tour tells the reader to look at is there:
    t.regex(r.stdout, /^ra sync .*start=0 /m, 'the trace shows the first (sync) window');
    t.regex(r.stdout, /^ra async /m, 'and the async windows after it');
    // Each `aheadfs stats -- dd` report (on stderr, as perf stat's) counts the device reads:
    // the 1024 KiB window needs far fewer, larger requests than the 128 KiB one.
    const ios = [...r.stderr.matchAll(/^\s*disk_read_ios\s+(\d+)/gm)].map((m) => Number(m[1]));
    t.is(ios.length, 2, `two stats reports with device reads:\n${r.stderr}`);
    t.true(ios[1]! * 4 < ios[0]!, `read_ahead_kb 1024 needs far fewer device reads: ${ios[0]} then ${ios[1]}`);
    const png = await readFile(join(tourDir, 'windows.png'));
    t.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'windows.png is a PNG');
    t.is(await findMount(join(tourDir, 'mount')), undefined, 'the tour ends unmounted');
    t.true(existsSync(join(tourDir, 'data/store/aheadfs.json')), 'the default store was made');
  } finally {
    await unmountTour(tourDir);
    await rm(tourDir, { recursive: true, force: true });
    await rm(prefix, { recursive: true, force: true });
  }
});
