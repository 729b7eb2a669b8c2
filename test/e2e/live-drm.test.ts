import t from 'tap';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage, type PlayerPageServer } from '../helpers/browser.js';
import { decodeJpeg, jpegSize } from '../helpers/media.js';
import { fetchOk, parseM3u8 } from '../helpers/playback.js';
import { publishRtmp, type Publisher } from '../helpers/publisher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let publisher: Publisher;
let browser: Browser | undefined;
let pageServer: PlayerPageServer | undefined;
let hlsUrl: string;
let licenseUrl: string;

t.before(async () => {
  server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 10 } });
  // Keys rotate every 2 one-second segments.
  const stream = await server.createStream({ name: 'protected live', protection: 'cenc', keyRotationSegments: 2 });
  // The first key is prepared as the stream is created; a publisher retries like an encoder would.
  let live = false;
  for (let attempt = 0; attempt < 20 && !live; attempt++) {
    publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 120 });
    live = await Promise.race([server.waitForStream(stream.id, (v) => v.state === 'live', 8000).then(() => true), publisher.exited.then(() => false)]).catch(() => false);
  }
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } })).json()) as { sources: { url: string; drm: { clearkey: { licenseUrl: string } } }[] };
  hlsUrl = session.sources[0]!.url.replace('localhost', '127.0.0.1');
  licenseUrl = session.sources[0]!.drm.clearkey.licenseUrl.replace('localhost', '127.0.0.1');
  if (!chromiumMissing) [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
});
t.teardown(async () => {
  await publisher?.stop();
  await browser?.close();
  await pageServer?.close();
  await server?.stop();
});

/** The media playlist once it holds at least `n` complete segments; fails after 30 s (a stalled packager). */
async function playlistWith(n: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await (await fetchOk(hlsUrl.replace('master.m3u8', 'v0/index.m3u8'))).text();
    const media = parseM3u8(text);
    if (media.segments.length >= n) return text;
    if (Date.now() > deadline) throw new Error(`the live playlist held ${media.segments.length} complete segments after 30 s, not ${n}`);
    const lastComplete = (media.mediaSequence ?? 0) + media.segments.length - 1;
    await fetchOk(`${hlsUrl.replace('master.m3u8', 'v0/index.m3u8')}?_HLS_msn=${lastComplete + 1}`);
  }
}

t.test('a protected live stream rotates keys every N segments, each signalled and licensed', async (t) => {
  const text = await playlistWith(5);
  const kids = [...new Set([...text.matchAll(/#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="data:text\/plain;base64,([^"]+)",KEYFORMAT="org.w3.clearkey"/g)].map((m) => m[1]!))];
  t.ok(kids.length >= 2, `the playlist carries more than one key (${kids.length})`);
  const maps = new Set([...text.matchAll(/#EXT-X-MAP:URI="([^"]+)"/g)].map((m) => m[1]));
  t.ok(maps.size >= 2, 'each key period has its own init segment');
  const license = await fetch(licenseUrl, { method: 'POST', body: JSON.stringify({ kids: kids.map((k) => Buffer.from(k, 'base64').toString('base64url')) }) });
  t.equal(license.status, 200);
  t.equal(((await license.json()) as { keys: unknown[] }).keys.length, kids.length, 'the license holds every rotated key');
  const init = Buffer.from(await (await fetchOk(hlsUrl.replace('master.m3u8', `v0/${[...maps][0]}`))).arrayBuffer());
  t.ok(init.includes(Buffer.from('encv')) && init.includes(Buffer.from('pssh')), 'parts are protected (encv, pssh)');
});

t.test('hls.js in low-latency mode with ClearKey plays the protected live stream across key rotations', { skip: chromiumMissing }, async (t) => {
  // Five seconds of playback span at least two 2-second key periods.
  const report = await playAndWait(browser!, pageServer!.url, {
    kind: 'hls',
    url: hlsUrl,
    config: { lowLatencyMode: true, emeEnabled: true, drmSystems: { 'org.w3.clearkey': { licenseUrl } } },
    frames: 150,
    seconds: 5,
  });
  t.same(report.errors, [], 'no player errors');
  t.equal(report.mediaError, null);
  t.ok(report.frames > 150, `frames decoded across rotations (${report.frames})`);
  t.ok(report.currentTime > 5, `time advanced (${report.currentTime.toFixed(2)} s)`);
});

t.test('a protected live stream still has scrubbing thumbnails: cut from the clear keyframes before encryption', async (t) => {
  await playlistWith(3);
  const images = parseM3u8(await (await fetchOk(hlsUrl.replace('master.m3u8', 'tiles/images.m3u8'))).text());
  t.ok(images.segments.length > 0, `the image playlist lists thumbnails (${images.segments.length})`);
  const jpeg = Buffer.from(await (await fetchOk(hlsUrl.replace('master.m3u8', `tiles/${images.segments.at(-1)!.uri}`))).arrayBuffer());
  t.same(jpegSize(jpeg), { width: 320, height: 180 }, 'a JPEG of the picture at the tile size');
  t.ok(decodeJpeg(jpeg), 'ffmpeg decodes it');
});
