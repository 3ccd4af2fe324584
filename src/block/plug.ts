/**
 * Plugging (block/blk-core.c blk_start_plug / blk_finish_plug). STUB for the contract:
 * the block-layer work replaces the body; the signatures stay.
 *
 * A plug belongs to the submitter's current synchronous run (the kernel's current->plug):
 * between blkStartPlug and blkFinishPlug, with no await in between, bios submitted with
 * `submitBio` collect in the plug and are merged there; blkFinishPlug flushes them, sorted
 * by sector, into the I/O scheduler. Nested plugs are ignored: the inner blkStartPlug
 * returns undefined and the matching blkFinishPlug(undefined) does nothing.
 */

export interface Plug {
  readonly id: number;
}

let current: Plug | undefined;
let nextId = 1;

export function currentPlug(): Plug | undefined {
  return current;
}

export function blkStartPlug(): Plug | undefined {
  if (current) return undefined;
  current = { id: nextId++ };
  return current;
}

export function blkFinishPlug(plug: Plug | undefined): void {
  if (!plug || plug !== current) return;
  current = undefined;
}
