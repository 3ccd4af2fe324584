#!/usr/bin/env node
// npm run bench [-- --quick] [--reps N] [--out DIR] [--help]: see src/bench/run.ts. Runs after
// scripts/setup.sh has built dist/. The aheadfs daemons it mounts size their own thread
// pool (bin/aheadfs.js); this process only drives fio and the in-process micro-benchmark.
process.env.UV_THREADPOOL_SIZE ||= '72';
await import('../dist/bench/run.js');
