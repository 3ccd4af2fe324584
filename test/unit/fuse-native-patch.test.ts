/**
 * fuse-native is used as patched by patches/fuse-native+2.2.6.patch, with its addon built
 * from the patched C (scripts/build-fuse-native.sh): node-gyp-build must load that build,
 * not the package's prebuilt addon, or the caller's context and the utimens times are
 * silently missing. What the patch does is tested through a mount in test/e2e/posix.test.ts.
 */

import test from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Fuse from 'fuse-native';

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('fuse-native/package.json'));

test('the fuse-native addon loaded is the one built from the patched source', (t) => {
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  t.is(nodeGypBuild.path(pkgDir), join(pkgDir, 'build', 'Release', 'fuse.node'));
  const c = readFileSync(join(pkgDir, 'fuse-native.c'), 'utf8');
  t.regex(c, /capture_context\(l\)/, 'the C source is patched');
  // The built addon carries the patched code (the source file alone could be newer than it).
  const addon = readFileSync(join(pkgDir, 'build', 'Release', 'fuse.node'));
  t.true(addon.includes(Buffer.from('capture_context')), 'the addon was built from the patched C');
});

test('the patched Fuse reports the caller and passes use_ino', (t) => {
  const f = new Fuse('/nonexistent-aheadfs-test', {}, { useIno: true });
  t.deepEqual(f.getContext(), { uid: 0, gid: 0, pid: 0, umask: 0 });
  t.regex((f as unknown as { _fuseOptions(): string })._fuseOptions(), /(^-o|,)use_ino(,|$)/);
});
