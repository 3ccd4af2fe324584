/**
 * The conventions a user expects of a command, through the real binary: `--version`,
 * `-h`/`--help` on every command, `aheadfs completion` (a bash script that really
 * completes), a bad command as one line with exit 2, and a man page (man/aheadfs.1,
 * installed with the package) that names every command and every option `--help` lists,
 * and only those, rendered by groff without a warning.
 */

import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { aheadfs, BIN, ROOT, sh } from '../helpers/cli.js';

const MAN = join(ROOT, 'man/aheadfs.1');
/** The commands issue 18 names; `aheadfs --help` may list more (each is then checked too). */
const KNOWN = ['mkfs', 'mount', 'umount', 'stats', 'iostat', 'trace', 'dmesg', 'plot', 'fsck', 'kernel-diff', 'completion'];
/** Options every command has; the man page documents them once, under "aheadfs". */
const GLOBAL = ['-h', '--help', '-V', '--version'];

async function packageJson(): Promise<{ version: string; man?: string | string[] }> {
  return JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; man?: string | string[] };
}

/** The lines of one yargs help section (`Commands:`, `Options:`, `Positionals:`). */
function helpSection(help: string, title: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(`${title}:`);
  if (start < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    out.push(line);
  }
  return out;
}

/** The commands `aheadfs --help` lists. */
function helpCommands(help: string): string[] {
  return helpSection(help, 'Commands').map((l) => /^\s+aheadfs (\S+)/.exec(l)?.[1] ?? `unparsed: ${l}`);
}

/** Option names (`-f`, `--follow`) of a help's `Options:` section. */
function helpOptions(help: string): string[] {
  return helpSection(help, 'Options').flatMap((l) => {
    const m = /^\s+((?:-{1,2}[\w-]+)(?:, -{1,2}[\w-]+)*)(?:\s{2,}|$)/.exec(l);
    return m ? m[1]!.split(', ') : [`unparsed: ${l}`];
  });
}

/** Positional names of a help's `Positionals:` section. */
function helpPositionals(help: string): string[] {
  return helpSection(help, 'Positionals').map((l) => /^\s+(\S+)/.exec(l)?.[1] ?? `unparsed: ${l}`);
}

function groff(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('groff', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
  });
}

/** The man page as plain text, wide enough that no tag or synopsis line wraps. */
async function renderedMan(): Promise<string[]> {
  const { stdout } = await groff(['-man', '-Tutf8', '-rLL=250n', '-P-cbou', MAN]);
  return stdout.split('\n');
}

/** Lines of a top-level section (`SYNOPSIS`, `OPTIONS`) of the rendered page. */
function manSection(lines: string[], name: string): string[] {
  const start = lines.indexOf(name);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && /^[A-Z]/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** OPTIONS, split by subsection (`aheadfs mount`): command ('' for plain `aheadfs`) -> option names of its tags. */
function manOptions(lines: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of manSection(lines, 'OPTIONS')) {
    const sub = /^ {3}aheadfs(?: (\S+))?\s*$/.exec(line);
    if (sub) out.set(sub[1] ?? '', (current = []));
    const tag = /^ {7}((?:-{1,2}[\w-]+)(?:, -{1,2}[\w-]+)*)/.exec(line);
    if (tag && current) current.push(...tag[1]!.split(', '));
  }
  return out;
}

test('--version and -V print the package.json version, one line, exit 0', async (t) => {
  const { version } = await packageJson();
  for (const flag of ['--version', '-V']) {
    const r = await aheadfs([flag]);
    t.is(r.code, 0, flag);
    t.is(r.stdout, `${version}\n`, flag);
    t.is(r.stderr, '', flag);
  }
});

test('-h and --help on every command: its usage on stdout, exit 0', async (t) => {
  const top = await aheadfs(['-h']);
  t.is(top.code, 0);
  t.regex(top.stdout, /^aheadfs <command> \[options\]\n/);
  t.is((await aheadfs(['--help'])).stdout, top.stdout);
  const commands = helpCommands(top.stdout);
  t.deepEqual(
    KNOWN.filter((c) => !commands.includes(c)),
    [],
    'every command is listed',
  );
  for (const cmd of commands) {
    const short = await aheadfs([cmd, '-h']);
    t.is(short.code, 0, `${cmd} -h: ${short.stderr}`);
    t.is(short.stderr, '', cmd);
    t.true(short.stdout.startsWith(`aheadfs ${cmd}`), `${cmd} -h starts with its usage: ${short.stdout.slice(0, 80)}`);
    t.true(helpOptions(short.stdout).includes('--help'), `${cmd} -h lists its options`);
    t.is((await aheadfs([cmd, '--help'])).stdout, short.stdout, `${cmd} --help is ${cmd} -h`);
  }
});

test('a bad command or none: one line on stderr, exit 2', async (t) => {
  for (const args of [['bogus'], ['mout'], []]) {
    const r = await aheadfs(args);
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
    t.regex(r.stderr, /^aheadfs: [^\n]+\n$/, args.join(' '));
  }
});

test('aheadfs completion: a bash script that completes commands and options', async (t) => {
  const r = await aheadfs(['completion']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^complete .* -F _aheadfs_yargs_completions aheadfs$/m);
  // Source it as ~/.bashrc would, with `aheadfs` on PATH, and ask what a Tab would offer.
  const tmp = await mkdtemp(join(tmpdir(), 'aheadfs-completion-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  await symlink(BIN, join(tmp, 'aheadfs'));
  const script = join(tmp, 'completion.bash');
  await writeFile(script, r.stdout);
  const complete = (words: string[]): Promise<string> =>
    sh(
      `export PATH=${tmp}:${dirname(process.execPath)}:$PATH DEBUG=; source ${script}; ` +
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ` +
        `_aheadfs_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`,
    );
  t.is(await complete(['aheadfs', 'mou']), 'mount\n');
  t.is(await complete(['aheadfs', 'k']), 'kernel-diff\n');
  t.is(await complete(['aheadfs', 'mount', '--read-a']), '--read-ahead-kb\n');
  t.is(await complete(['aheadfs', 'fsck', '--re']), '--repair\n');
  t.is(await complete(['aheadfs', 'dm']), 'dmesg\n');
  t.is(await complete(['aheadfs', 'dmesg', '--fo']), '--follow\n');
  t.is(await complete(['aheadfs', 'umount', '--la']), '--lazy\n');
  t.is(await complete(['aheadfs', 'mount', '--read-o']), '--read-only\n');
  t.is(await complete(['aheadfs', 'stats', '--out']), '--output\n');
});

test('man/aheadfs.1 documents every command and exactly the options --help lists', async (t) => {
  const lines = await renderedMan();
  const top = await aheadfs(['--help']);
  const documented = manOptions(lines);
  t.deepEqual(documented.get('')?.sort(), [...GLOBAL].sort(), 'the global options');
  t.deepEqual(helpOptions(top.stdout).sort(), [...GLOBAL].sort(), '--help lists the global options');
  const synopsis = manSection(lines, 'SYNOPSIS').map((l) => l.trim());
  for (const cmd of helpCommands(top.stdout)) {
    const help = (await aheadfs([cmd, '--help'])).stdout;
    const line = synopsis.find((l) => l.startsWith(`aheadfs ${cmd} `) || l === `aheadfs ${cmd}`);
    t.truthy(line, `SYNOPSIS has aheadfs ${cmd}`);
    for (const p of helpPositionals(help)) t.regex(line ?? '', new RegExp(`\\b${p}\\b`), `SYNOPSIS of ${cmd} names <${p}>`);
    const options = helpOptions(help).filter((o) => !GLOBAL.includes(o));
    t.deepEqual(documented.get(cmd)?.sort(), options.sort(), `OPTIONS of aheadfs ${cmd} in the man page = aheadfs ${cmd} --help`);
  }
  t.deepEqual(
    [...documented.keys()].filter((c) => c !== '' && !helpCommands(top.stdout).includes(c)),
    [],
    'no command in the man page that aheadfs does not have',
  );
  for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'FILES', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO']) {
    t.true(lines.includes(section), `section ${section}`);
  }
});

test('man/aheadfs.1 renders without a warning and is installed with the package', async (t) => {
  // -ww: every groff warning; -z: format, print nothing.
  const { stderr } = await groff(['-man', '-Tutf8', '-ww', '-z', MAN]);
  t.is(stderr, '');
  const { man } = await packageJson();
  t.deepEqual(man, ['./man/aheadfs.1']);
  const packed = JSON.parse(await sh('npm pack --dry-run --json --ignore-scripts --loglevel=error', { cwd: ROOT })) as { files: { path: string }[] }[];
  t.true(packed[0]!.files.some((f) => f.path === 'man/aheadfs.1'), 'npm pack includes man/aheadfs.1');
});
