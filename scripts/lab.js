#!/usr/bin/env node
// npm run lab [-- --out DIR]: the lab trace set through every replay configuration over
// the simulated devices; the report goes to lab-results/ (see src/replay/lab.ts). Runs
// after scripts/setup.sh has built dist/.
const { runLabMain } = await import('../dist/replay/lab.js');
await runLabMain(process.argv.slice(2));
