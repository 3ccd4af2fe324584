/**
 * docs/architecture.md cannot drift from the code:
 *
 *   - every row of its mapping table (kernel function -> our file and function) names a
 *     file that exists and a function (or `Class.method`) defined in that file;
 *   - the rows the document promises (filemap_read, ondemand_readahead, bio_endio, ...) are there;
 *   - its list of imports between layers is exactly what the `import` lines of src/ say;
 *   - every repository path it mentions exists, and it points at nothing outside the repository.
 *
 * The checker is also run on rows that are wrong, so that it is seen to refuse them.
 */

import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOC_PATH = join(ROOT, 'docs/architecture.md');

interface Row {
  kernel: string;
  version: string;
  file: string;
  name: string;
}

function doc(): string {
  return readFileSync(DOC_PATH, 'utf8');
}

/** The text of the section whose heading starts with `## <prefix>`, up to the next `## `. */
function section(text: string, prefix: string): string {
  const start = text.indexOf(`\n## ${prefix}`);
  if (start < 0) throw new Error(`docs/architecture.md has no "## ${prefix}" section`);
  const next = text.indexOf('\n## ', start + 1);
  return text.slice(start, next < 0 ? undefined : next);
}

const unquote = (cell: string): string => cell.trim().replace(/^`|`$/g, '');

/** The rows of the mapping table: | `kernel fn` | version | `src/file.ts` | `ourFunction` |. */
function tableRows(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of section(text, '7.').split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| kernel function') || line.startsWith('|---')) continue;
    const cells = line.split('|').slice(1, -1);
    if (cells.length !== 4) throw new Error(`mapping row without 4 cells: ${line}`);
    rows.push({ kernel: cells[0]!.trim(), version: cells[1]!.trim(), file: unquote(cells[2]!), name: unquote(cells[3]!) });
  }
  return rows;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `source` defines `name`: a function or const, or `Class.method` inside that class's body. */
function defines(source: string, name: string): boolean {
  const dot = name.indexOf('.');
  if (dot < 0) {
    const n = escape(name);
    return new RegExp(`^(export\\s+)?(async\\s+)?function\\s+${n}\\s*[<(]`, 'm').test(source) || new RegExp(`^(export\\s+)?(const|let)\\s+${n}\\b`, 'm').test(source);
  }
  const cls = escape(name.slice(0, dot));
  const method = escape(name.slice(dot + 1));
  const head = new RegExp(`^(export\\s+)?(abstract\\s+)?class\\s+${cls}\\b`, 'm').exec(source);
  if (head === null) return false;
  const end = source.indexOf('\n}', head.index);
  const body = source.slice(head.index, end < 0 ? undefined : end);
  return new RegExp(`^\\s+((private|protected|public|static|async|readonly|override|get|set)\\s+)*${method}\\s*[<(]`, 'm').test(body);
}

/** What is wrong with a row ([] when nothing). */
function rowProblems(row: Row): string[] {
  const where = `${row.kernel} -> ${row.file} ${row.name}`;
  if (!/^src\/[\w./-]+\.ts$/.test(row.file)) return [`${where}: not a source path`];
  if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)?$/.test(row.name)) return [`${where}: not a function name`];
  const path = join(ROOT, row.file);
  if (!existsSync(path)) return [`${where}: no such file`];
  const problems: string[] = [];
  if (!defines(readFileSync(path, 'utf8'), row.name)) problems.push(`${where}: ${row.name} is not defined in ${row.file}`);
  if (!['4.18', '6.18', 'both'].includes(row.version)) problems.push(`${where}: kernel column is "${row.version}", not 4.18, 6.18 or both`);
  return problems;
}

test('every row of the mapping table names an existing file and a function defined in it', (t) => {
  const rows = tableRows(doc());
  t.true(rows.length >= 60, `only ${rows.length} rows parsed from the table`);
  t.deepEqual(rows.flatMap(rowProblems), []);
});

test('the checker refuses a row whose function, class, method or file does not exist', (t) => {
  const good: Row = { kernel: '`bio_endio`', version: 'both', file: 'src/block/queue.ts', name: 'RequestQueue.bioEndIo' };
  t.deepEqual(rowProblems(good), []);
  t.deepEqual(rowProblems({ ...good, file: 'src/mm/readahead.ts', name: 'ondemandReadahead' }), []);
  t.is(rowProblems({ ...good, name: 'RequestQueue.bioEndIoo' }).length, 1, 'a method the class does not have');
  t.is(rowProblems({ ...good, name: 'NoSuchQueue.bioEndIo' }).length, 1, 'a class the file does not have');
  t.is(rowProblems({ ...good, name: 'MqDeadline.dispatch' }).length, 1, 'a class of another file');
  t.is(rowProblems({ ...good, file: 'src/mm/readahead.ts', name: 'ondemandReadaheadV2' }).length, 1, 'a missing function');
  t.is(rowProblems({ ...good, file: 'src/mm/readahead-v6.ts', name: 'ondemandReadahead' }).length, 1, 'a function of another file');
  t.is(rowProblems({ ...good, file: 'src/block/queue2.ts' }).length, 1, 'a missing file');
  t.is(rowProblems({ ...good, version: '5.4' }).length, 1, 'an unknown kernel');
  // A name that only appears in a comment or a call is not a definition.
  t.false(defines('// filemapRead does it\nconst x = filemapRead(a);\n', 'filemapRead'));
  t.true(defines('export function filemapRead(a: number): void {}\n', 'filemapRead'));
});

test('the table has a row for each kernel function the document promises', (t) => {
  const kernels = tableRows(doc()).map((r) => r.kernel).join('\n');
  const promised = [
    'filemap_read', 'do_generic_file_read', 'ondemand_readahead', 'page_cache_sync_ra', 'page_cache_async_ra',
    'page_cache_ra_order', 'page_cache_ra_unbounded', 'blk_start_plug', 'blk_finish_plug', 'blk_mq_run_hw_queue',
    'bio_endio', 'should_fail_ex', 'shrink_readahead_size_eio', 'folio_end_read', '__filemap_get_folio',
    'truncate_inode_partial_folio', '__rmqueue_smallest', '__free_one_page', 'wake_up_page_bit', 'generic_perform_write',
  ];
  t.deepEqual(promised.filter((k) => !kernels.includes(`\`${k}\``)), []);
});

/** Layer of a file under src/ (its first directory), or undefined for src/errors.ts and the like. */
function layerOf(file: string): string | undefined {
  const parts = relative(join(ROOT, 'src'), file).split('/');
  return parts.length > 1 ? parts[0] : undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('the imports between layers are the ones the document lists', (t) => {
  const actual = new Map<string, Set<string>>();
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const from = layerOf(file);
    if (from === undefined) continue;
    if (!actual.has(from)) actual.set(from, new Set());
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const to = layerOf(resolve(dirname(file), m[1]!));
      if (to !== undefined && to !== from) actual.get(from)!.add(to);
    }
  }
  const text = section(doc(), '1.');
  const block = text.slice(text.indexOf('### Which way imports point'));
  const listed = new Map<string, Set<string>>();
  for (const m of block.matchAll(/^ {2}([a-z]+) +->([a-z, ]*?)(?: {2,}.*)?$/gm)) {
    listed.set(m[1]!, new Set(m[2]!.split(',').map((s) => s.trim()).filter((s) => s !== '')));
  }
  const render = (g: Map<string, Set<string>>): string[] => [...g].map(([k, v]) => `${k} -> ${[...v].sort().join(', ')}`).sort();
  t.deepEqual(render(listed), render(actual));
});

test('every repository path the document mentions exists, and it points at nothing outside the repository', (t) => {
  const text = doc();
  const paths = [...text.matchAll(/`((?:src|test|docs|scripts|bin|patches)\/[^`\s]*)`/g)].map((m) => m[1]!);
  t.true(paths.length > 50, `only ${paths.length} paths found`);
  t.deepEqual(paths.filter((p) => !existsSync(join(ROOT, p))), [], 'paths that do not exist');
  t.deepEqual(text.match(/https?:\/\/\S+/g) ?? [], [], 'no web links');
  t.deepEqual(text.match(/\.\.\/\S*/g) ?? [], [], 'no paths out of the repository');
  t.deepEqual(text.match(/(^|[\s(`])\/(work|home|root|tmp|srv)\/\S*/g) ?? [], [], 'no absolute paths');
  t.deepEqual([...text.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!).filter((l) => !l.startsWith('#') && !existsSync(join(ROOT, 'docs', l))), [], 'links to missing files');
});
