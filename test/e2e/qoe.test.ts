import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, launchChromium, servePlayerPage, type PlayerPageServer, type VideoReport } from '../helpers/browser.js';
import { makeSource } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

type Session = { id: string; heartbeat: { url: string }; sources: { protocol: string; url: string }[] };
type QoeSession = { startupMs: number | null; rebufferCount: number; rebufferMs: number; playedMs: number; averageBitrate: number | null; lastBitrate: number | null; cmcdRequests: number; family: string; planId: string };

let server: TestServer;
let browser: Browser | undefined;
let pageServer: PlayerPageServer | undefined;
let titleId: string;
let accessToken: string;

t.before(async () => {
  if (chromiumMissing) return;
  server = await startTestServer({ packaging: { segmentSeconds: 1 } });
  const [title] = await Promise.all([server.ingest(makeSource({ width: 640, height: 360, seconds: 12 }), 'QoE reel'), (async () => ([browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()])))()]);
  if (title.view.state !== 'ready') throw new Error(`title failed: ${JSON.stringify(title.view.error)}`);
  titleId = title.id;
  await server.api(`/v1/titles/${titleId}/access`, { method: 'PUT', json: { packages: ['standard'] } });
  const password = 'a viewer password of some length';
  await server.api('/v1/viewers', { method: 'POST', json: { email: 'qoe@example.com', password, planId: 'premium' } });
  const login = await server.api('/v1/auth/login', { method: 'POST', admin: false, json: { email: 'qoe@example.com', password, device: { id: 'laptop', family: 'web' } } });
  accessToken = ((await login.json()) as { accessToken: string }).accessToken;
});
t.teardown(async () => {
  await browser?.close();
  await pageServer?.close();
  await server?.stop();
});

async function startSession(): Promise<Session> {
  const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, headers: { authorization: `Bearer ${accessToken}` }, json: { contentId: titleId } });
  if (response.status !== 201) throw new Error(`session answered ${response.status}: ${await response.text()}`);
  const session = (await response.json()) as Session;
  return { ...session, heartbeat: { url: session.heartbeat.url.replace('localhost', '127.0.0.1') }, sources: session.sources.map((s) => ({ ...s, url: s.url.replace('localhost', '127.0.0.1') })) };
}

const report = (page: Page) => page.evaluate(() => (globalThis as unknown as { report: () => VideoReport }).report());

/** A viewer's app: plays with its player's CMCD on, heartbeats every 500 ms with QoE events, stops. */
async function playAndReport(kind: 'hls' | 'dash', config: (session: Session) => unknown, whilePlaying: (page: Page) => Promise<void> = async () => {}): Promise<{ session: Session; page: VideoReport; qoe: QoeSession }> {
  const session = await startSession();
  const source = session.sources.find((s) => s.protocol === kind)!;
  const page = await browser!.newPage();
  try {
    await page.goto(pageServer!.url);
    await page.evaluate(([url, authorization]) => (globalThis as unknown as { startHeartbeats: (u: string, a: string, ms: number) => void }).startHeartbeats(url, authorization, 500), [session.heartbeat.url, `Bearer ${accessToken}`] as const);
    await page.evaluate(([k, url, c]) => (globalThis as unknown as { play: (k: string, u: string, c: unknown) => Promise<void> }).play(k, url, c), [kind, source.url, config(session)] as const);
    await page.waitForFunction(() => (globalThis as unknown as { report: () => VideoReport }).report().currentTime > 1, undefined, { timeout: 30_000, polling: 100 });
    await whilePlaying(page);
    const seen = await report(page);
    await page.evaluate(() => (globalThis as unknown as { stopHeartbeats: () => Promise<void> }).stopHeartbeats());
    await server.api(`/v1/playback-sessions/${session.id}`, { method: 'DELETE', admin: false, headers: { authorization: `Bearer ${accessToken}` } });
    const qoe = (await (await server.api(`/v1/analytics/sessions/${session.id}`)).json()) as QoeSession;
    return { session, page: seen, qoe };
  } finally {
    await page.close();
  }
}

t.test('hls.js (CMCD as a query argument) and Shaka (CMCD as headers) play; the analytics show each session with its startup time and bitrate', { skip: chromiumMissing }, async (t) => {
  const hls = await playAndReport('hls', (s) => ({ cmcd: { sessionId: s.id, contentId: titleId } }));
  t.same(hls.page.errors, [], 'hls.js played without errors');
  t.ok(hls.qoe.startupMs !== null && hls.qoe.startupMs > 0 && hls.qoe.startupMs < 30_000, `a startup time (${hls.qoe.startupMs} ms)`);
  t.ok(hls.qoe.cmcdRequests > 0, `CMCD arrived on ${hls.qoe.cmcdRequests} media requests`);
  t.ok((hls.qoe.averageBitrate ?? 0) > 0 && (hls.qoe.lastBitrate ?? 0) > 0, `a bitrate (${hls.qoe.averageBitrate} average, ${hls.qoe.lastBitrate} last)`);
  t.ok(hls.qoe.playedMs > 0);
  t.match(hls.qoe, { family: 'web', planId: 'premium' });

  const shaka = await playAndReport('dash', (s) => ({ cmcd: { enabled: true, useHeaders: true, sessionId: s.id, contentId: titleId } }));
  t.same(shaka.page.errors, [], 'Shaka played without errors (its CMCD headers passed the CORS preflight)');
  t.ok(shaka.qoe.startupMs !== null && shaka.qoe.startupMs > 0, `a startup time (${shaka.qoe.startupMs} ms)`);
  t.ok(shaka.qoe.cmcdRequests > 0, `CMCD headers arrived on ${shaka.qoe.cmcdRequests} media requests`);
  t.ok((shaka.qoe.lastBitrate ?? 0) > 0, `a bitrate (${shaka.qoe.lastBitrate})`);

  const figures = (await (await server.api('/v1/analytics/qoe?by=family')).json()) as { groups: { family: string; attempts: number; startupMs: { p50: number | null } }[] };
  const web = figures.groups.find((g) => g.family === 'web');
  t.ok(web && web.attempts >= 2 && web.startupMs.p50 !== null, `the web family's figures count both (${JSON.stringify(web)})`);
});

t.test('a throttled network shows as rebuffering in the QoE figures', { skip: chromiumMissing }, async (t) => {
  const throttled = await playAndReport(
    'hls',
    (s) => ({ cmcd: { sessionId: s.id, contentId: titleId }, maxBufferLength: 1, maxMaxBufferLength: 1, abrEwmaDefaultEstimate: 5_000_000 }),
    async (page) => {
      // Chromium's network emulation (CDP): a trickle the stream cannot keep up with.
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 100, downloadThroughput: 4_000, uploadThroughput: -1 });
      await waitUntil(async () => (await report(page)).stalls > 0, 'a stall under throttling', 20_000);
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
      await waitUntil(async () => {
        const seen = await report(page);
        return seen.bufferAhead > 0.3;
      }, 'playback resuming once the network is back', 20_000);
    },
  );
  t.ok(throttled.page.stalls > 0, `the player stalled (${throttled.page.stalls} times)`);
  t.ok(throttled.qoe.rebufferCount >= 1 && throttled.qoe.rebufferMs > 0, `the session's QoE shows it: ${throttled.qoe.rebufferCount} stalls, ${throttled.qoe.rebufferMs} ms`);
  const figures = (await (await server.api(`/v1/analytics/qoe?by=title`)).json()) as { groups: { title: string; rebufferingRatio: number | null }[] };
  const ratio = figures.groups.find((g) => g.title === titleId)?.rebufferingRatio ?? 0;
  t.ok(ratio > 0, `and the title's rebuffering ratio is above zero (${ratio.toFixed(3)})`);
});
