import t from 'tap';
import { join } from 'node:path';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage } from '../helpers/browser.js';
import { decode, jpegSize } from '../helpers/media.js';
import { fetchOk, joinSegments, parseM3u8 } from '../helpers/playback.js';
import { publishRtmp, type Publisher } from '../helpers/publisher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let publisher: Publisher;
let streamId: string;
let base: string;

t.before(async () => {
  server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 10, ladderPreset: 'ultrafast' } });
  const stream = await server.createStream({ name: 'ladder', mode: 'ladder' });
  streamId = stream.id;
  publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 120, width: 854, height: 480, fps: 30, gop: 60 });
  await server.waitForStream(streamId, (v) => v.state === 'live');
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: streamId } })).json()) as { sources: { url: string }[] };
  base = session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', '');
});
t.teardown(async () => {
  await publisher?.stop();
  await server?.stop();
});

/** The playlist once segment `msn` is complete, stepping forward by blocking reloads the spec allows. */
async function playlistAfter(path: string, msn: number): Promise<string> {
  for (;;) {
    const text = await (await fetchOk(base + path)).text();
    const media = parseM3u8(text);
    const lastComplete = (media.mediaSequence ?? 0) + media.segments.length - 1;
    if (lastComplete >= msn) return text;
    await fetchOk(`${base}${path}?_HLS_msn=${Math.min(msn, lastComplete + 2)}`);
  }
}

t.test('ladder mode publishes renditions from the source down, never above it, cut at the same instants', async (t) => {
  const master = parseM3u8(await (await fetchOk(base + 'master.m3u8')).text());
  t.same(
    (master.playlists ?? []).map((p) => p.attributes.RESOLUTION),
    [{ width: 854, height: 480 }, { width: 640, height: 360 }],
    'a rendition per rung at or below the source',
  );
  t.same((master.playlists ?? []).map((p) => p.uri), ['v0-a0/index.m3u8', 'v1-a0/index.m3u8'], 'each rung carries the audio inside (HLS)');
  t.ok((master.playlists ?? []).every((p) => /mp4a\.40\.2/.test(String(p.attributes.CODECS))), 'and says so in CODECS');
  // Segment 1 complete in both: their parts and durations line up.
  const [top, low] = await Promise.all([playlistAfter('v0/index.m3u8', 2), playlistAfter('v1/index.m3u8', 2)]);
  const durations = (text: string) => parseM3u8(text).segments.map((s) => [s.uri, s.duration]);
  const shared = durations(top).filter(([uri]) => durations(low).some(([other]) => other === uri));
  t.ok(shared.length >= 2, 'both renditions list the same segment numbers');
  for (const [uri, duration] of shared) t.same(durations(low).find(([other]) => other === uri)?.[1], duration, `${uri} has the same duration in both`);
  const reports = parseM3u8(top).renditionReports ?? [];
  t.same(reports.map((r) => r.uri).sort(), ['../a0/index.m3u8', '../v1/index.m3u8'], 'rendition reports name every other rendition');
});

t.test('a ladder stream is offered only once every rung exists: the multivariant playlist fetched the instant it turns live lists them all, with distinct bandwidths', async (t) => {
  const stream = await server.createStream({ name: 'ladder at go-live', mode: 'ladder' });
  const master = new Promise<string>((resolve, reject) => {
    const onChange = (id: string, view: { state: string }) => {
      if (id !== stream.id || view.state !== 'live') return;
      server.streamEvents.off('change', onChange);
      // At once, as a viewer who joins at go-live would.
      void (async () => {
        const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } })).json()) as { sources: { url: string }[] };
        return (await fetchOk(session.sources[0]!.url.replace('localhost', '127.0.0.1'))).text();
      })().then(resolve, reject);
    };
    server.streamEvents.on('change', onChange);
  });
  const second = publishRtmp({ url: stream.ingest.rtmp, seconds: 60, width: 854, height: 480, fps: 30, gop: 60 });
  t.teardown(() => second.stop());
  const playlists = parseM3u8(await master).playlists ?? [];
  t.same(
    playlists.map((p) => p.attributes.RESOLUTION),
    [{ width: 854, height: 480 }, { width: 640, height: 360 }],
    'every rung is listed from the first moment',
  );
  const bandwidths = playlists.map((p) => Number(p.attributes.BANDWIDTH));
  t.ok(bandwidths[0]! > bandwidths[1]!, `bandwidth falls with the rung (${bandwidths.join(' > ')})`);
});

t.test('each ladder rendition decodes at its own size', async (t) => {
  for (const [id, size] of [['v0', [854, 480]], ['v1', [640, 360]]] as const) {
    const media = parseM3u8(await playlistAfter(`${id}/index.m3u8`, 3));
    const init = Buffer.from(await (await fetchOk(`${base}${id}/${media.segments[0]!.map!.uri}`)).arrayBuffer());
    const segments = await Promise.all(media.segments.slice(-2).map(async (s) => Buffer.from(await (await fetchOk(`${base}${id}/${s.uri}`)).arrayBuffer())));
    const decoded = decode(joinSegments(join(server.dataDir, `ladder-${id}.mp4`), init, segments));
    t.equal(decoded.errors, '', `${id} decodes cleanly`);
    t.same([decoded.width, decoded.height], size);
    t.ok(decoded.videoFrames >= 50, `${id}: two 1 s segments hold about 60 frames (${decoded.videoFrames})`);
  }
});

t.test('hls.js in low-latency mode plays the ladder', { skip: chromiumMissing }, async (t) => {
  const [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
  t.teardown(async () => {
    await browser.close();
    await pageServer.close();
  });
  const report = await playAndWait(browser, pageServer.url, { kind: 'hls', url: base + 'master.m3u8', config: { lowLatencyMode: true }, frames: 60, seconds: 2 });
  t.same(report.errors, []);
  t.ok(report.frames > 60, `frames decoded (${report.frames})`);
  t.ok([854, 640].includes(report.videoWidth), `a ladder rendition is shown (${report.videoWidth}x${report.videoHeight})`);
});

t.test('a ladder stream cuts its thumbnails from the source picture, named in the multivariant playlist and the MPD', async (t) => {
  await playlistAfter(`${parseM3u8(await (await fetchOk(base + 'master.m3u8')).text()).playlists![0]!.uri}`, 2);
  const master = await (await fetchOk(base + 'master.m3u8')).text();
  t.match(master, /#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=\d+,RESOLUTION=320x180,CODECS="jpeg",URI="tiles\/images\.m3u8"/);
  const images = parseM3u8(await (await fetchOk(base + 'tiles/images.m3u8')).text());
  const jpeg = Buffer.from(await (await fetchOk(`${base}tiles/${images.segments.at(-1)!.uri}`)).arrayBuffer());
  t.same(jpegSize(jpeg), { width: 320, height: 180 }, 'a tile at the 854×480 source aspect');
  t.match(await (await fetchOk(base + 'manifest.mpd')).text(), /contentType="image"/);
});
