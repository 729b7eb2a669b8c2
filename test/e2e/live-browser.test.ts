import t, { type Test } from 'tap';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, openPlayer, playAndWait, servePlayerPage, type PlayerKind, type PlayerPageServer, type VideoReport } from '../helpers/browser.js';
import { parseM3u8, parseMpd } from '../helpers/playback.js';
import { waitUntil } from '../helpers/wait.js';
import { publishRtmp, type Publisher } from '../helpers/publisher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type LiveReport = VideoReport & { latency: number | null };

if (chromiumMissing) {
  t.plan(0, chromiumMissing);
} else {
  let server: TestServer;
  let browser: Browser;
  let pageServer: PlayerPageServer;
  let publisher: Publisher;
  let streamId: string;

  t.before(async () => {
    server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 10, thumbnailSeconds: 2 } });
    [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
    const stream = await server.createStream({ name: 'browser live' });
    streamId = stream.id;
    publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 120, fps: 30, gop: 30 });
    await server.waitForStream(streamId, (v) => v.state === 'live');
  });
  t.teardown(async () => {
    await publisher?.stop();
    await browser?.close();
    await pageServer?.close();
    await server?.stop();
  });

  async function sourceFor(protocol: 'hls' | 'dash'): Promise<string> {
    const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: streamId } });
    const body = (await response.json()) as { sources: { protocol: string; url: string }[] };
    return body.sources.find((s) => s.protocol === protocol)!.url.replace('localhost', '127.0.0.1');
  }

  const playLive = (kind: PlayerKind, url: string, config: unknown): Promise<LiveReport> => playAndWait(browser, pageServer.url, { kind, url, config, frames: 90, seconds: 3 });

  function assertLivePlays(t: Test, report: LiveReport): void {
    t.same(report.errors, [], 'no player errors');
    t.equal(report.mediaError, null, 'no media element error');
    t.ok(report.frames > 90, `frames were decoded (${report.frames})`);
    t.ok(report.currentTime > 3, `playback time advanced (${report.currentTime.toFixed(2)} s)`);
    t.same([report.videoWidth, report.videoHeight], [640, 360], 'the live picture is shown');
  }

  t.test('hls.js in low-latency mode plays the live stream near the live edge', async (t) => {
    const report = await playLive('hls', await sourceFor('hls'), { lowLatencyMode: true });
    assertLivePlays(t, report);
    t.ok(report.latency !== null && report.latency > 0, `hls.js reads program date-time (latency ${report.latency?.toFixed(2)} s)`);
    t.ok(report.latency! < 5, 'and plays within a few seconds of ingest');
  });

  t.test('the playback session hands out player settings fitted to the playlist, and hls.js plays with them', async (t) => {
    const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: streamId } });
    const session = (await response.json()) as { sources: { protocol: string; url: string }[]; live: { targetLatencySeconds: number; hlsjs: Record<string, number | boolean> } | null };
    const url = session.sources[0]!.url.replace('localhost', '127.0.0.1');
    const playlist = await (await fetch(url.replace('master.m3u8', 'v0/index.m3u8'))).text();
    const partHoldBack = Number(/PART-HOLD-BACK=([\d.]+)/.exec(playlist)![1]);
    t.equal(session.live?.targetLatencySeconds, partHoldBack, 'the target is the advertised PART-HOLD-BACK');
    t.match(session.live?.hlsjs, { lowLatencyMode: true, liveSyncDuration: partHoldBack, maxLiveSyncPlaybackRate: 1.5 });
    // Past liveMaxLatencyDuration hls.js jumps back to its target; stalls must not raise the
    // target toward that maximum, or it seeks and stalls in a loop.
    const hlsjs = session.live!.hlsjs as Record<string, number>;
    t.equal(hlsjs.liveSyncOnStallIncrease, 0, 'stalls do not raise the target');
    const partTarget = Number(/PART-TARGET=([\d.]+)/.exec(playlist)![1]);
    t.ok(hlsjs.liveMaxLatencyDuration! >= partHoldBack + partTarget, `the maximum latency (${hlsjs.liveMaxLatencyDuration} s) leaves more than a part of room above the target`);
    const report = await playLive('hls', url, session.live!.hlsjs);
    assertLivePlays(t, report);
    t.ok(report.latency !== null && report.latency < 5, `hls.js plays near the edge (latency by program date-time ${report.latency?.toFixed(2)} s)`);
  });

  t.test('Shaka Player in low-latency mode plays the LL-DASH manifest of the same chunks', async (t) => {
    const report = await playLive('dash', await sourceFor('dash'), { streaming: { lowLatencyMode: true } });
    assertLivePlays(t, report);
  });

  t.test('dash.js, the DASH-IF reference player, plays the LL-DASH manifest with low-latency catch-up, without stalls', async (t) => {
    const report = await playLive('dashjs', await sourceFor('dash'), { settings: { streaming: { delay: { liveDelay: 1.5 }, liveCatchup: { enabled: true } } } });
    assertLivePlays(t, report);
    t.equal(report.stalls, 0, 'no rebuffering once playing');
    t.ok(report.dashLatency !== null && report.dashLatency < 4, `dash.js measures its latency against UTCTiming (${report.dashLatency?.toFixed(2)} s)`);
  });

  t.test('dash.js plays a publisher whose GOP is twice the segment target without stalls, the announced durations holding', async (t) => {
    const stream = await server.createStream({ name: 'long gop dash' });
    const longGop = publishRtmp({ url: stream.ingest.rtmp, seconds: 60, fps: 30, gop: 60 });
    t.teardown(() => longGop.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } });
    const mpdUrl = ((await response.json()) as { sources: { protocol: string; url: string }[] }).sources.find((s) => s.protocol === 'dash')!.url.replace('localhost', '127.0.0.1');
    // The video representation's announced segment durations, in order.
    const durations = (xml: string) => [...(/<Representation id="v0".*?<\/Representation>/s.exec(xml)?.[0] ?? '').matchAll(/<S (?:t="\d+" )?d="(\d+)"\/>/g)].map((m) => Number(m[1]));
    const before = durations(await (await fetch(mpdUrl)).text());
    const report = await playAndWait(browser, pageServer.url, { kind: 'dashjs', url: mpdUrl, config: { settings: { streaming: { delay: { liveDelay: 3 }, liveCatchup: { enabled: true } } } }, frames: 150, seconds: 5 });
    const after = durations(await (await fetch(mpdUrl)).text());
    t.same(after.slice(0, before.length), before, 'segments announced before (the open one included) kept their durations');
    t.same(report.errors, [], 'no player errors');
    t.ok(report.frames > 150, `frames were decoded (${report.frames})`);
    t.equal(report.stalls, 0, 'no rebuffering at segment boundaries');
  });

  t.test('a publisher returning at another resolution starts a new DASH Period, and Shaka plays across it', async (t) => {
    const stream = await server.createStream({ name: 'resolution change', reconnectWindowSeconds: 20 });
    let first = publishRtmp({ url: stream.ingest.rtmp, seconds: 60, fps: 30, gop: 30, width: 640, height: 360 });
    t.teardown(() => first.stop());
    await server.waitForStream(stream.id, (v) => v.state === 'live');
    const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } });
    const mpdUrl = ((await response.json()) as { sources: { protocol: string; url: string }[] }).sources.find((s) => s.protocol === 'dash')!.url.replace('localhost', '127.0.0.1');
    const player = await openPlayer(browser, pageServer.url, { kind: 'dash', url: mpdUrl, config: { streaming: { lowLatencyMode: true } } });
    t.teardown(() => player.close());
    await waitUntil(async () => (await player.report()).videoWidth === 640 && (await player.report()).frames > 30, 'Shaka playing the first session', 30_000);
    await first.stop();
    await server.waitForStream(stream.id, (v) => v.state === 'reconnecting');
    first = publishRtmp({ url: stream.ingest.rtmp, seconds: 60, fps: 30, gop: 30, width: 480, height: 270 });
    await waitUntil(async () => /<Period id="1"/.test(await (await fetch(mpdUrl)).text()), 'a second Period in the MPD', 30_000);
    const xml = await (await fetch(mpdUrl)).text();
    const periods = [...xml.matchAll(/<Period id="(\d+)"[^>]*>(.*?)<\/Period>/gs)].map((m) => ({ id: m[1], width: /<Representation [^>]* width="(\d+)"/.exec(m[2]!)?.[1] }));
    t.same(periods.slice(-2), [{ id: '0', width: '640' }, { id: '1', width: '480' }], 'each session is its own Period, with its own picture');
    t.equal(parseMpd(xml, { manifestUri: mpdUrl }).playlists.length > 0, true, 'the multi-Period MPD parses');
    const framesBefore = (await player.report()).frames;
    await waitUntil(async () => (await player.report()).videoWidth === 480, 'Shaka showing the new picture', 30_000);
    const after = await player.report();
    t.same(after.errors, [], 'no player errors');
    t.ok(after.frames > framesBefore, `frames kept coming (${framesBefore} → ${after.frames})`);
  });

  type Thumbnail = { uris: string[]; startTime: number; duration: number; width: number; height: number };

  t.test('scrubbing thumbnails follow the live edge: the HLS image playlist and the MPD gain a tile every interval, each a JPEG of the picture', async (t) => {
    const master = await sourceFor('hls');
    const imagesUrl = master.replace('master.m3u8', 'tiles/images.m3u8');
    t.match(await (await fetch(master)).text(), /#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=\d+,RESOLUTION=320x180,CODECS="jpeg",URI="tiles\/images\.m3u8"/, 'the multivariant playlist names the image playlist');
    const read = async () => parseM3u8(await (await fetch(imagesUrl)).text());
    const first = await read();
    const newestOf = (playlist: typeof first) => playlist.segments.at(-1)!;
    const before = newestOf(first);
    t.match(before.uri, /^live-\d+-\d+\.jpg$/);
    t.equal(first.endList, undefined, 'an open playlist (no EXT-X-ENDLIST) while live');
    await waitUntil(async () => newestOf(await read()).uri !== before.uri, 'a newer thumbnail', 10_000);
    const later = await read();
    const newest = newestOf(later);
    t.ok(newest.programDateTime! > before.programDateTime!, 'the newer one is later on the stream clock');
    t.ok(later.segments.every((s) => s.duration > 0 && s.duration <= 4), `each covers about the 2 s interval (${later.segments.map((s) => s.duration).join(', ')})`);
    // At the edge: the newest thumbnail starts within two intervals of the newest complete segment
    // (it is often ahead: the keyframe opening the segment still being made).
    const variant = parseM3u8(await (await fetch(master)).text()).playlists![0]!.uri;
    const media = parseM3u8(await (await fetch(master.replace('master.m3u8', variant))).text());
    const apart = newest.programDateTime! - media.segments.at(-1)!.programDateTime!;
    t.ok(Math.abs(apart) < 4000, `the newest thumbnail starts ${apart} ms from the newest complete segment`);

    const page = await browser.newPage();
    t.teardown(() => page.close());
    await page.goto(pageServer.url);
    const decoded = await page.evaluate(async (url) => {
      const g = globalThis as unknown as { createImageBitmap(blob: Blob): Promise<{ width: number; height: number }> };
      const bitmap = await g.createImageBitmap(await (await fetch(url)).blob());
      return { width: bitmap.width, height: bitmap.height };
    }, imagesUrl.replace('images.m3u8', newest.uri));
    t.same(decoded, { width: 320, height: 180 }, 'Chromium decodes the newest thumbnail at the tile size');

    const mpd = await (await fetch(await sourceFor('dash'))).text();
    t.match(mpd, /<AdaptationSet id="2" contentType="image" mimeType="image\/jpeg"><SegmentTemplate media="tiles\/live-0-\$Number\$\.jpg" timescale="90000" duration="180000"/, 'the MPD has a thumbnail set on the broadcast clock, by slot number');
    t.match(mpd, /schemeIdUri="http:\/\/dashif\.org\/thumbnail_tile" value="1x1"/);
    const missing = await fetch(imagesUrl.replace('images.m3u8', 'live-0-999999.jpg'));
    t.equal(missing.status, 404, 'a slot not reached yet has no thumbnail');
  });

  t.test('Shaka shows the thumbnail of the moment it plays at the live edge, from the MPD and from the HLS image playlist', async (t) => {
    for (const protocol of ['dash', 'hls'] as const) {
      const url = await sourceFor(protocol);
      const player = await openPlayer(browser, pageServer.url, { kind: 'dash', url, config: { streaming: { lowLatencyMode: true } } });
      t.teardown(() => player.close());
      await waitUntil(async () => (await player.report()).frames > 30, `Shaka playing the ${protocol} source`, 30_000);
      const found = await player.page.evaluate(async () => {
        const g = globalThis as unknown as { document: { querySelector(s: string): { currentTime: number } }; shakaPlayer: { getImageTracks(): { id: number }[]; getThumbnails(id: number, time: number): Promise<Thumbnail | null> } };
        const [track] = g.shakaPlayer.getImageTracks();
        if (!track) return { error: 'no image track', time: 0, thumbnail: null };
        const time = g.document.querySelector('video').currentTime;
        const thumbnail = await g.shakaPlayer.getThumbnails(track.id, time);
        return { error: `no thumbnail at ${time}`, time, thumbnail };
      });
      if (!found.thumbnail) {
        t.fail(`${protocol}: ${found.error}`);
        continue;
      }
      t.match(found.thumbnail.uris[0], /\/tiles\/live-\d+-\d+\.jpg$/, `${protocol}: a live thumbnail for the playing position`);
      t.ok(found.thumbnail.startTime <= found.time + 0.5 && found.time < found.thumbnail.startTime + found.thumbnail.duration + 2.5, `${protocol}: it covers the position (${found.time.toFixed(2)} s in [${found.thumbnail.startTime.toFixed(2)}, +${found.thumbnail.duration.toFixed(2)}])`);
      const image = await fetch(found.thumbnail.uris[0]!.replace('localhost', '127.0.0.1'));
      t.equal(image.headers.get('content-type'), 'image/jpeg', `${protocol}: the thumbnail is served`);
      await player.close();
    }
  });

  t.test('dash.js gives a live thumbnail for the moment it plays, from the MPD', async (t) => {
    const player = await openPlayer(browser, pageServer.url, { kind: 'dashjs', url: await sourceFor('dash'), config: { settings: { streaming: { delay: { liveDelay: 1.5 } } } } });
    t.teardown(() => player.close());
    await waitUntil(async () => (await player.report()).frames > 30, 'dash.js playing', 30_000);
    const found = await player.page.evaluate(async () => {
      type Tile = { url: string; width: number; height: number };
      const g = globalThis as unknown as { dashPlayer: { time(): number; provideThumbnail(time: number, callback: (tile: Tile | null) => void): void } };
      const time = g.dashPlayer.time();
      return { time, tile: await new Promise<Tile | null>((resolve) => g.dashPlayer.provideThumbnail(time, resolve)) };
    });
    t.ok(found.tile, `a thumbnail at ${found.time.toFixed(2)} s`);
    t.match(found.tile, { width: 320, height: 180, url: /\/tiles\/live-\d+-\d+\.jpg$/ });
    const image = await fetch(found.tile!.url.replace('localhost', '127.0.0.1'));
    const listed = parseM3u8(await (await fetch(found.tile!.url.replace('localhost', '127.0.0.1').replace(/live-\d+-\d+\.jpg$/, 'images.m3u8'))).text()).segments.map((s) => s.uri);
    t.equal(image.status, 200, `and it is served (${found.tile!.url.split('/').at(-1)}; listed ${listed[0]} to ${listed.at(-1)})`);
  });
}
