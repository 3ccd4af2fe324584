/**
 * The NBD client (src/block/nbd) against a scripted server (nbd-server.ts): negotiation
 * (NBD_OPT_GO with infos, the EXPORT_NAME fallback, refusals, not-NBD), I/O (several in
 * flight, replies out of order, splitting at the server's max payload), error replies,
 * flush and its absence, multi-conn, DISC on close, and the lost-connection paths
 * (reconnect and retry, a request never answered, a server gone for good).
 */

import test, { type ExecutionContext } from 'ava';
import { isFsError } from '../../../src/errors.js';
import { cutViews, NbdDevice, NbdOpenError } from '../../../src/block/nbd/device.js';
import { parseNbdUrl } from '../../../src/block/nbd/proto.js';
import { openStoreDevice } from '../../../src/block/open.js';
import { Stats } from '../../../src/stats/registry.js';
import { ScriptedServer, type ScriptOpts } from './nbd-server.js';

const KiB = 1024;

async function server(t: ExecutionContext, opts: ScriptOpts = {}): Promise<ScriptedServer> {
  const s = await ScriptedServer.start(opts);
  t.teardown(() => s.close());
  return s;
}

async function device(t: ExecutionContext, s: ScriptedServer, opts: { connections?: number; timeoutMs?: number; reconnectMs?: number; logs?: string[] } = {}): Promise<{ dev: NbdDevice; stats: Stats }> {
  const stats = new Stats();
  const dev = await NbdDevice.open(s.url, { stats, log: (m) => opts.logs?.push(m), connections: opts.connections, timeoutMs: opts.timeoutMs ?? 5000, reconnectMs: opts.reconnectMs ?? 3000 });
  t.teardown(() => dev.close());
  return { dev, stats };
}

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('NBD_OPT_GO: export name, NBD_INFO_BLOCK_SIZE asked, size/flags/block sizes taken, fixed newstyle + no zeroes', async (t) => {
  const s = await server(t, { exportName: 'disk', size: 4 << 20, blockSize: [512, 4096, 64 * KiB] });
  const { dev } = await device(t, s);
  t.deepEqual(s.goNames, ['disk']);
  t.deepEqual(s.goInfos, [[3]]);
  t.is(s.clientFlags[0], 3);
  t.is(dev.nrSectors, (4 << 20) / 512);
  t.deepEqual(dev.limits, { logicalBlockSize: 512, physicalBlockSize: 4096, maxTransferBytes: 64 * KiB });
  t.true(dev.canFlush);
  t.is(dev.info.via, 'go');
});

test('a server without NBD_OPT_GO: NBD_OPT_EXPORT_NAME fallback, with and without the 124 zero bytes; default block sizes', async (t) => {
  for (const hsFlags of [1, 3]) {
    const s = await server(t, { goError: 0x80000001, hsFlags, exportName: 'x', size: 2 << 20 });
    const { dev } = await device(t, s);
    t.is(dev.info.via, 'export-name');
    t.is(dev.nrSectors, (2 << 20) / 512);
    t.is(s.clientFlags[0], hsFlags === 3 ? 3 : 1, 'NO_ZEROES only when offered');
    t.is(dev.limits.maxTransferBytes, 32 << 20, 'the 32 MiB default');
    const data = pattern(8 * KiB, hsFlags);
    await dev.write(8, [data]);
    const back = new Uint8Array(8 * KiB);
    await dev.read(8, [back]);
    t.deepEqual(back, data);
  }
});

test('refusals: an unknown export, a policy refusal, a read-only export, not an NBD server, nobody listening', async (t) => {
  const named = await server(t, { exportName: 'disk' });
  const e1 = await t.throwsAsync(NbdDevice.open(named.url.replace(/disk$/, 'other'), { stats: new Stats() }), { instanceOf: NbdOpenError });
  t.is(e1.kind, 'no-export');
  t.regex(e1.message, /export 'other': no such export: no export other/);

  const policy = await server(t, { goError: 0x80000002 });
  const e2 = await t.throwsAsync(NbdDevice.open(policy.url, { stats: new Stats() }), { instanceOf: NbdOpenError });
  t.regex(e2.message, /refused by server policy: scripted refusal/);

  const ro = await server(t, { flags: 1 | 2 | 4 });
  const e3 = await t.throwsAsync(NbdDevice.open(ro.url, { stats: new Stats() }), { instanceOf: NbdOpenError });
  t.is(e3.kind, 'unusable');
  t.regex(e3.message, /read-only/);

  const junk = await server(t, { garbage: true });
  const e4 = await t.throwsAsync(NbdDevice.open(junk.url, { stats: new Stats() }), { instanceOf: NbdOpenError });
  t.regex(e4.message, /not an NBD server/);

  const gone = await server(t);
  const url = gone.url;
  await gone.close();
  const e5 = await t.throwsAsync(NbdDevice.open(url, { stats: new Stats() }), { instanceOf: NbdOpenError });
  t.is(e5.kind, 'unreachable');
  t.regex(e5.message, /ECONNREFUSED/);
});

test('several requests in flight on one connection, answered in reverse order, land in the right views', async (t) => {
  const s = await server(t, { size: 1 << 20 });
  for (let i = 0; i < 8; i++) s.disk.set(pattern(4 * KiB, i), i * 4 * KiB);
  s.opts.reverseBatch = 8;
  const { dev, stats } = await device(t, s);
  const bufs = Array.from({ length: 8 }, () => new Uint8Array(4 * KiB));
  await Promise.all(bufs.map((b, i) => dev.read(i * 8, [b])));
  bufs.forEach((b, i) => t.deepEqual(b, pattern(4 * KiB, i), `buffer ${i}`));
  t.is(new Set(s.requests.map((r) => r.handle)).size, 8, 'distinct handles');
  t.is(stats.c.disk_read_ios, 8);
  t.is(stats.c.disk_read_bytes, 32 * KiB);
});

test('requests above the max payload are cut; a view spanning a cut is split without copying', async (t) => {
  const s = await server(t, { blockSize: [512, 4096, 8 * KiB] });
  const { dev } = await device(t, s);
  const data = pattern(30 * KiB, 5);
  await dev.write(16, [data.subarray(0, 6 * KiB), data.subarray(6 * KiB)]);
  const writes = s.requests.filter((r) => r.type === 1);
  t.deepEqual(writes.map((r) => [r.offset, r.length]), [[8 * KiB, 8 * KiB], [16 * KiB, 8 * KiB], [24 * KiB, 8 * KiB], [32 * KiB, 6 * KiB]]);
  t.deepEqual(new Uint8Array(s.disk.subarray(8 * KiB, 38 * KiB)), data);
  const parts = cutViews([data], 8 * KiB);
  t.is(parts[0]!.views[0]!.buffer, data.buffer, 'subarray, not a copy');
  await t.throwsAsync(dev.read(1, [new Uint8Array(700)]), { message: /not aligned/ });
});

test('an error reply fails that request with EIO at once (no retry, counted); others succeed', async (t) => {
  const s = await server(t, { onRequest: (r) => (r.type === 0 && r.offset === 4096 ? { error: 5 } : 'ok') });
  const { dev, stats } = await device(t, s);
  const err = await t.throwsAsync(dev.read(8, [new Uint8Array(4096)]));
  t.true(isFsError(err, 'EIO'));
  t.regex(err!.message, /read of 4096 bytes at 4096: server error EIO/);
  await dev.read(16, [new Uint8Array(4096)]);
  t.is(stats.c.disk_errors, 1);
  t.is(s.requests.filter((r) => r.offset === 4096).length, 1, 'sent once');
});

test('flush: NBD_CMD_FLUSH when the server has it; EIO and canFlush false (and a warning at open) when not', async (t) => {
  const s = await server(t);
  const { dev, stats } = await device(t, s);
  await dev.flush();
  t.is(s.requests.at(-1)!.type, 3);
  t.is(stats.c.disk_flushes, 1);

  const noFlush = await server(t, { flags: 1 });
  const logs: string[] = [];
  const d2 = await device(t, noFlush, { logs });
  t.false(d2.dev.canFlush);
  t.regex(logs.join('\n'), /WARNING: the server cannot flush/);
  await t.throwsAsync(d2.dev.flush(), { message: /cannot flush; durability is not guaranteed/ });
  t.false(noFlush.requests.some((r) => r.type === 3), 'nothing sent');
});

test('--nbd-connections: several only with NBD_FLAG_CAN_MULTI_CONN; requests spread over them', async (t) => {
  const multi = await server(t);
  const { dev } = await device(t, multi, { connections: 3 });
  t.is(dev.connectionCount, 3);
  await Promise.all(Array.from({ length: 9 }, (_, i) => dev.read(i * 8, [new Uint8Array(4096)])));
  t.is(new Set(multi.requests.map((r) => r.conn)).size, 3, 'all three connections used');

  const single = await server(t, { flags: 1 | 4 });
  const logs: string[] = [];
  const d2 = await device(t, single, { connections: 3, logs });
  t.is(d2.dev.connectionCount, 1);
  t.regex(logs.join('\n'), /does not allow multi-conn .*using 1 connection, not 3/);
});

test('close sends NBD_CMD_DISC on every connection after the requests in flight', async (t) => {
  const s = await server(t);
  const stats = new Stats();
  const dev = await NbdDevice.open(s.url, { stats, connections: 2 });
  const r = dev.read(0, [new Uint8Array(4096)]);
  await dev.close();
  await r;
  t.is(s.requests.filter((q) => q.type === 2).length, 2);
  t.is(s.requests.findIndex((q) => q.type === 2) > s.requests.findIndex((q) => q.type === 0), true);
  await t.throwsAsync(dev.read(0, [new Uint8Array(4096)]), { message: /closed/ });
});

test('a dropped connection: reconnect, the requests in flight are sent again and complete', async (t) => {
  let dropped = false;
  const s = await server(t, {
    onRequest: (r) => {
      if (r.type === 1 && !dropped) {
        dropped = true;
        return 'close';
      }
      return 'ok';
    },
  });
  const logs: string[] = [];
  const { dev, stats } = await device(t, s, { logs });
  const data = pattern(8 * KiB, 9);
  await dev.write(0, [data]);
  t.deepEqual(new Uint8Array(s.disk.subarray(0, 8 * KiB)), data);
  t.is(stats.c.nbd_reconnects, 1);
  t.is(stats.c.nbd_retries, 1);
  t.is(s.connections, 2);
  t.regex(logs.join('\n'), /connection lost \(the server closed the connection\); reconnecting/);
});

test('a read cut off in the middle of its payload is retried whole into the same views', async (t) => {
  let cut = false;
  const s = await server(t, {
    onRequest: (r) => {
      if (r.type === 0 && !cut) {
        cut = true;
        return 'half';
      }
      return 'ok';
    },
  });
  s.disk.set(pattern(16 * KiB, 4), 0);
  const { dev, stats } = await device(t, s);
  const views = [new Uint8Array(4 * KiB), new Uint8Array(4 * KiB), new Uint8Array(8 * KiB)];
  await dev.read(0, views);
  t.deepEqual(new Uint8Array(Buffer.concat(views)), pattern(16 * KiB, 4));
  t.is(stats.c.nbd_retries, 1);
});

test('a request never answered: after the timeout the connection is dropped and the request retried', async (t) => {
  let hung = false;
  const s = await server(t, {
    onRequest: (r) => {
      if (r.type === 0 && !hung) {
        hung = true;
        return 'hang';
      }
      return 'ok';
    },
  });
  s.disk.set(pattern(4096, 3), 0);
  const logs: string[] = [];
  const { dev, stats } = await device(t, s, { timeoutMs: 200, logs });
  const b = new Uint8Array(4096);
  await dev.read(0, [b]);
  t.deepEqual(b, pattern(4096, 3));
  t.is(stats.c.nbd_retries, 1);
  t.regex(logs.join('\n'), /no reply within 200 ms/);
});

test('a server that always drops the request: EIO after the attempts run out', async (t) => {
  const s = await server(t, { onRequest: (r) => (r.type === 0 ? 'close' : 'ok') });
  const { dev, stats } = await device(t, s);
  const err = await t.throwsAsync(dev.read(0, [new Uint8Array(4096)]));
  t.true(isFsError(err, 'EIO'));
  t.regex(err!.message, /\(4 attempts\)/);
  t.is(s.requests.length, 4);
  t.is(stats.c.disk_errors, 1);
});

test('a server gone for good: waiting requests fail with EIO after reconnectMs; a server back later is used again', async (t) => {
  const s = await server(t);
  const port = s.port;
  const logs: string[] = [];
  const { dev } = await device(t, s, { reconnectMs: 300, logs });
  await s.close();
  const err = await t.throwsAsync(dev.read(0, [new Uint8Array(4096)]));
  t.true(isFsError(err, 'EIO'));
  t.regex(err!.message, /the server is unreachable/);
  t.regex(logs.join('\n'), /the server is gone .*failing 1 command\(s\) with EIO/);
  // Back on the same port: the next request reconnects.
  const again = new ScriptedServer();
  await again.listen(port);
  t.teardown(() => again.close());
  again.disk.set(pattern(4096, 1), 0);
  const b = new Uint8Array(4096);
  await dev.read(0, [b]);
  t.deepEqual(b, pattern(4096, 1));
});

test('a reply with an unknown handle is a protocol error: the connection is remade and the request retried', async (t) => {
  let bad = true;
  const s = await server(t, {
    onRequest: (r) => {
      if (bad) {
        bad = false;
        r.handle = 999n; // the reply is built from this request: an unknown handle
      }
      return 'ok';
    },
  });
  const logs: string[] = [];
  const { dev, stats } = await device(t, s, { logs });
  await dev.read(0, [new Uint8Array(4096)]);
  t.is(stats.c.nbd_reconnects, 1);
  t.regex(logs.join('\n'), /reply for unknown handle 999/);
});

test('nbd:// URLs', (t) => {
  t.deepEqual(parseNbdUrl('nbd://h:1234/exp%20a'), { host: 'h', port: 1234, exportName: 'exp a' });
  t.deepEqual(parseNbdUrl('nbd://127.0.0.1'), { host: '127.0.0.1', port: 10809, exportName: '' });
  t.deepEqual(parseNbdUrl('nbd://[::1]:5/x'), { host: '::1', port: 5, exportName: 'x' });
  t.throws(() => parseNbdUrl('http://h/'), { message: /only nbd:\/\// });
  t.throws(() => parseNbdUrl('nonsense'), { message: /not a URL/ });
});

test('mount side: a store larger than its export is refused in one line; the export size otherwise', async (t) => {
  const s = await server(t, { size: 2 << 20 });
  const sb = { format: 'aheadfs', version: 2, device: 'nbd', url: s.url, uuid: 'u', blockSize: 4096, createdAt: 'now' } as const;
  const err = await t.throwsAsync(openStoreDevice('/nonexistent', { ...sb, sizeBytes: 4 << 20 }, { stats: new Stats(), log: () => {} }));
  t.regex(err!.message, /^nbd:\/\/127\.0\.0\.1:\d+\/: the export holds 2097152 bytes, less than the store's 4194304$/);
  const logs: string[] = [];
  const dev = await openStoreDevice('/nonexistent', { ...sb, sizeBytes: 2 << 20 }, { stats: new Stats(), log: (m) => logs.push(m), nbd: { connections: 2, timeoutMs: 1000, reconnectMs: 1000 } });
  t.teardown(() => dev.close());
  t.is(dev.nrSectors, (2 << 20) / 512);
  t.regex(logs.join('\n'), /2097152 bytes, 2 connection\(s\), block sizes 512\/4096\/33554432, flush yes \(negotiated with NBD_OPT_GO\)/);
});
