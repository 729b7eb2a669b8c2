import t from 'tap';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, servePlayerPage, type PlayerPageServer } from '../helpers/browser.js';
import { makeSource } from '../helpers/media.js';
import { fetchOk, parseM3u8, parseMpd } from '../helpers/playback.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Session = { sources: { protocol: string; url: string }[]; thumbnailsUrl: string | null };
type Thumbnail = { uris: string[]; positionX: number; positionY: number; width: number; height: number; startTime: number; duration: number };

let server: TestServer;
let session: Session;

t.before(async () => {
  server = await startTestServer({ packaging: { segmentSeconds: 1 } });
  const title = await server.ingest(makeSource({ width: 640, height: 360, seconds: 12 }), 'Scrub me');
  if (title.view.state !== 'ready') throw new Error(`title failed: ${JSON.stringify(title.view.error)}`);
  const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: title.id } });
  const answer = (await response.json()) as Session;
  const local = (url: string) => url.replace('localhost', '127.0.0.1');
  session = { sources: answer.sources.map((s) => ({ ...s, url: local(s.url) })), thumbnailsUrl: answer.thumbnailsUrl && local(answer.thumbnailsUrl) };
});
t.teardown(() => server?.stop());

const source = (protocol: string) => session.sources.find((s) => s.protocol === protocol)!.url;

t.test('a title publishes its scrubbing thumbnails as WebVTT, an HLS image playlist and a DASH thumbnail set', async (t) => {
  t.ok(session.thumbnailsUrl, 'the session names the WebVTT track');
  const vtt = await (await fetchOk(session.thumbnailsUrl!)).text();
  const cues = vtt.split('\n\n').slice(1).map((cue) => cue.trim()).filter(Boolean);
  t.equal(cues.length, 12, 'one thumbnail a second for 12 s');
  t.equal(cues[7], '00:00:07.000 --> 00:00:08.000\ntile-1.jpg#xywh=640,180,320,180');

  const master = await (await fetchOk(source('hls'))).text();
  const imageLine = master.split('\n').find((line) => line.startsWith('#EXT-X-IMAGE-STREAM-INF:'));
  t.equal(imageLine, `#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=${/BANDWIDTH=(\d+)/.exec(imageLine ?? '')?.[1]},RESOLUTION=320x180,CODECS="jpeg",URI="tiles/images.m3u8"`);
  t.ok((parseM3u8(master).playlists ?? []).length > 0, 'm3u8-parser still reads the variants');
  const images = parseM3u8(await (await fetchOk(source('hls').replace('master.m3u8', 'tiles/images.m3u8'))).text());
  t.same(images.segments.map((s) => s.uri), ['tile-1.jpg'], 'one sprite of 25 tiles holds 12 thumbnails');
  const sprite = Buffer.from(await (await fetchOk(source('hls').replace('master.m3u8', 'tiles/tile-1.jpg'))).arrayBuffer());
  t.same([...sprite.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');

  const mpdText = await (await fetchOk(source('dash'))).text();
  t.match(mpdText, /<AdaptationSet id="2" contentType="image" mimeType="image\/jpeg">/);
  t.match(mpdText, /schemeIdUri="http:\/\/dashif\.org\/thumbnail_tile" value="5x5"/);
  const mpd = parseMpd(mpdText, { manifestUri: source('dash') });
  t.ok(mpd.playlists.length > 0, 'mpd-parser still reads the video');
});

t.test('Shaka shows a DASH thumbnail for a scrub position, and reads the HLS image playlist too', { skip: chromiumMissing }, async (t) => {
  const [browser, pages]: [Browser, PlayerPageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
  t.teardown(async () => {
    await browser.close();
    await pages.close();
  });
  for (const protocol of ['dash', 'hls']) {
    const page = await browser.newPage();
    await page.goto(pages.url);
    const found = await page.evaluate(async (url) => {
      const g = globalThis as unknown as { createImageBitmap(blob: Blob): Promise<{ width: number; height: number }>; play: (k: string, u: string, c: unknown) => Promise<void>; shakaPlayer: { getImageTracks(): { id: number }[]; getThumbnails(id: number, time: number): Promise<Thumbnail | null> } };
      await g.play('dash', url, {});
      const [track] = g.shakaPlayer.getImageTracks();
      if (!track) return null;
      const thumbnail = await g.shakaPlayer.getThumbnails(track.id, 7.5);
      if (!thumbnail) return null;
      // The sprite as the page would draw it.
      const bitmap = await g.createImageBitmap(await (await fetch(thumbnail.uris[0]!)).blob());
      return { ...thumbnail, sprite: { width: bitmap.width, height: bitmap.height } };
    }, source(protocol));
    await page.close();
    t.ok(found, `Shaka found an image track in the ${protocol === 'dash' ? 'MPD' : 'multivariant playlist'} and a thumbnail at 7.5 s`);
    if (!found) continue;
    t.match(found, { positionX: 640, positionY: 180, width: 320, height: 180 }, `the tile of second 7 (${protocol})`);
    t.match(found.uris[0], /\/tiles\/tile-1\.jpg$/);
    t.same(found.sprite, { width: 1600, height: 900 }, 'a 5×5 sprite of 320×180 tiles, decoded by Chromium');
  }
});

t.test('dash.js, the DASH-IF reference player, gives the tile of a scrub position from the MPD thumbnail set', { skip: chromiumMissing }, async (t) => {
  const [browser, pages]: [Browser, PlayerPageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
  t.teardown(async () => {
    await browser.close();
    await pages.close();
  });
  const page = await browser.newPage();
  await page.goto(pages.url);
  const found = await page.evaluate(async (url) => {
    type Tile = { url: string; x: number; y: number; width: number; height: number };
    const g = globalThis as unknown as { play: (k: string, u: string, c: unknown) => Promise<void>; dashPlayer: { provideThumbnail(time: number, callback: (tile: Tile | null) => void): void } };
    await g.play('dashjs', url, {});
    // dash.js answers once its thumbnail controller has read the MPD: ask until it does.
    for (let attempt = 0; attempt < 100; attempt++) {
      const tile = await new Promise<Tile | null>((resolve) => g.dashPlayer.provideThumbnail(7.5, resolve));
      if (tile) return tile;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return null;
  }, source('dash'));
  t.ok(found, 'dash.js found a thumbnail for 7.5 s');
  t.match(found, { x: 640, y: 180, width: 320, height: 180 }, 'the tile of second 7 in the first sprite');
  t.match(found?.url, /\/tiles\/tile-1\.jpg$/);
});
