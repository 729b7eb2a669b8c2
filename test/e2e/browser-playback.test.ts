import t, { type Test } from 'tap';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage, type PlayerKind, type PlayerPageServer, type VideoReport } from '../helpers/browser.js';
import { makeSource } from '../helpers/media.js';
import { debianFfmpegMissing, gstreamerMissing, playWithGStreamer, readWithFfmpeg } from '../helpers/players.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

if (chromiumMissing) {
  t.plan(0, chromiumMissing);
} else {
  let server: TestServer;
  let browser: Browser;
  let pageServer: PlayerPageServer;
  let contentId: string;

  t.before(async () => {
    server = await startTestServer({ packaging: { segmentSeconds: 2 } });
    [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
    const { id, view } = await server.ingest(makeSource({ width: 1280, height: 720, seconds: 8 }), 'Browser title');
    if (view.state !== 'ready') throw new Error(`title did not become ready: ${JSON.stringify(view.error)}`);
    contentId = id;
  });
  t.teardown(async () => {
    await browser?.close();
    await pageServer?.close();
    await server?.stop();
  });

  /** Authenticate-free device flow: start a session, then hand the player the URL it returned. */
  async function sourceFor(protocol: 'hls' | 'dash'): Promise<string> {
    const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId } });
    const body = (await response.json()) as { sources: { protocol: string; url: string }[] };
    return body.sources.find((s) => s.protocol === protocol)!.url.replace('localhost', '127.0.0.1');
  }

  const playAndReport = (kind: PlayerKind, url: string) => playAndWait(browser, pageServer.url, { kind, url, frames: 60, seconds: 2 });

  /** What proves playback: frames decoded, time advancing, a rendition's picture, no errors. */
  function assertPlays(t: Test, report: VideoReport): void {
    t.same(report.errors, [], 'no player errors');
    t.equal(report.mediaError, null, 'no media element error');
    t.ok(report.frames > 60, `frames were decoded (${report.frames})`);
    t.ok(report.currentTime > 2, `playback time advanced (${report.currentTime.toFixed(2)} s)`);
    t.ok([1280, 854, 640].includes(report.videoWidth), `the picture is one of the renditions (${report.videoWidth}x${report.videoHeight})`);
  }

  t.test('hls.js in Chromium plays the title from another origin, decoding frames as time advances', async (t) => {
    assertPlays(t, await playAndReport('hls', await sourceFor('hls')));
  });

  t.test('Shaka Player in Chromium plays the DASH manifest of the same segments', async (t) => {
    assertPlays(t, await playAndReport('dash', await sourceFor('dash')));
  });

  t.test('dash.js, the DASH-IF reference player, plays the DASH manifest', async (t) => {
    assertPlays(t, await playAndReport('dashjs', await sourceFor('dash')));
  });

  t.test('GStreamer (playbin3, as Linux set-top boxes run it) plays the HLS title to its end', { skip: gstreamerMissing() }, async (t) => {
    const report = await playWithGStreamer(await sourceFor('hls'), 30);
    t.same(report.errors, [], 'no errors');
    t.ok(report.eos, 'reached the end of the stream');
    t.ok(report.rendered >= 200, `rendered the title's frames (${report.rendered} of 240${report.attempts > 1 ? `; play ${report.attempts}, after GStreamer's own race` : ''})`);
  });

  t.test('ffmpeg reads every stream of the HLS and DASH manifests without an error', { skip: debianFfmpegMissing }, async (t) => {
    for (const protocol of ['hls', 'dash'] as const) {
      const report = await readWithFfmpeg(await sourceFor(protocol));
      t.ok(report.ok, `${protocol}: ${report.errors || 'no errors'}`);
    }
  });

  t.test('a player given a forged token decodes nothing', async (t) => {
    const url = (await sourceFor('hls')).replace(/\/media\/([^/]+)\/[^/]+\//, '/media/$1/not-a-token/');
    const report = await playAndReport('hls', url);
    t.equal(report.frames, 0, 'no frames');
    t.ok(report.errors.length > 0, `hls.js reports the refusal (${report.errors.join(', ')})`);
  });
}
