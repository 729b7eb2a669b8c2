import t, { type Test } from 'tap';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage, type PlayerPageServer, type VideoReport } from '../helpers/browser.js';
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
    server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 10 } });
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

  const playLive = (kind: 'hls' | 'dash', url: string, config: unknown): Promise<LiveReport> => playAndWait(browser, pageServer.url, { kind, url, config, frames: 90, seconds: 3 });

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

  t.test('Shaka Player in low-latency mode plays the LL-DASH manifest of the same chunks', async (t) => {
    const report = await playLive('dash', await sourceFor('dash'), { streaming: { lowLatencyMode: true } });
    assertLivePlays(t, report);
  });
}
