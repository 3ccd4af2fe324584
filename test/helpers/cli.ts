/**
 * Run the real aheadfs command (`node bin/aheadfs.js`, which loads dist/) the way a user does.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/aheadfs.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Set when the command did not exit by itself (killed at the timeout, or by a signal). */
  signal: NodeJS.Signals | null;
}

export function assertBuilt(): void {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    throw new Error('dist/ is not built: run `npm run build` (npm test does it through scripts/setup.sh)');
  }
}

export interface RunOpts {
  cwd?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Run `aheadfs <args>`; never rejects for a non-zero exit. */
export function aheadfs(args: string[], opts: RunOpts = {}): Promise<CliResult> {
  return runNode(BIN, args, opts);
}

/**
 * Run one of the project's Node scripts (which load dist/) with `args`, as a user does;
 * never rejects for a non-zero exit. A run past the timeout gets SIGTERM.
 */
export function runNode(script: string, args: string[], opts: RunOpts = {}): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd: opts.cwd ?? ROOT, timeout: opts.timeoutMs ?? 120_000, env: { ...process.env, DEBUG: '', ...opts.env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr, signal: err?.signal ?? null });
      },
    );
  });
}

/** Run a shell command line; rejects with its stderr on failure. */
export function sh(cmd: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', cmd], { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A refused command: exit `code`, exactly one `aheadfs: ...` line on stderr matching `re`. */
export function expectOneLine(
  t: { is: (a: unknown, b: unknown, m?: string) => void; regex: (s: string, r: RegExp) => void },
  r: CliResult,
  code: number,
  re: RegExp,
): void {
  t.is(r.code, code, `exit code (stderr: ${r.stderr.trim()})`);
  t.is(r.stderr.trim().split('\n').length, 1, `one line on stderr: ${r.stderr}`);
  t.regex(r.stderr, /^aheadfs: /);
  t.regex(r.stderr, re);
}
