/**
 * The aheadfs command line (yargs). Each command lives in its own file; this one wires
 * them together and is the only place that turns an error into output and an exit code:
 *
 *   UsageError (bad input, nothing changed)   -> `aheadfs: <message>`, exit 2
 *   any other error (operational failure)     -> `aheadfs: <message>`, exit 1
 *
 * Never a stack trace, unless $DEBUG is set.
 *
 * Also the conventions users expect of a command: `--version`/`-V`, `--help`/`-h` on every
 * command, and `aheadfs completion` (yargs' bash completion script). Every command and
 * option is documented in man/aheadfs.1 too; test/e2e/cli-help.test.ts keeps the two in step.
 */

import { existsSync, readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UsageError } from '../errors.js';
import { dmesgCommand } from './dmesg.js';
import { fsckCommand } from './fsck.js';
import { iostatCommand } from './iostat.js';
import { kernelDiffCommand } from './kernel-diff.js';
import { mkfsCommand } from './mkfs.js';
import { mountCommand } from './mount.js';
import { plotCommand } from './plot.js';
import { replayCommand } from './replay.js';
import { statsCommand } from './stats.js';
import { traceCommand } from './trace.js';
import { umountCommand } from './umount.js';

function fail(err: unknown): never {
  const usage = err instanceof UsageError;
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`aheadfs: ${msg.split('\n')[0]}\n`);
  if (process.env.DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exit(usage ? 2 : 1);
}

/** yargs' wording for an option given without its value, in ours (which says where to look). */
function usageMessage(msg: string, command: string | undefined): string {
  const m = /^Not enough arguments following: (.+)$/.exec(msg);
  if (!m) return msg;
  const name = m[1]!.length === 1 ? `-${m[1]}` : `--${m[1]}`;
  return `${name} needs a value (aheadfs ${command && !command.startsWith('-') ? `${command} ` : ''}--help says what it takes)`;
}

/** package.json's version: from dist/cli/ and src/cli/ alike, the package root is two levels up. */
function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const v = typeof pkg === 'object' && pkg !== null && 'version' in pkg ? pkg.version : undefined;
  return typeof v === 'string' ? v : 'unknown';
}

/** The commands (for the mount helper form below). */
const COMMANDS = new Set(['mkfs', 'mount', 'umount', 'stats', 'iostat', 'trace', 'plot', 'fsck', 'kernel-diff', 'completion']);

/**
 * mount(8) runs `aheadfs STORE MNT -o opts` for `mount -t fuse.aheadfs` and fstab lines
 * (through Debian's mount.fuse): that is `aheadfs mount STORE MNT -o opts`. Recognised
 * when the first word is no command and names a path (has a slash, or exists).
 */
function helperForm(argv: string[]): string[] {
  const first = argv[0];
  if (argv.length < 2 || first === undefined || first.startsWith('-') || COMMANDS.has(first)) return argv;
  // --helper: quiet on success, as mount(8) is.
  return first.includes('/') || existsSync(first) ? ['mount', ...argv, '--helper'] : argv;
}

export async function main(argv: string[]): Promise<void> {
  argv = helperForm(argv);
  // `aheadfs trace | head`, `iostat mnt 1 100 | head`: a reader that stops early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? process.exit(0) : fail(err)));
  let cli = yargs(argv)
    .scriptName('aheadfs')
    .usage('$0 <command> [options]')
    .strict()
    .demandCommand(1, 'give a command: mkfs, mount, umount, stats, iostat, trace, dmesg, plot, fsck, kernel-diff or replay (aheadfs --help)')
    .showHelpOnFail(false)
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .alias('V', 'version')
    // A command of our own rather than yargs' .completion(), which prints the script even
    // for `aheadfs completion --help`; yargs answers --get-yargs-completions either way.
    .command(
      'completion',
      'print a bash completion script (install: aheadfs completion >> ~/.bashrc)',
      (y) => y,
      () => void cli.showCompletionScript(),
    )
    .wrap(null)
    .fail((msg, err) => {
      // yargs calls this both for its own validation (msg) and for errors thrown by a handler (err).
      // yargs' own validation errors (YError: a missing option value, an unknown
      // argument) are bad input too.
      if (err && err.name !== 'YError') throw err;
      throw new UsageError(usageMessage(msg ?? err?.message ?? 'bad arguments', argv[0]));
    });
  for (const add of [mkfsCommand, mountCommand, umountCommand, statsCommand, iostatCommand, traceCommand, plotCommand, fsckCommand, kernelDiffCommand, dmesgCommand, replayCommand]) cli = add(cli);
  await cli.parseAsync();
}

main(hideBin(process.argv)).then(
  // A command may set process.exitCode (kernel-diff: 1 when the lists differ).
  () => process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0),
  fail,
);
