/** Sizes on the command line (`64M`, `1G`): the parser lives beside the knob table, which uses it for --cache-size. */
export { formatSize, parseSize } from '../knobs/size.js';
