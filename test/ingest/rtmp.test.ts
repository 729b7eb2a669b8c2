import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { craftedChunkHeaders, garbageAfterHandshake, handshakeBytes, heldMessage, publisherOpening, sendRaw } from '../../scripts/lib/rtmp-abuse.js';
import { startViewer } from '../../scripts/lib/llhls-viewer.js';
import { residentBytes, startWeirProcess, weirApi } from '../../scripts/lib/weir-process.js';
import { publishRtmp } from '../helpers/publisher.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

const live = { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 10, stallTimeoutSeconds: 5, reconnectWindowSeconds: 1 };
const rtmpPortOf = (url: string) => Number(new URL(url.replace('rtmp:', 'http:')).port);

t.test('two servers in one process each act only on the RTMP publishers their own listener accepted', async (t) => {
  // node-media-server announces every session on one process-wide emitter.
  const [first, second] = await Promise.all([startTestServer({ live }), startTestServer({ live })]);
  t.teardown(async () => {
    await first.stop();
    await second.stop();
  });
  const [a, b] = await Promise.all([first.createStream({ name: 'on the first' }), second.createStream({ name: 'on the second' })]);
  const publishers = [publishRtmp({ url: a.ingest.rtmp, seconds: 30 }), publishRtmp({ url: b.ingest.rtmp, seconds: 30 })];
  t.teardown(() => Promise.all(publishers.map((p) => p.stop())));
  await Promise.all([first.waitForStream(a.id, (v) => v.state === 'live', 20_000), second.waitForStream(b.id, (v) => v.state === 'live', 20_000)]);
  t.pass('both streams went live, neither refused by the other server');
  t.ok(publishers.every((p) => p.child.exitCode === null), 'both publishers are still connected');
});

t.test('connections that never handshake or never publish are closed on time, and too many at once are refused', { timeout: 60_000 }, async (t) => {
  const server = await startTestServer({ live, rtmp: { port: 0, handshakeTimeoutSeconds: 1, publishTimeoutSeconds: 2, maxPendingPerAddress: 4, maxPending: 100 } });
  t.teardown(() => server.stop());
  const stream = await server.createStream();
  const port = rtmpPortOf(stream.ingest.rtmp);

  const silent = Array.from({ length: 4 }, () => sendRaw(port, Buffer.alloc(0)));
  await Promise.all(silent.map((c) => c.written));
  const extra = sendRaw(port, Buffer.alloc(0));
  await extra.closed;
  t.pass('a fifth pending connection from the same address is closed at once');
  await Promise.all(silent.map((c) => c.closed));
  t.pass('connections that never send a handshake are closed');

  const idle = Array.from({ length: 3 }, () => sendRaw(port, handshakeBytes()));
  await Promise.all(idle.map((c) => c.closed));
  t.pass('connections that handshake but never publish are closed');

  const publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 30 });
  t.teardown(() => publisher.stop());
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const more = Array.from({ length: 4 }, () => sendRaw(port, Buffer.alloc(0)));
  await Promise.all(more.map((c) => c.written));
  t.equal(publisher.child.exitCode, null, 'a publishing connection no longer counts against the pending limit, and is not cut');
  await Promise.all(more.map((c) => c.closed));
  const logged = (pattern: RegExp) => waitUntil(() => pattern.test(readFileSync(server.logFile, 'utf8')), `${pattern.source} in the log`);
  await logged(/no handshake within 1 s/);
  await logged(/not publishing after 2 s/);
  t.pass('both closes are logged with their reasons');
});

t.test('protocol violations close the connection before node-media-server allocates for them', { timeout: 60_000 }, async (t) => {
  // Long deadlines: a close here can only come from the guard.
  const server = await startTestServer({ live, rtmp: { port: 0, handshakeTimeoutSeconds: 60, publishTimeoutSeconds: 60, maxPendingPerAddress: 100, maxPending: 100 } });
  t.teardown(() => server.stop());
  const port = rtmpPortOf((await server.createStream()).ingest.rtmp);
  const cases = {
    'a wrong handshake version': garbageAfterHandshake(port, 10, false).closed,
    'random bytes after the handshake': garbageAfterHandshake(port, 64 * 1024).closed,
    'chunk headers declaring 16 MiB messages': sendRaw(port, Buffer.concat([handshakeBytes(), craftedChunkHeaders(700)])).closed,
    'a message before publishing larger than a command needs': sendRaw(port, Buffer.concat([handshakeBytes(), craftedChunkHeaders(1, 100_000)])).closed,
    'a continuation header on a new chunk stream': sendRaw(port, Buffer.concat([handshakeBytes(), Buffer.from([0xc5, 1, 2, 3])])).closed,
  };
  for (const [name, closed] of Object.entries(cases)) {
    await closed;
    t.pass(`${name}: closed`);
  }
  // The log is written behind: wait for the line rather than read before it lands.
  await waitUntil(() => /RTMP protocol violation/.test(readFileSync(server.logFile, 'utf8')), 'the protocol violation in the log');
  t.notMatch(readFileSync(server.logFile, 'utf8'), /"level":50/, 'nothing reached the error log');
});

t.test('an encoder that sends its first keyframe right behind publish, without waiting for the answer, is not cut', { timeout: 60_000 }, async (t) => {
  const server = await startTestServer({ live });
  t.teardown(() => server.stop());
  const stream = await server.createStream();
  const eager = sendRaw(rtmpPortOf(stream.ingest.rtmp), publisherOpening(stream.streamKey, 300_000));
  t.teardown(() => eager.socket.destroy());
  await server.waitForStream(stream.id, (v) => v.state !== 'idle');
  await eager.written;
  t.notOk(eager.socket.destroyed, 'the connection is still open');
  await waitUntil(() => readFileSync(server.logFile, 'utf8').includes('publisher started'), 'the log line of the start');
  const log = readFileSync(server.logFile, 'utf8');
  t.notMatch(log, /protocol violation/, 'the 300 kB keyframe was read with the limits of a publisher');

  const stranger = sendRaw(rtmpPortOf(stream.ingest.rtmp), publisherOpening('NotAKeyOfThisServer0000', 300_000));
  await stranger.closed;
  t.pass('the same bytes with an unknown key are refused and closed');
});

t.test('refused publishers are told why in an RTMP status, and no log line shows a stream key', { timeout: 90_000 }, async (t) => {
  const server = await startTestServer({ live });
  t.teardown(() => server.stop());
  const stream = await server.createStream();
  const wrongKey = publishRtmp({ url: stream.ingest.rtmp.replace(stream.streamKey, 'NotTheKeyAtAllXYZ12345'), seconds: 10 });
  t.not(await wrongKey.exited, 0);
  t.match(wrongKey.stderr(), /Publish refused: unknown or reset stream key \(PUBLISH_KEY_UNKNOWN\)/, 'ffmpeg prints the reason and its code');

  const first = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
  t.teardown(() => first.stop());
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const second = publishRtmp({ url: stream.ingest.rtmp, seconds: 10 });
  t.not(await second.exited, 0);
  t.match(second.stderr(), /Publish refused: the stream is already being published \(PUBLISH_CONFLICT\)/);
  t.equal(first.child.exitCode, null, 'the first publisher carries on');

  const wrongApp = publishRtmp({ url: stream.ingest.rtmp.replace('/live/', '/other/'), seconds: 10 });
  t.not(await wrongApp.exited, 0);
  t.match(wrongApp.stderr(), /Publish refused: unknown application.*\(PUBLISH_APP_UNKNOWN\)/);

  const log = readFileSync(server.logFile, 'utf8');
  t.match(log, /refused RTMP publish/);
  for (const form of [stream.streamKey, stream.streamKey.toUpperCase(), stream.streamKey.toLowerCase()]) {
    t.notOk(log.includes(form), 'the stream key appears in no case, from neither logger');
  }
});

t.test('RTMP garbage and crafted chunk headers leave memory bounded while a publisher and a viewer carry on', { timeout: 120_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-rtmp-abuse-'));
  const server = await startWeirProcess(dataDir, ['--live-segment-seconds', '1', '--live-part-ms', '200'], 'abuse-test-token');
  t.teardown(async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const stream = await weirApi<{ id: string; streamKey: string }>(server, '/v1/live-streams', { name: 'abused' });
  const publisher = publishRtmp({ url: `rtmp://127.0.0.1:${server.rtmpPort}/live/${stream.streamKey}`, seconds: 90 });
  t.teardown(() => publisher.stop());
  await waitUntil(async () => (await weirApi<{ state: string }>(server, `/v1/live-streams/${stream.id}`)).state === 'live', 'the stream going live', 30_000);
  const session = await weirApi<{ sources: { protocol: string; url: string }[] }>(server, '/v1/playback-sessions', { contentId: stream.id });
  const master = session.sources.find((s) => s.protocol === 'hls')!.url.replace('localhost', '127.0.0.1');
  const viewer = startViewer({ playlistUrl: master.replace('master.m3u8', 'v0/index.m3u8'), lateAfterMs: 2_000 });
  t.teardown(() => viewer.stop());
  await waitUntil(() => viewer.stats.parts >= 10, 'the viewer receiving parts', 30_000);

  const pid = server.child.pid!;
  const before = residentBytes(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, residentBytes(pid))), 50);
  t.teardown(() => clearInterval(sampler));
  const partsBefore = viewer.stats.parts;
  // What took the process from ~95 MB to ~720 MB before the guard, and bytes sent to be held
  // in a message that never completes (1 GiB declared in all, 80 MiB sent).
  const attack = [
    ...Array.from({ length: 30 }, () => garbageAfterHandshake(server.rtmpPort, 64 * 1024)),
    ...Array.from({ length: 30 }, () => sendRaw(server.rtmpPort, Buffer.concat([handshakeBytes(), craftedChunkHeaders(700)]))),
    ...Array.from({ length: 20 }, () => sendRaw(server.rtmpPort, Buffer.concat([handshakeBytes(), heldMessage(0xffffff, 4 * 2 ** 20)]))),
  ];
  let closedByServer = 0;
  await Promise.all(attack.map((c) => c.written));
  await waitUntil(() => attack.every((c) => c.socket.destroyed), 'the server closing every hostile connection', 15_000).catch(() => {});
  closedByServer = attack.filter((c) => c.socket.destroyed).length;
  const health = await fetch(`${server.url}/healthz`);
  await waitUntil(() => viewer.stats.parts >= partsBefore + 10, 'the viewer receiving more parts after the attack', 30_000);
  clearInterval(sampler);
  const grew = (peak - before) / 2 ** 20;
  t.ok(grew < 48, `resident memory grew ${grew.toFixed(1)} MiB at most (bound 48 MiB; ${(before / 2 ** 20).toFixed(0)} MiB before)`);
  t.equal(closedByServer, attack.length, 'the server closed every hostile connection');
  t.equal(health.status, 200, 'the health check answered during the attack');
  t.equal(publisher.child.exitCode, null, 'the publisher is still connected');
  t.equal(viewer.stats.missed, 0, 'the viewer missed no part');
  t.same(viewer.stats.errors, [], 'and saw no error');
});
