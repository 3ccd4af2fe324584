#!/usr/bin/env node
// npm run bench:aio [-- --rounds 5 --reads 4000 --file-mib 1024 --ra-policy ondemand|none --trace on|off --json]:
// the kioctx figure (src/bench/aio-depth.ts), after scripts/setup.sh built dist/. The thread
// pool as bin/aheadfs.js sizes it: the block files' reads run there.
process.env.UV_THREADPOOL_SIZE ||= '72';
const { aioDepthMain } = await import('../dist/bench/aio-depth.js');
await aioDepthMain();
