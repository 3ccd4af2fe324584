#!/usr/bin/env bash
# Apply patches/ (patch-package) and compile fuse-native's addon from the patched C, against
# the headers of the node that runs aheadfs (<prefix>/include/node). node-gyp-build loads
# build/Release/fuse.node before the package's prebuilds/, so the patched addon is the one
# used (test/unit/fuse-native-patch.test.ts checks it). Idempotent: run by npm's
# postinstall and by scripts/setup.sh when the patch is newer than the built addon.
set -euo pipefail
cd "$(dirname "$0")/.."

./node_modules/.bin/patch-package --error-on-fail >/dev/null
gyp="${npm_config_node_gyp:-}"
if [ -z "$gyp" ] || [ ! -f "$gyp" ]; then gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"; fi
nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  echo "setup: node headers missing ($nodedir/include/node): cannot build fuse-native" >&2; exit 1
fi
out=$(cd node_modules/fuse-native && node "$gyp" rebuild --nodedir="$nodedir" 2>&1) || { echo "$out" >&2; exit 1; }
touch node_modules/fuse-native/build/Release/.aheadfs-patched
