import t from 'tap';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { decode } from '../helpers/media.js';
import { fetchOk, joinSegments, parseM3u8 } from '../helpers/playback.js';
import { publishRtmp } from '../helpers/publisher.js';
import { publishSrt, publishWithSrtLiveTransmit, srtPeersMissing } from '../helpers/srt-peers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

if (srtPeersMissing) {
  t.plan(0, srtPeersMissing);
} else {
  let server: TestServer;
  t.before(async () => {
    server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 2 } });
  });
  t.teardown(() => server?.stop());

  const srtUrl = (ingest: { srt: string }) => ingest.srt.replace('localhost', '127.0.0.1');

  async function playlistOf(id: string) {
    const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: id } })).json()) as { sources: { url: string }[] };
    return session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', 'v0/index.m3u8');
  }

  async function decodedTail(playlistUrl: string): Promise<ReturnType<typeof decode>> {
    for (;;) {
      const media = parseM3u8(await (await fetchOk(playlistUrl)).text());
      if (media.segments.length >= 3) {
        const init = Buffer.from(await (await fetchOk(new URL(media.segments[0]!.map!.uri, playlistUrl).href)).arrayBuffer());
        const segments = await Promise.all(media.segments.slice(-2).map(async (s) => Buffer.from(await (await fetchOk(new URL(s.uri, playlistUrl).href)).arrayBuffer())));
        return decode(joinSegments(join(server.dataDir, `srt-${Math.random()}.mp4`), init, segments));
      }
      const last = (media.mediaSequence ?? 0) + media.segments.length - 1;
      await fetchOk(`${playlistUrl}?_HLS_msn=${last + 1}`);
    }
  }

  t.test('ffmpeg with libsrt publishes over SRT and the stream goes live as LL-HLS', async (t) => {
    const stream = await server.createStream({ name: 'srt ffmpeg' });
    t.match(stream.ingest.srt, /^srt:\/\/[^:/]+:\d+\?streamid=[A-Za-z0-9_-]+$/, 'the stream offers a ready-to-paste srt:// URL');
    const publisher = publishSrt(srtUrl(stream.ingest));
    t.teardown(() => publisher.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const decoded = await decodedTail(await playlistOf(stream.id));
    t.equal(decoded.errors, '', 'segments decode cleanly');
    t.same([decoded.width, decoded.height], [640, 360]);
    t.ok(decoded.videoFrames >= 50, `two 1 s segments hold about 60 frames (${decoded.videoFrames})`);
  });

  t.test('srt-live-transmit publishes too', async (t) => {
    const stream = await server.createStream({ name: 'srt-live-transmit' });
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const port = udp.address().port;
    udp.close();
    const { feeder, transmit } = publishWithSrtLiveTransmit(srtUrl(stream.ingest), port);
    t.teardown(async () => {
      feeder.kill('SIGKILL');
      await transmit.stop();
    });
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const decoded = await decodedTail(await playlistOf(stream.id));
    t.equal(decoded.errors, '');
    t.ok(decoded.videoFrames >= 50);
  });

  t.test('an unknown key, a key being published over RTMP, and m=request are refused at the handshake', async (t) => {
    const stream = await server.createStream({ name: 'refusals' });
    const unknown = publishSrt(srtUrl(stream.ingest).replace(stream.streamKey, 'not-a-key'), 5);
    t.not(await unknown.exited, 0, 'ffmpeg with an unknown key fails to connect');
    const rtmp = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
    t.teardown(() => rtmp.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const duplicate = publishSrt(srtUrl(stream.ingest), 5);
    t.not(await duplicate.exited, 0, 'a second publisher over SRT is refused while RTMP publishes');
    t.equal(rtmp.child.exitCode, null, 'the RTMP publisher is untouched');
    const request = publishSrt(srtUrl(stream.ingest).replace(`streamid=${stream.streamKey}`, `streamid=%23!%3A%3Ar%3D${stream.streamKey}%2Cm%3Drequest`), 5);
    t.not(await request.exited, 0, 'm=request is refused (Weir does not serve SRT playback)');
  });

  t.test('random datagrams at the SRT port harm nobody', async (t) => {
    const stream = await server.createStream({ name: 'fuzzed' });
    const publisher = publishSrt(srtUrl(stream.ingest));
    t.teardown(() => publisher.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const port = Number(/:(\d+)\?/.exec(srtUrl(stream.ingest))![1]);
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
