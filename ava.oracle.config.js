// The running kernel as an oracle (test/oracle): run after the rest of the suite and alone,
// one test at a time, because the kernel's own readahead decisions change under the memory
// pressure and page-cache churn of other tests (a folio reclaimed between readahead and
// its read makes the kernel run a second page_cache_sync_ra for the same index).
export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  files: ['test/oracle/**/*.test.ts'],
  workerThreads: false,
  timeout: '120s',
  concurrency: 1,
};
