import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage } from '../helpers/browser.js';
import { decode, tools } from '../helpers/media.js';
import { fetchOk, joinSegments, parseM3u8 } from '../helpers/playback.js';
import { publishRtmp } from '../helpers/publisher.js';
import { freeUdpPort, publishSrt, publishWithSrtLiveTransmit, srtFfmpeg, srtPeersMissing } from '../helpers/srt-peers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startUdpRelay } from '../helpers/udp-relay.js';

if (srtPeersMissing) {
  t.plan(0, srtPeersMissing);
} else {
  let server: TestServer;
  t.before(async () => {
    server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 2 } });
  });
  t.teardown(() => server?.stop());

  const playlistOf = (id: string) => playlistFor(server, id);
  const decodedTail = (url: string) => decodedTailOf(server, url);

  t.test('ffmpeg with libsrt publishes over SRT and the stream goes live as LL-HLS', async (t) => {
    const stream = await server.createStream({ name: 'srt ffmpeg' });
    t.match(stream.ingest.srt, /^srt:\/\/[^:/]+:\d+\?streamid=[A-Za-z0-9_-]+$/, 'the stream offers a ready-to-paste srt:// URL');
    const publisher = publishSrt(stream.ingest.srt);
    t.teardown(() => publisher.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const decoded = await decodedTail(await playlistOf(stream.id));
    const resource = (await (await server.api(`/v1/live-streams/${stream.id}`)).json()) as { live: { connection: Record<string, number> } };
    t.match(resource.live.connection, { packetsReceived: Number, packetsLost: Number, packetsRetransmitted: Number, packetsDropped: Number, rttMs: Number, bitrateKbps: Number }, 'the stream resource shows the SRT connection statistics');
    t.ok(resource.live.connection.packetsReceived! > 100 && resource.live.connection.bitrateKbps! > 100);
    t.equal(decoded.errors, '', 'segments decode cleanly');
    t.same([decoded.width, decoded.height], [640, 360]);
    t.ok(decoded.videoFrames >= 50, `two 1 s segments hold about 60 frames (${decoded.videoFrames})`);
  });

  t.test('srt-live-transmit publishes too', async (t) => {
    const stream = await server.createStream({ name: 'srt-live-transmit' });
    const { feeder, transmit } = publishWithSrtLiveTransmit(stream.ingest.srt, await freeUdpPort());
    t.teardown(async () => {
      feeder.kill('SIGKILL');
      await transmit.stop();
    });
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const decoded = await decodedTail(await playlistOf(stream.id));
    t.equal(decoded.errors, '');
    t.ok(decoded.videoFrames >= 50);
  });

  t.test('a stream id that the client percent-encoded goes live', async (t) => {
    const stream = await server.createStream({ name: 'percent-encoded id' });
    const publisher = publishSrt(stream.ingest.srt.replace(`streamid=${stream.streamKey}`, `streamid=%23!%3A%3Ar%3D${stream.streamKey}%2Cm%3Dpublish`), 30);
    t.teardown(() => publisher.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    t.pass('Debian ffmpeg passes the encoded id through as it is, and Weir decodes it');
  });

  t.test('an unknown key, a key being published over RTMP, and m=request are refused at the handshake', async (t) => {
    const stream = await server.createStream({ name: 'refusals' });
    const unknown = publishSrt(stream.ingest.srt.replace(stream.streamKey, 'not-a-key'), 5);
    t.not(await unknown.exited, 0, 'ffmpeg with an unknown key fails to connect');
    const rtmp = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
    t.teardown(() => rtmp.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const duplicate = publishSrt(stream.ingest.srt, 5);
    t.not(await duplicate.exited, 0, 'a second publisher over SRT is refused while RTMP publishes');
    t.equal(rtmp.child.exitCode, null, 'the RTMP publisher is untouched');
    const request = publishSrt(stream.ingest.srt.replace(`streamid=${stream.streamKey}`, `streamid=%23!%3A%3Ar%3D${stream.streamKey}%2Cm%3Drequest`), 5);
    t.not(await request.exited, 0, 'm=request is refused (Weir does not serve SRT playback)');
  });

  t.test('random datagrams at the SRT port harm nobody', async (t) => {
    const stream = await server.createStream({ name: 'fuzzed' });
    const publisher = publishSrt(stream.ingest.srt);
    t.teardown(() => publisher.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const port = Number(/:(\d+)\?/.exec(stream.ingest.srt)![1]);
    const socket = createSocket('udp4');
    for (let i = 0; i < 10_000; i++) {
      const size = 1 + ((i * 7919) % 1500);
      const datagram = Buffer.alloc(size);
      for (let j = 0; j < size; j++) datagram[j] = (i * 31 + j * 17) & 0xff;
      if (i % 3 === 0 && size >= 16) datagram.writeUInt32BE(0x80000000, 0); // shaped like a handshake
      socket.send(datagram, port, '127.0.0.1');
    }
    socket.close();
    t.equal((await server.api('/readyz', { admin: false })).status, 200, 'the server is fine');
    const decoded = await decodedTail(await playlistOf(stream.id));
    t.equal(decoded.errors, '', 'the live publisher is unaffected');
  });
}

if (!srtPeersMissing) {
  t.test('encrypted SRT: 16, 24 and 32-byte keys work; wrong or one-sided passphrases are refused', async (t) => {
    const server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 1 } });
    t.teardown(() => server.stop());
    // ffmpeg passes SRT URL options through without URL-decoding them: no spaces.
    const passphrase = 'correcthorsebattery';
    for (const keyLength of [16, 24, 32]) {
      const stream = await server.createStream({ name: `aes-${keyLength * 8}`, srtPassphrase: passphrase });
      const publisher = publishSrt(stream.ingest.srt, 30, `&passphrase=${encodeURIComponent(passphrase)}&pbkeylen=${keyLength}`);
      await server.waitForStream(stream.id, (v) => v.state === 'live');
      t.pass(`AES-${keyLength * 8} goes live`);
      await publisher.stop();
    }
    const stream = await server.createStream({ name: 'guarded', srtPassphrase: passphrase });
    t.not(await publishSrt(stream.ingest.srt, 5, '&passphrase=wrongpassphrase&pbkeylen=16').exited, 0, 'a wrong passphrase is refused');
    t.not(await publishSrt(stream.ingest.srt, 5).exited, 0, 'no passphrase on a protected stream is refused');
    const clear = await server.createStream({ name: 'clear' });
    t.not(await publishSrt(clear.ingest.srt, 5, `&passphrase=${encodeURIComponent(passphrase)}`).exited, 0, 'a passphrase on a clear stream is refused');
    const log = (await import('node:fs')).readFileSync(server.logFile, 'utf8');
    t.match(log, /"code":1010,"reason":"wrong passphrase"/, 'the wrong passphrase got the bad-secret answer');
    t.notOk(log.includes(passphrase), 'the passphrase is never logged');
  });

  t.test('an SRT passphrase is checked for length, never shown, and replaced or removed by a key reset', async (t) => {
    const server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 1 } });
    t.teardown(() => server.stop());
    for (const bad of ['short', 'x'.repeat(80)]) {
      const response = await server.api('/v1/live-streams', { method: 'POST', json: { name: 'bad', srtPassphrase: bad } });
      const body = (await response.json()) as { error: { code: string; message: string } };
      t.equal(response.status, 400);
      t.equal(body.error.code, 'VALIDATION_FAILED');
      t.match(body.error.message, /srtPassphrase/, `a ${bad.length}-character passphrase is refused, naming the field`);
    }
    const first = 'firstpassphrase1';
    const second = 'secondpassphrase2';
    const stream = await server.createStream({ name: 'rotating secrets', srtPassphrase: first });
    const shown = JSON.stringify(await (await server.api(`/v1/live-streams/${stream.id}`)).json());
    t.match(JSON.parse(shown), { srtEncrypted: true });
    t.notOk(shown.includes(first), 'the passphrase is not in the stream resource');
    const reset = async (body: unknown) => (await (await server.api(`/v1/live-streams/${stream.id}/reset-key`, { method: 'POST', json: body })).json()) as { ingest: { srt: string }; srtEncrypted: boolean };

    const renewed = await reset({ srtPassphrase: second });
    t.not(await publishSrt(renewed.ingest.srt, 5, `&passphrase=${first}`).exited, 0, 'after a reset the old passphrase is refused');
    const publisher = publishSrt(renewed.ingest.srt, 30, `&passphrase=${second}`);
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    t.pass('and the new one publishes');
    await publisher.stop();
    await server.waitForStream(stream.id, (v) => v.state !== 'live');

    const cleared = await reset({ srtPassphrase: null });
    t.equal(cleared.srtEncrypted, false, 'a reset with null makes SRT clear');
    const clear = publishSrt(cleared.ingest.srt, 30);
    t.teardown(() => clear.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    t.pass('and a clear publisher is accepted');
  });

  t.test('forced key refreshes on an encrypted stream cause no decryption failure', async (t) => {
    const server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 1 } });
    t.teardown(() => server.stop());
    const passphrase = 'refreshmeoftenplease';
    const stream = await server.createStream({ name: 'refreshing', srtPassphrase: passphrase });
    // A new key every 500 packets (announced 100 ahead): several refreshes in a dozen seconds.
    const publisher = publishSrt(stream.ingest.srt, 12, `&passphrase=${encodeURIComponent(passphrase)}&kmrefreshrate=500&kmpreannounce=100`);
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    t.equal(await publisher.exited, 0, 'the publisher sent its 12 s without trouble');
    const closed = await waitForLine(server.logFile, /SRT publisher closed/);
    const stats = JSON.parse(closed) as { keyRefreshes: number; decryptionFailures: number };
    t.ok(stats.keyRefreshes >= 2, `keys were refreshed in-stream (${stats.keyRefreshes})`);
    t.equal(stats.decryptionFailures, 0, 'and no packet failed to decrypt');
  });
}

/** The first log line matching a pattern, once it has been written (followed by the file). */
async function waitForLine(path: string, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const { readFileSync, watch } = await import('node:fs');
  const find = () => readFileSync(path, 'utf8').split('\n').find((line) => pattern.test(line));
  return new Promise((resolve, reject) => {
    const found = find();
    if (found) return resolve(found);
    const watcher = watch(path, () => {
      const line = find();
      if (!line) return;
      watcher.close();
      clearTimeout(timer);
      resolve(line);
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`no log line matching ${pattern}`));
    }, timeoutMs);
  });
}

if (!srtPeersMissing) {
  t.test('through a lossy relay: 5 % loss is repaired, 10 % stays playable, a 3 s blackhole recovers, after a 6 s one both sides time out and the stream awaits its publisher', async (t) => {
    const server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 10, reconnectWindowSeconds: 30 }, srt: { port: 0, latencyMs: 400 } });
    t.teardown(() => server.stop());
    const stream = await server.createStream({ name: 'lossy' });
    const listener = new URL(stream.ingest.srt.replace('srt://', 'http://'));
    const relay = await startUdpRelay({ host: '127.0.0.1', port: Number(listener.port) });
    t.teardown(() => relay.close());
    const publisher = publishSrt(`srt://127.0.0.1:${relay.port}?streamid=${stream.streamKey}`, 90, '&latency=400000');
    t.teardown(() => publisher.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');

    relay.loss = 0.05;
    relay.duplicate = 0.01;
    const stats = async () => ((await (await server.api(`/v1/live-streams/${stream.id}`)).json()) as { state: string; live: { connection: Record<string, number> } | null });
    const lossyFrom = (await stats()).live!.connection.packetsReceived!;
    // Let a few hundred packets cross the lossy link, waiting on the counter rather than a clock.
    while ((await stats()).live!.connection.packetsReceived! < lossyFrom + 600) await fetchOk(`${server.url}/healthz`);
    relay.loss = 0;
    relay.duplicate = 0;
    const after = (await stats()).live!.connection;
    t.ok(relay.dropped > 10, `the relay dropped packets (${relay.dropped})`);
    t.ok(after.packetsRetransmitted! > 0, `the sender retransmitted what was NAKed (${after.packetsRetransmitted})`);
    t.equal(after.continuityErrors, 0, 'and the transport stream arrived without a gap (no continuity errors)');
    const decoded = await decodedTailOf(server, await playlistFor(server, stream.id));
    t.equal(decoded.errors, '', 'what was published decodes cleanly');

    // 10 % loss with some reordering: the stream stays playable.
    relay.loss = 0.1;
    relay.reorder = 0.02;
    const harderFrom = (await stats()).live!.connection.packetsReceived!;
    const playlist = await playlistFor(server, stream.id);
    const lastSegment = (media: ReturnType<typeof parseM3u8>) => (media.mediaSequence ?? 0) + media.segments.length - 1;
    const lastBefore = lastSegment(parseM3u8(await (await fetchOk(playlist)).text()));
    while ((await stats()).live!.connection.packetsReceived! < harderFrom + 1200) await fetchOk(`${server.url}/healthz`);
    const harder = await decodedTailOf(server, playlist);
    relay.loss = 0;
    relay.reorder = 0;
    // The two decoded segments follow the one that was open when the loss began.
    t.ok(harder.firstSegment >= lastBefore + 2, `the decoded segments were cut entirely while the link lost 10 % (from ${harder.firstSegment}, after ${lastBefore})`);
    t.equal((await stats()).state, 'live', 'at 10 % loss the stream stays live');
    t.equal(harder.errors, '', 'and the segments cut meanwhile decode cleanly');
    t.ok(harder.videoFrames >= 50, `with their frames (${harder.videoFrames})`);
    t.comment(`at 10 % loss: ${relay.dropped} datagrams dropped in all, ${relay.reordered} reordered, continuity errors ${(await stats()).live!.connection.continuityErrors}`);

    relay.blackhole = true;
    const dark = Date.now();
    while (Date.now() - dark < 3000) await fetchOk(`${server.url}/healthz`);
    relay.blackhole = false;
    const before = (await stats()).live!.connection.packetsReceived!;
    while ((await stats()).live!.connection.packetsReceived! < before + 100) await fetchOk(`${server.url}/healthz`);
    t.equal((await stats()).state, 'live', 'after a 3 s blackhole the same connection carries on');

    relay.blackhole = true;
    await server.waitForStream(stream.id, (v) => v.state === 'reconnecting', 15_000);
    t.pass('after more than 5 s of silence the listener timed out and the stream awaits its publisher');
    const exit = await Promise.race([publisher.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 15_000))]);
    t.ok(exit !== 'running' && exit !== 0, `the caller timed out too and ffmpeg gave up with an error (exit ${String(exit)})`);
  });
}

async function playlistFor(server: TestServer, id: string): Promise<string> {
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: id } })).json()) as { sources: { url: string }[] };
  return session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', 'v0/index.m3u8');
}

/** Decodes the newest two segments once three are complete. */
async function decodedTailOf(server: TestServer, playlistUrl: string): Promise<ReturnType<typeof decode> & { firstSegment: number }> {
  for (;;) {
    const media = parseM3u8(await (await fetchOk(playlistUrl)).text());
    if (media.segments.length >= 3) {
      const init = Buffer.from(await (await fetchOk(new URL(media.segments[0]!.map!.uri, playlistUrl).href)).arrayBuffer());
      const segments = await Promise.all(media.segments.slice(-2).map(async (seg) => Buffer.from(await (await fetchOk(new URL(seg.uri, playlistUrl).href)).arrayBuffer())));
      const firstSegment = (media.mediaSequence ?? 0) + media.segments.length - 2;
      return { ...decode(joinSegments(join(server.dataDir, `srt-${Math.random()}.mp4`), init, segments)), firstSegment };
    }
    const last = (media.mediaSequence ?? 0) + media.segments.length - 1;
    await fetchOk(`${playlistUrl}?_HLS_msn=${last + 1}`);
  }
}

if (!srtPeersMissing) {
  t.test('20 publishers at once on the one SRT port all go live; a duplicate key is refused without harm', async (t) => {
    const server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 10, stallTimeoutSeconds: 10, reconnectWindowSeconds: 5 } });
    t.teardown(() => server.stop());
    // One short encode, then stream copies: twenty encoders would not fit on this machine.
    const ts = join(server.dataDir, 'feed.ts');
    execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '4', '-c:v', 'libx264', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', ts]);
    const streams = await Promise.all(Array.from({ length: 20 }, (_, i) => server.createStream({ name: `feed ${i}` })));
    const publishers = streams.map((stream) =>
      spawn(srtFfmpeg, ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', ts, '-c', 'copy', '-f', 'mpegts', `${stream.ingest.srt}&latency=200000`], { stdio: 'ignore' }),
    );
    t.teardown(() => publishers.forEach((p) => p.kill('SIGKILL')));
    await Promise.all(streams.map((stream) => server.waitForStream(stream.id, (v) => v.state === 'live', 60_000)));
    t.pass('all 20 streams are live');
    const first = streams[0]!;
    const duplicate = publishSrt(first.ingest.srt, 5);
    t.not(await duplicate.exited, 0, 'a second publisher on a live key is refused');
    t.equal(publishers[0]!.exitCode, null, 'the first publisher is still connected');
    const decoded = await decodedTailOf(server, await playlistFor(server, first.id));
    t.equal(decoded.errors, '', 'and its stream still decodes cleanly');
  });
}

if (!srtPeersMissing && !chromiumMissing) {
  t.test('hls.js in low-latency mode plays streams published over SRT by ffmpeg and by srt-live-transmit', async (t) => {
    const server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 5 } });
    t.teardown(() => server.stop());
    const [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
    t.teardown(async () => {
      await browser.close();
      await pageServer.close();
    });
    const publishers = {
      ffmpeg: async (url: string) => publishSrt(url),
      'srt-live-transmit': async (url: string) => {
        const { feeder, transmit } = publishWithSrtLiveTransmit(url, await freeUdpPort());
        return {
          stop: async () => {
            feeder.kill('SIGKILL');
            await transmit.stop();
          },
        };
      },
    };
    for (const [peer, publish] of Object.entries(publishers)) {
      const stream = await server.createStream({ name: `${peer} in the browser` });
      const publisher = await publish(stream.ingest.srt);
      t.teardown(() => publisher.stop());
      await server.waitForStream(stream.id, (v) => v.state === 'live');
      const master = (await playlistFor(server, stream.id)).replace('v0/index.m3u8', 'master.m3u8');
      const report = await playAndWait(browser, pageServer.url, { kind: 'hls', url: master, config: { lowLatencyMode: true }, frames: 90, seconds: 3 });
      t.same(report.errors, [], `${peer}: no player errors`);
      t.ok(report.frames > 90, `${peer}: frames decoded (${report.frames})`);
      t.same([report.videoWidth, report.videoHeight], [640, 360]);
    }
  });
}

if (!srtPeersMissing) {
  t.test('a stream published over RTMP continues over SRT: same ladder, same playlist after a discontinuity, one archive', async (t) => {
    const server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 60, stallTimeoutSeconds: 5, reconnectWindowSeconds: 5, ladderPreset: 'ultrafast' } });
    t.teardown(() => server.stop());
    const stream = await server.createStream({ name: 'Two protocols', mode: 'ladder', archive: true, reconnectWindowSeconds: 4 });
    const rtmp = publishRtmp({ url: stream.ingest.rtmp, seconds: 60, width: 854, height: 480, fps: 30, gop: 60 });
    t.teardown(() => rtmp.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const playlist = await playlistFor(server, stream.id);
    const low = playlist.replace('v0/index.m3u8', 'v1/index.m3u8');
    const overRtmp = await decodedTailOf(server, low);
    t.same([overRtmp.width, overRtmp.height], [640, 360], 'over RTMP the ladder has a 360p rung');

    await rtmp.stop();
    await server.waitForStream(stream.id, (v) => v.state === 'reconnecting');
    const srt = publishSrt(stream.ingest.srt, 60, '', '854x480');
    t.teardown(() => srt.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    let overSrt = await decodedTailOf(server, low);
    while (overSrt.firstSegment <= overRtmp.firstSegment + 3) overSrt = await decodedTailOf(server, low);
    t.equal(overSrt.errors, '', 'the same rung decodes cleanly once the SRT publisher feeds it');
    t.same([overSrt.width, overSrt.height], [640, 360]);
    const text = await (await fetchOk(low)).text();
    t.match(text, /#EXT-X-DISCONTINUITY/, 'the switch of publisher is a discontinuity in the same playlist');
    t.ok(overSrt.firstSegment > overRtmp.firstSegment, `segment numbers keep counting (${overRtmp.firstSegment} → ${overSrt.firstSegment})`);

    // Resetting the key cuts the SRT publisher (the listener sends SHUTDOWN); after the window the broadcast is archived.
    await server.api(`/v1/live-streams/${stream.id}/reset-key`, { method: 'POST' });
    t.not(await srt.exited, 0, 'the SRT publisher is told to go away by the key reset');
    const ended = await server.waitForStream(stream.id, (v) => v.archiveTitleIds.length > 0, 30_000);
    const view = await server.waitForTitle(ended.archiveTitleIds[0]!, (v) => v.state === 'ready' || v.state === 'failed');
    t.equal(view.state, 'ready', `the archive title is ready${view.error ? ` (${view.error.code})` : ''}`);
    t.same([view.facts?.video.width, view.facts?.video.height], [854, 480], 'the archive is recorded from the top rung');
    t.ok(view.facts!.durationMs > 4000, `and holds both parts of the broadcast (${view.facts?.durationMs} ms)`);
  });
}
