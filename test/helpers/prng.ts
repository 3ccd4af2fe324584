/** The seeded generators of src/prng.ts, for tests. */
export { mulberry32 } from '../../src/prng.js';
