/** Random files and hashes for the end-to-end tests. */

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** Write `bytes` random bytes to `path` in 1 MiB writes; returns the sha256 (hex). */
export async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const chunk = randomBytes(Math.min(1 << 20, bytes - done));
      await fh.write(chunk, 0, chunk.length);
      hash.update(chunk);
      done += chunk.length;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** sha256 of a file, read with `highWaterMark`-sized reads. */
export function sha256File(path: string, highWaterMark = 128 << 10): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark })
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
