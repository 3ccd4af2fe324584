#!/usr/bin/env node
// The aheadfs command. The block layer runs up to nr_requests device I/Os at once through
// libuv's thread pool, which is sized from this variable when it is first used: set it
// before anything touches the pool (i.e. before importing the CLI).
process.env.UV_THREADPOOL_SIZE ||= '72';
await import('../dist/cli/main.js');
