#!/usr/bin/env node
// npm run bench [-- --quick] [--reps N] [--out DIR] [--help]: see src/bench/run.ts. Runs after
// scripts/setup.sh has built dist/. The thread pool as bin/aheadfs.js sizes it, for the
// in-process micro-benchmark's engine; the daemons and nullfs this process starts inherit
// the variable (bin/aheadfs.js only sets it when it is unset).
process.env.UV_THREADPOOL_SIZE ||= '72';
await import('../dist/bench/run.js');
