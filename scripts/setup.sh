#!/usr/bin/env bash
# Idempotent set-up for aheadfs: Debian packages, node modules, build.
# Quiet when nothing is missing; says what it does otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }

# 1. Debian packages: libfuse2 (fuse-native's addon links libfuse.so.2), fuse (fusermount), fio
#    and stress-ng (the outside suites of test/e2e run against a real mount), what compiles
#    the patched fuse-native addon (gcc, g++, make, python3 for node-gyp), and the NBD servers
#    the device tests run against: nbdkit (+ its filters), nbd-server, qemu-nbd (qemu-utils),
#    and bindfs (a peer of aheadfs in `npm run bench`: a C FUSE passthrough), and groff-base
#    (groff: test/e2e/cli-help.test.ts renders man/aheadfs.1 and checks it has no warning).
#    The Ceph packages (ceph-mon, ceph-osd, ceph-common, qemu-block-extra) are installed by
#    scripts/ceph-rbd.sh when its e2e test first starts a cluster, not here.
missing=()
for pkg in libfuse2 fuse fio stress-ng gcc g++ make python3 nbdkit nbd-server qemu-utils bindfs groff-base; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or install them)"; exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { say "/dev/fuse is missing: this machine cannot mount FUSE filesystems"; exit 1; }

# 2. node modules: npm ci when node_modules is missing or older than the lock file.
stamp=node_modules/.aheadfs-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  say "installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  touch "$stamp"
fi

# 2b. fuse-native patched (patches/, patch-package) and its addon built from the patched C:
#     npm's postinstall does it. When the patch changed since, a fresh npm ci applies it
#     (patch-package cannot apply a new version over an old one).
built=node_modules/fuse-native/build/Release/.aheadfs-patched
if [ ! -f "$built" ] || [ -n "$(find patches -newer "$built" -print -quit)" ]; then
  say "patching and building fuse-native (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  touch "$stamp"
  [ -f "$built" ] || { say "npm ci did not patch fuse-native (are npm scripts off?): run bash scripts/build-fuse-native.sh"; exit 1; }
fi

# 3. build: tsc to dist/ when any source is newer than the last build.
if [ ! -f dist/.built ] || [ -n "$(find src types tsconfig.json tsconfig.build.json -newer dist/.built -print -quit 2>/dev/null)" ]; then
  say "building (tsc)"
  ./node_modules/.bin/tsc -p tsconfig.build.json
  touch dist/.built
fi
