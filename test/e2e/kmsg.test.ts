/**
 * Reasons, not just errno, through the real binary (issue 18, point 1):
 *   - a non-empty mountpoint is refused before any daemon starts: exit 2, one line with the fix;
 *   - a mount flag and its control file take the same values (`--nr-requests 2`, `--max-sectors-kb 40000`);
 *   - a refused control-file write fails with EINVAL and its reason is in `.aheadfs/kmsg`
 *     and `aheadfs dmesg`; the mount's options are there too;
 *   - `aheadfs dmesg --follow` prints messages that come after it started, once each;
 *   - an injected read failure shows as fault-injection hits (as the kernel's FAULT_INJECTION lines).
 */

import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aheadfs, BIN, expectOneLine, sh } from '../helpers/cli.js';
import { control, dropCaches, readControl } from '../helpers/control.js';
import { withMount } from '../helpers/mount.js';

/** `echo <value> > <mnt>/.aheadfs/<name>` as a shell does it: its stderr when refused, '' when taken. */
async function shellWrite(mnt: string, name: string, value: string): Promise<string> {
  try {
    await sh(`echo ${value} > ${join(mnt, '.aheadfs', name)}`);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

test('a non-empty mountpoint is refused before the daemon starts: exit 2, one line naming the fix', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-kmsg-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const store = join(tmp, 'store');
  const mnt = join(tmp, 'mnt');
  t.is((await aheadfs(['mkfs', store, '--size', '64M', '--block-file-size', '16M'])).code, 0);
  await mkdir(mnt);
  await writeFile(join(mnt, 'keep-me'), 'x');
  const r = await aheadfs(['mount', store, mnt]);
  expectOneLine(t, r, 2, /^aheadfs: mountpoint \S+ is not empty .*: mount on an empty directory/);
  t.deepEqual(await readdir(mnt), ['keep-me'], 'the mountpoint is untouched');
  await t.throwsAsync(stat(join(store, 'lock')), { code: 'ENOENT' }, 'no daemon took the store');
  await t.throwsAsync(stat(join(store, 'aheadfs.log')), { code: 'ENOENT' }, 'no daemon wrote a log');
});

test('a flag and its control file take the same values; a refused write says why in kmsg and dmesg', async (t) => {
  await withMount(t, {}, async (mnt, { store }) => {
    // At mount: one line, exit 2, before any daemon (the first used to pass the CLI and fail in the daemon).
    expectOneLine(t, await aheadfs(['mount', store, mnt, '--max-sectors-kb', '40000']), 2, /bad --max-sectors-kb '40000': expected a whole number from 4 to 32768, a multiple of 4/);
    expectOneLine(t, await aheadfs(['mount', store, mnt, '--nr-requests', '2']), 2, /bad --nr-requests '2': expected a whole number from 4 to 4096/);
    // At run time: the same values are refused with EINVAL (nr_requests 2 used to be taken).
    for (const [file, value] of [
      ['tunables/nr_requests', '2'],
      ['tunables/max_sectors_kb', '40000'],
    ] as const) {
      const before = await readControl(mnt, file);
      t.regex(await shellWrite(mnt, file, value), /Invalid argument/, `${file} ${value}`);
      t.is(await readControl(mnt, file), before, `${file} unchanged`);
    }
    const kmsg = await readControl(mnt, 'kmsg');
    t.regex(kmsg, /^\d+ \d+\.\d{6} info mount: options: .*nr_requests=64 /m, 'the mount options');
    t.regex(kmsg, /^\d+ \d+\.\d{6} warn tunables: write of "2" to \.aheadfs\/tunables\/nr_requests refused \(EINVAL\): nr_requests: expected a whole number from 4 to 4096, not "2"$/m);
    t.regex(kmsg, /warn tunables: write of "40000" to \.aheadfs\/tunables\/max_sectors_kb refused \(EINVAL\): .*a multiple of 4, not "40000"$/m);
    const d = await aheadfs(['dmesg', mnt]);
    t.is(d.code, 0, d.stderr);
    t.regex(d.stdout, /^\[ +\d+\.\d{6}\] warn +tunables: write of "2" to \.aheadfs\/tunables\/nr_requests refused \(EINVAL\): nr_requests: expected a whole number from 4 to 4096/m);
    t.is(d.stdout.trim().split('\n').length, kmsg.trim().split('\n').length, 'one dmesg line per kmsg line');
    // A good value is taken and says nothing.
    await control(mnt, 'tunables/nr_requests', '4');
    t.is(await readControl(mnt, 'tunables/nr_requests'), '4\n');
    t.is((await readControl(mnt, 'kmsg')).trim().split('\n').length, kmsg.trim().split('\n').length);
  });
});

test('aheadfs dmesg --follow prints the messages that come after it started, once each', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const child = spawn(process.execPath, [BIN, 'dmesg', mnt, '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    /** Resolves once `out` matches `re`; rejects after a generous limit (a hang, not a speed check). */
    const waitFor = (re: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const limit = setTimeout(() => {
          clearInterval(poll);
          reject(new Error(`dmesg --follow never printed ${re}; it printed:\n${out}`));
        }, 30_000);
        const poll = setInterval(() => {
          if (!re.test(out)) return;
          clearInterval(poll);
          clearTimeout(limit);
          resolve();
        }, 50);
      });
    await waitFor(/info +mount: mounted /);
    t.notRegex(out, /refused/, 'nothing refused yet');
    t.regex(await shellWrite(mnt, 'tunables/readpages', 'maybe'), /Invalid argument/);
    await waitFor(/tunables\/readpages refused \(EINVAL\): readpages: expected on or off \(1 or 0\), not "maybe"/);
    t.regex(await shellWrite(mnt, 'tunables/scheduler', 'cfq'), /Invalid argument/);
    await waitFor(/scheduler: expected none or mq-deadline, not "cfq"/);
    child.kill('SIGINT');
    t.is(out.match(/info +mount: mounted /g)?.length, 1, 'each message printed once');
    t.is(out.match(/readpages refused/g)?.length, 1, 'each message printed once');
  });
});

test('an injected read failure is in kmsg: the fault-injection hits, and the options it was mounted with', async (t) => {
  const mountArgs = ['--fail-probability', '100', '--fail-times', '-1', '--fail-verbose', '1', '--fail-ops', 'read'];
  await withMount(t, { mountArgs }, async (mnt) => {
    await writeFile(join(mnt, 'f'), Buffer.alloc(64 * 1024, 7));
    await sh(`sync ${join(mnt, 'f')}`);
    await dropCaches(mnt);
    await t.throwsAsync(sh(`cat ${join(mnt, 'f')} > /dev/null`), { message: /Input\/output error/ });
    const kmsg = await readControl(mnt, 'kmsg');
    t.regex(kmsg, /notice mount: fault injection and delay from the mount options: .*"probability":100/);
    t.regex(kmsg, /notice fail_make_request: fail_make_request: forcing a failure: read sector=\d+ bytes=\d+/);
  });
});
