import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage, type PlayerKind, type PlayerPageServer, type VideoReport } from '../helpers/browser.js';
import { makeSource } from '../helpers/media.js';
import { fetchOk, parseM3u8, parseMpd } from '../helpers/playback.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

type Source = { protocol: string; url: string; drm: { scheme: string; systems: string[]; clearkey: { licenseUrl: string }; widevine?: { licenseUrl: string } } | null };
type Session = { id: string; contentId: string; maxHeight: number | null; heartbeat: { url: string; intervalSeconds: number }; sources: Source[] };
type CodedError = { code: string; message: string; details?: unknown };

let server: TestServer;
let browser: Browser | undefined;
let pageServer: PlayerPageServer | undefined;
/** A 1080p cenc title in the standard package; a small clear title left free. */
let premiere: string;
let trailer: string;
const password = 'a viewer password of some length';
/** A stand-in for a Widevine license server: records what reaches it and answers with bytes of its own. */
let upstream: Server;
const upstreamHeard: { body: Buffer; headers: Record<string, string | string[] | undefined> }[] = [];

t.before(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      upstreamHeard.push({ body, headers: req.headers });
      // A misbehaving upstream: 2 MiB without a content-length.
      if (body.toString() === 'huge') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked: no length to refuse up front
        for (let i = 0; i < 32; i++) res.write(Buffer.alloc(64 * 1024));
        res.end();
      } else res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from('a-widevine-license'));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  server = await startTestServer({
    drm: { licenseServers: { widevine: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/license`, playready: '', fairplay: '' } },
    packaging: { segmentSeconds: 1 },
    // Requests from this machine come through a "CDN" that names the viewer's country.
    playback: { sessionsPerMinutePerAddress: 100_000, heartbeatSeconds: 30, geo: { countryHeader: 'CloudFront-Viewer-Country', trustedProxies: ['127.0.0.1'], ranges: [], unknownCountry: 'allow' } },
  });
  const [protectedTitle, freeTitle] = await Promise.all([
    server.ingest(makeSource({ width: 1920, height: 1080, seconds: 3 }), 'Premiere', { protection: 'cenc' }),
    server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'Trailer'),
  ]);
  for (const title of [protectedTitle, freeTitle]) if (title.view.state !== 'ready') throw new Error(`title failed: ${JSON.stringify(title.view.error)}`);
  premiere = protectedTitle.id;
  trailer = freeTitle.id;
  const access = await server.api(`/v1/titles/${premiere}/access`, { method: 'PUT', json: { packages: ['standard'] } });
  if (access.status !== 200) throw new Error(`access rules answered ${access.status}: ${await access.text()}`);
  if (!chromiumMissing) [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
});
t.teardown(async () => {
  await browser?.close();
  await pageServer?.close();
  await server?.stop();
  upstream?.close();
});

const errorOf = async (response: Response): Promise<CodedError> => ((await response.json()) as { error: CodedError }).error;

async function createViewer(email: string, extra: Record<string, unknown> = {}): Promise<string> {
  const response = await server.api('/v1/viewers', { method: 'POST', json: { email, password, ...extra } });
  if (response.status !== 201) throw new Error(`create viewer answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

async function signIn(email: string, device: { id: string; family: string }): Promise<string> {
  const response = await server.api('/v1/auth/login', { method: 'POST', admin: false, json: { email, password, device } });
  if (response.status !== 200) throw new Error(`sign-in answered ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { accessToken: string; viewer: Record<string, unknown> };
  // The v1 sign-in answer and viewer resource (pinned: device apps read them).
  if (Object.keys(body).sort().join() !== 'accessToken,accessTokenExpiresAt,refreshToken,refreshTokenExpiresAt,viewer') throw new Error(`sign-in answer changed shape: ${Object.keys(body).join()}`);
  if (Object.keys(body.viewer).sort().join() !== 'createdAt,displayName,email,id,maxRating,planId,subscriptionEndsAt,subscriptionStartsAt') throw new Error(`viewer resource changed shape: ${Object.keys(body.viewer).join()}`);
  return body.accessToken;
}

/** POST /v1/playback-sessions as a viewer (or anonymously), from a country. */
function startSession(contentId: string, accessToken: string | null, country = 'DE'): Promise<Response> {
  const headers: Record<string, string> = { 'cloudfront-viewer-country': country };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  return server.api('/v1/playback-sessions', { method: 'POST', admin: false, headers, json: { contentId } });
}

async function startedSession(contentId: string, accessToken: string | null): Promise<Session> {
  const response = await startSession(contentId, accessToken);
  if (response.status !== 201) throw new Error(`session answered ${response.status}: ${await response.text()}`);
  const session = (await response.json()) as Session;
  for (const source of session.sources) {
    source.url = source.url.replace('localhost', '127.0.0.1');
    if (source.drm) source.drm.clearkey.licenseUrl = source.drm.clearkey.licenseUrl.replace('localhost', '127.0.0.1');
    if (source.drm?.widevine) source.drm.widevine.licenseUrl = source.drm.widevine.licenseUrl.replace('localhost', '127.0.0.1');
  }
  return session;
}

const asViewer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` });

function assertPlays(t: Test, report: VideoReport, height: number): void {
  t.same(report.errors, [], 'no player errors');
  t.ok(report.frames > 30, `frames were decoded (${report.frames})`);
  t.ok(report.currentTime > 1, `time advanced (${report.currentTime.toFixed(2)} s)`);
  t.ok(report.videoHeight > 0 && report.videoHeight <= height, `a rendition within the cap is shown (${report.videoWidth}x${report.videoHeight})`);
}

t.test('a viewer signs in on the web, lists what it may watch, plays a protected title within its plan, heartbeats, stops; then its license is refused and a second screen may start', async (t) => {
  await createViewer('basic@example.com', { planId: 'basic' });
  const token = await signIn('basic@example.com', { id: 'laptop', family: 'web' });

  const catalog = (await (await server.api('/v1/catalog', { admin: false, headers: asViewer(token) })).json()) as { items: { id: string; kind: string; name: string }[] };
  t.same(catalog.items.map((item) => item.name).sort(), ['Premiere', 'Trailer'], 'both titles are offered to a basic subscriber');
  const anonymous = (await (await server.api('/v1/catalog', { admin: false })).json()) as { items: { name: string }[] };
  t.same(anonymous.items.map((item) => item.name), ['Trailer'], 'a stranger is offered the free title only');

  const session = await startedSession(premiere, token);
  // /v1 shapes devices depend on: fields may be added, never renamed or removed.
  t.same(Object.keys(session).sort(), ['contentId', 'expiresAt', 'heartbeat', 'id', 'live', 'maxHeight', 'posterUrl', 'resumeFrom', 'sources', 'thumbnailsUrl'], 'the v1 session answer (fields are only added)');
  t.same(Object.keys(session.sources[0]!).sort(), ['drm', 'mimeType', 'protocol', 'url'], 'the v1 source');
  const token64 = new URL(session.sources[0]!.url).pathname.split('/')[3]!;
  t.equal(token64.split('.')[0], session.id, 'the media token names the session: it has no clock of its own and lives as long as the lease');
  t.equal(session.maxHeight, 720, 'the basic plan caps the session at 720 lines');
  t.same(session.sources.map((s) => s.protocol), ['hls', 'dash'], "in the web profile's order");
  t.equal(session.sources[0]!.drm?.scheme, 'cenc');
  t.same(session.sources[0]!.drm?.systems, ['widevine', 'clearkey'], "Widevine (configured upstream) first, as the web profile prefers, then Weir's ClearKey");
  t.equal(session.heartbeat.intervalSeconds, 30);

  const [hls, dash] = session.sources as [Source, Source];
  const master = parseM3u8(await (await fetchOk(hls.url)).text());
  const heights = (master.playlists ?? []).map((p) => p.attributes.RESOLUTION?.height ?? 0);
  t.equal(Math.max(...heights), 720, `the multivariant playlist tops out at 720p (${heights.join(', ')})`);
  t.notOk((master.playlists ?? []).some((p) => p.uri === 'v0/index.m3u8'), 'and never names the 1080p playlist');
  const mpd = parseMpd(await (await fetchOk(dash.url)).text(), { manifestUri: dash.url });
  const mpdHeights = mpd.playlists.map((p) => p.attributes.RESOLUTION?.height ?? 0);
  t.equal(Math.max(...mpdHeights), 720, `so does the MPD (${mpdHeights.join(', ')})`);
  const direct = await fetch(hls.url.replace('master.m3u8', 'v0/index.m3u8'));
  t.equal(direct.status, 403, "the 1080p playlist with this session's token is refused");
  t.equal((await errorOf(direct)).code, 'RENDITION_NOT_ALLOWED');
  t.equal((await fetch(hls.url.replace('master.m3u8', 'v0/init.mp4'))).status, 403, 'and its init segment');

  if (browser) {
    const licenseUrl = hls.drm!.clearkey.licenseUrl;
    const play = (kind: PlayerKind, url: string, config: unknown) => playAndWait(browser!, pageServer!.url, { kind, url, config, frames: 30, seconds: 1, timeoutMs: 30_000 });
    assertPlays(t, await play('hls', hls.url, { emeEnabled: true, drmSystems: { 'org.w3.clearkey': { licenseUrl } } }), 720);
    assertPlays(t, await play('dash', dash.url, { drm: { servers: { 'org.w3.clearkey': licenseUrl } } }), 720);
    // dash.js, configured from nothing but the capped MPD (its dashif:Laurl names the session's license).
    assertPlays(t, await play('dashjs', dash.url, {}), 720);
  }

  // The license proxy: Weir's checks, then the CDM's bytes upstream untouched, and its answer back.
  const challenge = Buffer.from([8, 1, 18, 16, ...Buffer.alloc(16, 7)]);
  const widevine = await fetch(hls.drm!.widevine!.licenseUrl, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: challenge });
  t.equal(widevine.status, 200, 'the Widevine license request goes through');
  t.same(Buffer.from(await widevine.arrayBuffer()), Buffer.from('a-widevine-license'), "with the upstream's answer");
  t.equal(widevine.headers.get('cache-control'), 'private, no-store');
  t.equal(upstreamHeard.length, 1);
  t.same(upstreamHeard[0]!.body, challenge, 'the upstream received the exact request body');
  t.match(upstreamHeard[0]!.headers, { 'x-weir-content-id': premiere, 'x-weir-session-id': session.id, 'x-weir-key-ids': /^[0-9a-f]{32}$/ }, 'and what Weir vouches for');
  const playready = await fetch(hls.drm!.widevine!.licenseUrl.replace(/widevine$/, 'playready'), { method: 'POST', body: challenge });
  t.equal(playready.status, 404, 'a system with no upstream configured');
  t.equal((await errorOf(playready)).code, 'LICENSE_SYSTEM_UNSUPPORTED');
  const huge = await fetch(hls.drm!.widevine!.licenseUrl, { method: 'POST', body: 'huge' });
  t.equal(huge.status, 502, 'an upstream answer over 1 MiB is not passed on');
  t.equal((await errorOf(huge)).code, 'LICENSE_UPSTREAM_FAILED');
  const serverErrorLogged = () => readFileSync(server.logFile, 'utf8').split('\n').find((line) => line.includes('"code":"LICENSE_UPSTREAM_FAILED"'));
  await waitUntil(() => serverErrorLogged() !== undefined, 'the 502 in the server log');
  t.match(JSON.parse(serverErrorLogged()!), { level: 50, msg: 'request', method: 'POST', status: 502, path: /^\/media\/[^/]+\/\[token\]\/license\/widevine$/ }, 'a server error is logged with its request, the token redacted');

  const beat = await fetch(session.heartbeat.url.replace('localhost', '127.0.0.1'), { method: 'POST', headers: { ...asViewer(token), 'content-type': 'application/json' }, body: JSON.stringify({ position: 2.5, state: 'playing', bitrate: 1_400_000 }) });
  t.equal(beat.status, 200, 'the heartbeat renews the lease');
  const beatBody = (await beat.json()) as Record<string, unknown>;
  t.match(beatBody, { id: session.id, position: 2.5, state: 'playing', device: { id: 'laptop', family: 'web' } });
  t.same(Object.keys(beatBody).sort(), ['contentId', 'device', 'expiresAt', 'id', 'position', 'startedAt', 'state'], 'the v1 heartbeat answer');

  // A second screen over the plan's one stream.
  const tvToken = await signIn('basic@example.com', { id: 'living-room', family: 'androidtv' });
  const refused = await startSession(premiere, tvToken);
  t.equal(refused.status, 409);
  const refusal = await errorOf(refused);
  t.equal(refusal.code, 'STREAM_LIMIT_REACHED');
  t.match(refusal.details, { limit: 1, sessions: [{ id: session.id, contentId: premiere, device: { id: 'laptop', family: 'web' } }] }, 'naming the session to stop, its device and content');

  const stopped = await server.api(`/v1/playback-sessions/${session.id}`, { method: 'DELETE', admin: false, headers: asViewer(token) });
  t.equal(stopped.status, 204, 'the viewer stops watching');
  const kid = Buffer.alloc(16).toString('base64url');
  const license = await fetch(hls.drm!.clearkey.licenseUrl, { method: 'POST', body: JSON.stringify({ kids: [kid] }) });
  t.equal(license.status, 403, 'after stop the license is refused');
  t.equal((await errorOf(license)).code, 'PLAYBACK_SESSION_ENDED');
  t.equal((await fetch(hls.url)).status, 403, 'and so are new manifest fetches');
  const proxied = upstreamHeard.length;
  t.equal((await fetch(hls.drm!.widevine!.licenseUrl, { method: 'POST', body: challenge })).status, 403, 'and proxied licenses');
  t.equal(upstreamHeard.length, proxied, 'which never reach the upstream');

  const tv = await startedSession(premiere, tvToken);
  t.equal(tv.maxHeight, 720, 'the second screen may start now');
});

t.test('every refusal at session start has its own code and status, in order', async (t) => {
  const subscriberId = await createViewer('standard@example.com', { planId: 'standard' });
  await createViewer('noplan@example.com');
  const subscriber = await signIn('standard@example.com', { id: 'phone', family: 'android' });
  const noPlan = await signIn('noplan@example.com', { id: 'phone', family: 'android' });
  const setAccess = async (rules: Record<string, unknown>) => {
    const response = await server.api(`/v1/titles/${premiere}/access`, { method: 'PUT', json: { packages: ['standard'], ...rules } });
    t.equal(response.status, 200, `access rules ${JSON.stringify(rules)} take effect`);
  };
  const expect = async (name: string, response: Promise<Response>, status: number, code: string, details?: unknown) => {
    const answer = await response;
    t.equal(answer.status, status, `${name}: ${status}`);
    const error = await errorOf(answer);
    t.equal(error.code, code, `${name}: ${code} (${error.message})`);
    if (details !== undefined) t.match(error.details, details, `${name}: details`);
  };

  await expect('nobody signed in', startSession(premiere, null), 401, 'VIEWER_AUTH_REQUIRED');
  await expect('a forged access token', startSession(premiere, `${subscriber}x`), 401, 'VIEWER_TOKEN_INVALID');
  await expect('a plan without the package', startSession(premiere, noPlan), 403, 'NOT_ENTITLED', { plans: [{ id: 'basic' }, { id: 'standard' }, { id: 'premium' }] });

  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  await setAccess({ availableFrom: tomorrow });
  await expect('before the window', startSession(premiere, subscriber), 403, 'CONTENT_NOT_YET_AVAILABLE', { availableFrom: tomorrow });
  const yesterday = new Date(Date.now() - 86_400_000).toISOString();
  await setAccess({ availableUntil: yesterday });
  await expect('after the window', startSession(premiere, subscriber), 403, 'CONTENT_NO_LONGER_AVAILABLE', { availableUntil: yesterday });

  await setAccess({ geo: { mode: 'deny', countries: ['FR'] } });
  await expect('a denied country', startSession(premiere, subscriber, 'FR'), 451, 'GEO_BLOCKED', { country: 'FR' });
  t.equal((await startSession(premiere, subscriber, 'DE')).status, 201, 'another country plays');

  await setAccess({ rating: 'R' });
  const limited = await server.api(`/v1/viewers/${subscriberId}`, { method: 'PATCH', json: { maxRating: 'PG-13' } });
  t.equal(limited.status, 200);
  await expect('a rating above the limit', startSession(premiere, subscriber), 403, 'RATING_BLOCKED', { rating: 'R', maxRating: 'PG-13' });
  await server.api(`/v1/viewers/${subscriberId}`, { method: 'PATCH', json: { maxRating: null } });

  await setAccess({});
  t.equal((await startSession(trailer, null)).status, 201, 'free content still plays for anyone, as before');
});

t.test('racing for the last slot: of many simultaneous starts exactly the plan limit wins, and a restart neither frees nor loses the slots', async (t) => {
  await createViewer('racer@example.com', { planId: 'standard' }); // 2 streams
  const tokens = await Promise.all(['a', 'b', 'c', 'd'].map((id) => signIn('racer@example.com', { id, family: 'web' })));
  const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => startSession(premiere, tokens[i % tokens.length]!)));
  const statuses = answers.map((a) => a.status);
  t.equal(statuses.filter((s) => s === 201).length, 2, 'two sessions start');
  t.equal(statuses.filter((s) => s === 409).length, 22, 'every other start is told the limit is reached');
  const winner = (await answers[statuses.indexOf(201)]!.json()) as Session;
  const winnerUrl = winner.sources[0]!.url.replace('localhost', '127.0.0.1');

  server = await server.restart();
  const afterToken = await signIn('racer@example.com', { id: 'a', family: 'web' });
  t.equal((await startSession(premiere, afterToken)).status, 409, 'after a restart the two sessions still hold their slots');
  const playing = await fetch(winnerUrl.replace(/^http:\/\/[^/]+/, server.url.replace('localhost', '127.0.0.1')));
  t.equal(playing.status, 200, "a session that was playing keeps its media (the restarted server knows its lease)");
  const list = (await (await server.api('/v1/me/playback-sessions', { admin: false, headers: asViewer(afterToken) })).json()) as { items: { id: string }[] };
  t.equal(list.items.length, 2, 'the viewer sees both running sessions');
});

t.test('player routes answer a preflight from any origin, in any letter case; admin routes give other origins nothing', async (t) => {
  const preflight = (path: string) =>
    fetch(`${server.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://tv.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
  for (const path of ['/v1/playback-sessions', '/v1/playback-sessions/some-id/heartbeat', '/v1/auth/login', '/V1/Home', '/v1/catalog/search?q=a', '/images/abc.jpg']) {
    const response = await preflight(path);
    t.equal(response.status, 204, `${path}: preflight answered`);
    t.equal(response.headers.get('access-control-allow-origin'), 'https://tv.example', `${path}: the origin is allowed`);
    t.equal(response.headers.get('access-control-allow-headers'), 'authorization,content-type', `${path}: the asked headers are allowed`);
  }
  for (const path of ['/v1/titles', '/v1/playback-sessionsX', '/v1/analytics/qoe']) {
    const response = await preflight(path);
    t.equal(response.headers.get('access-control-allow-origin'), null, `${path}: no CORS for other origins`);
  }
});
