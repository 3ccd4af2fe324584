/**
 * stress-ng's filesystem stressors (Debian's stress-ng 0.15, installed by scripts/setup.sh)
 * against a real mount, with --verify, for a bounded time; then: no verification failure,
 * every stressor did work, the daemon is alive and answers, stress-ng left nothing behind,
 * and after unmounting `aheadfs fsck` finds the store clean.
 *
 * The stressors, one instance each, all at once (20 s):
 *   hdd (write, read back, --verify), dir, dentry, rename, link, symlink,
 *   aio (POSIX aio), aiol (Linux io_submit), seek (random pwrite/pread), readahead,
 *   iomix (a mix of reads, writes, fsync, fadvise and readahead on one file)
 * then hdd again alone with random writes, random reads, fdatasync and writev/readv (10 s),
 * and with O_DIRECT (8 s).
 *
 * Not run, and why (the second test keeps the reason true):
 *   fallocate: fuse-native 2.2.6 has no fallocate operation, so the kernel gets ENOSYS
 *     from the daemon and every fallocate(2) on the mount fails with EOPNOTSUPP; stress-ng's
 *     stressor then does 0 operations. Same for `--seek-punch` (FALLOC_FL_PUNCH_HOLE).
 */

import test from 'ava';
import { readdir } from 'node:fs/promises';
import { pidAlive } from '../../src/fuse/mounts.js';
import { sh } from '../helpers/cli.js';
import { readStats } from '../helpers/control.js';
import { describeFsck, fsck, mountPid } from '../helpers/crash.js';
import { withMount } from '../helpers/mount.js';

const q = (s: string): string => JSON.stringify(s);

interface StressRun {
  code: number;
  output: string;
  /** bogo ops per stressor, from --metrics-brief. */
  bogoOps: Map<string, number>;
}

/** Run stress-ng (never rejects for a non-zero exit; its output is kept for the messages). */
async function stressNg(args: string): Promise<StressRun> {
  const out = await sh(`stress-ng ${args} --verify --metrics-brief 2>&1; echo "exit=$?"`, { timeoutMs: 240_000 });
  const code = Number(/exit=(\d+)\s*$/.exec(out)?.[1] ?? -1);
  const bogoOps = new Map<string, number>();
  for (const m of out.matchAll(/metrc: \[\d+\] ([a-z-]+)\s+(\d+)\s+[\d.]+\s+[\d.]+/g)) bogoOps.set(m[1]!, Number(m[2]));
  return { code, output: out, bogoOps };
}

/** The lines stress-ng uses to report failures (verification errors are `fail:` lines). */
const failureLines = (r: StressRun): string[] => r.output.split('\n').filter((l) => /stress-ng: (fail|error):|verif\w* (error|fail)/i.test(l));

const ALL_AT_ONCE = [
  '--hdd 1 --hdd-bytes 32M',
  '--dir 1 --dir-dirs 1024',
  '--dentry 1 --dentries 1024',
  '--rename 1',
  '--link 1',
  '--symlink 1',
  '--aio 1 --aio-requests 16',
  '--aiol 1',
  '--seek 1 --seek-size 16M',
  '--readahead 1 --readahead-bytes 4M',
  '--iomix 1 --iomix-bytes 8M',
].join(' ');

test('stress-ng filesystem stressors with --verify: no failure, daemon alive, nothing left behind, fsck clean', async (t) => {
  t.timeout(300_000);
  await withMount(t, { size: '512M' }, async (mnt, ctx) => {
    const pid = await mountPid(mnt);
    for (const [what, args, stressors] of [
      ['all stressors at once', `${ALL_AT_ONCE} --timeout 20s`, ['hdd', 'dir', 'dentry', 'rename', 'link', 'symlink', 'aio', 'aiol', 'seek', 'readahead', 'iomix']],
      ['hdd: random writes and reads, fdatasync, iovec', '--hdd 2 --hdd-bytes 16M --hdd-opts wr-rnd,rd-rnd,fdatasync,iovec --timeout 10s', ['hdd']],
      ['hdd: O_DIRECT, random writes and reads', '--hdd 1 --hdd-bytes 8M --hdd-opts direct,wr-rnd,rd-rnd --timeout 8s', ['hdd']],
    ] as const) {
      const r = await stressNg(`${args} --temp-path ${q(mnt)}`);
      t.is(r.code, 0, `${what}: stress-ng exit ${r.code}\n${r.output}`);
      t.deepEqual(failureLines(r), [], what);
      for (const s of stressors) t.true((r.bogoOps.get(s) ?? 0) > 0, `${what}: ${s} did ${r.bogoOps.get(s) ?? 'no'} bogo ops\n${r.output}`);
      t.log(`${what}: ${[...r.bogoOps].map(([s, n]) => `${s} ${n}`).join(', ')}`);
    }
    t.true(pidAlive(pid), 'the daemon is alive');
    t.is(await mountPid(mnt), pid, 'and still answers');
    t.true((await readStats(mnt)).write_bytes! > 0, 'stats.json answers');
    t.deepEqual((await readdir(mnt)).filter((n) => n !== '.aheadfs'), [], 'stress-ng removed its files');
    await ctx.umount();
    const f = await fsck(ctx.store);
    t.is(f.code, 0, describeFsck(f));
  });
});

test('fallocate(2) is not supported (fuse-native 2.2.6 has no fallocate op): why stress-ng --fallocate is not run', async (t) => {
  await withMount(t, {}, async (mnt) => {
    const err = await sh(`fallocate -l 1M ${q(`${mnt}/f`)}`).then(
      () => 'succeeded',
      (e: Error) => e.message,
    );
    // The day this passes, add `--fallocate 1` (and --seek-punch) to the stressors above.
    t.regex(err, /Operation not supported/);
  });
});
