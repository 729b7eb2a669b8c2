import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateMediaTools } from '../../src/pipeline/encode/ffmpeg.js';
import { waitUntil } from '../helpers/wait.js';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium, servePlayerPage, type PlayerPageServer, type VideoReport } from '../helpers/browser.js';
import { makeSource } from '../helpers/media.js';
import { publishRtmp } from '../helpers/publisher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Item = { kind: string; id: string; name: string; genres?: string[]; series?: { id: string; season: number; episode: number } | null; progress?: { position: number; next: boolean }; watchNext?: Record<string, unknown> };
type Rail = { id: string; kind: string; title: string; items: Item[] };
type CodedError = { code: string; message: string };

let server: TestServer;
let browser: Browser | undefined;
let pageServer: PlayerPageServer | undefined;
const password = 'a viewer password of some length';
/** Two episodes of one series, a film, a title only for Germany and a title whose window has not opened. */
const ids = { episode1: '', episode2: '', film: '', germanOnly: '', upcoming: '' };
let seriesId = '';

t.before(async () => {
  server = await startTestServer({
    packaging: { segmentSeconds: 1 },
    playback: { sessionsPerMinutePerAddress: 100_000, heartbeatSeconds: 30, geo: { countryHeader: 'CloudFront-Viewer-Country', trustedProxies: ['127.0.0.1'], ranges: [], unknownCountry: 'allow' } },
  });
  const source = makeSource({ width: 320, height: 180, seconds: 4 });
  const titles = await Promise.all(['Harbour Tales: The Fog', 'Harbour Tales: The Tide', 'Night Train', 'Berlin Nights', 'Tomorrow Land'].map((name) => server.ingest(source, name)));
  for (const title of titles) if (title.view.state !== 'ready') throw new Error(`title failed: ${JSON.stringify(title.view.error)}`);
  const [episode1, episode2, film, germanOnly, upcoming] = titles.map((title) => title.id) as [string, string, string, string, string];
  Object.assign(ids, { episode1, episode2, film, germanOnly, upcoming });
  const admin = async (path: string, method: string, json: unknown) => {
    const response = await server.api(path, { method, json });
    if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as { id: string };
  };
  seriesId = (await admin('/v1/series', 'POST', { name: 'Harbour Tales', synopsis: 'A fishing town keeps its secrets.', genres: ['Drama', 'Mystery'], credits: [{ name: 'Ada Brennan', role: 'creator' }] })).id;
  await admin(`/v1/titles/${ids.episode1}/metadata`, 'PUT', { synopsis: 'Fog rolls in over the night harbour.', genres: ['Drama', 'Mystery'], credits: [{ name: 'Jane Okafor', role: 'actor' }], releaseYear: 2025, series: { id: seriesId, season: 1, episode: 1 } });
  await admin(`/v1/titles/${ids.episode2}/metadata`, 'PUT', { synopsis: 'The tide turns.', genres: ['Drama', 'Mystery'], credits: [{ name: 'Jane Okafor', role: 'actor' }], releaseYear: 2025, series: { id: seriesId, season: 1, episode: 2 } });
  await admin(`/v1/titles/${ids.film}/metadata`, 'PUT', { synopsis: 'A sleeper train, a stranger.', genres: ['Thriller'], credits: [{ name: 'Jane Okafor', role: 'actor' }, { name: 'Otto Lind', role: 'director' }], releaseYear: 2024 });
  await admin(`/v1/titles/${ids.germanOnly}/metadata`, 'PUT', { synopsis: 'Clubs at dawn.', genres: ['Documentary'], credits: [], releaseYear: 2023 });
  await admin(`/v1/titles/${ids.upcoming}/metadata`, 'PUT', { synopsis: 'Not yet.', genres: ['Thriller'], credits: [], releaseYear: 2027 });
  for (const id of [ids.episode1, ids.episode2, ids.film]) await admin(`/v1/titles/${id}/access`, 'PUT', { packages: ['standard'] });
  await admin(`/v1/titles/${ids.germanOnly}/access`, 'PUT', { packages: ['standard'], geo: { mode: 'allow', countries: ['DE'] } });
  await admin(`/v1/titles/${ids.upcoming}/access`, 'PUT', { packages: ['standard'], availableFrom: new Date(Date.now() + 86_400_000).toISOString() });
  await admin('/v1/collections/staff-picks', 'PUT', { name: 'Staff picks', position: 0, items: [ids.film, `series:${seriesId}`] });
  if (!chromiumMissing) [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
});
t.teardown(async () => {
  await browser?.close();
  await pageServer?.close();
  await server?.stop();
});

async function viewer(email: string, family = 'web'): Promise<string> {
  const created = await server.api('/v1/viewers', { method: 'POST', json: { email, password, planId: 'standard' } });
  if (created.status !== 201) throw new Error(`create viewer answered ${created.status}: ${await created.text()}`);
  const login = await server.api('/v1/auth/login', { method: 'POST', admin: false, json: { email, password, device: { id: `${email}-device`, family } } });
  return ((await login.json()) as { accessToken: string }).accessToken;
}

/** A device request: the viewer's token, from a country (the trusted "CDN" header). */
function device(path: string, token: string | null, country = 'FR', headers: Record<string, string> = {}): Promise<Response> {
  return server.api(path, { admin: false, headers: { 'cloudfront-viewer-country': country, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

async function home(token: string | null, country = 'FR'): Promise<Rail[]> {
  const response = await device('/v1/home', token, country);
  if (response.status !== 200) throw new Error(`home answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { rails: Rail[] }).rails;
}

const idsIn = (rails: Rail[]) => new Set(rails.flatMap((rail) => rail.items.map((item) => item.id)));
const rail = (rails: Rail[], id: string) => rails.find((r) => r.id === id);

/** hls.js in Chromium plays a title to its end while its page sends heartbeats with the position; then the session stops. */
async function playToTheEnd(token: string, contentId: string): Promise<VideoReport> {
  const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, headers: { authorization: `Bearer ${token}` }, json: { contentId } });
  const session = (await response.json()) as { id: string; heartbeat: { url: string }; sources: { protocol: string; url: string }[] };
  const local = (url: string) => url.replace('localhost', '127.0.0.1');
  const page = await browser!.newPage();
  try {
    await page.goto(pageServer!.url);
    await page.evaluate(([url, authorization]) => (globalThis as unknown as { startHeartbeats: (u: string, a: string, ms: number) => void }).startHeartbeats(url, authorization, 300), [local(session.heartbeat.url), `Bearer ${token}`] as const);
    await page.evaluate((url) => (globalThis as unknown as { play: (k: string, u: string, c: unknown) => Promise<void> }).play('hls', url, {}), local(session.sources.find((s) => s.protocol === 'hls')!.url));
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { ended: boolean } } }).document.querySelector('video').ended, undefined, { timeout: 30_000, polling: 100 });
    await page.evaluate(() => (globalThis as unknown as { stopHeartbeats: () => Promise<void> }).stopHeartbeats());
    return await page.evaluate(() => (globalThis as unknown as { report: () => VideoReport }).report());
  } finally {
    await page.close();
    await server.api(`/v1/playback-sessions/${session.id}`, { method: 'DELETE', admin: false, headers: { authorization: `Bearer ${token}` } });
  }
}

/** Plays a title as a device would report it: a session, heartbeats at the given positions, stop. */
async function watch(token: string, contentId: string, positions: number[]): Promise<{ resumeFrom: number | null }> {
  const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, headers: { authorization: `Bearer ${token}` }, json: { contentId } });
  if (response.status !== 201) throw new Error(`session answered ${response.status}: ${await response.text()}`);
  const session = (await response.json()) as { id: string; resumeFrom: number | null };
  for (const position of positions) {
    const beat = await server.api(`/v1/playback-sessions/${session.id}/heartbeat`, { method: 'POST', admin: false, headers: { authorization: `Bearer ${token}` }, json: { position, state: 'playing' } });
    if (beat.status !== 200) throw new Error(`heartbeat answered ${beat.status}`);
  }
  await server.api(`/v1/playback-sessions/${session.id}`, { method: 'DELETE', admin: false, headers: { authorization: `Bearer ${token}` } });
  return { resumeFrom: session.resumeFrom };
}

t.test('the home rails show what this viewer may watch here and now, series once, and nothing else', async (t) => {
  const token = await viewer('browse@example.com');
  const rails = await home(token, 'FR');
  t.same(rails.map((r) => r.id), ['continue-watching', 'new', 'collection:staff-picks', 'genre:Drama', 'genre:Mystery', 'genre:Thriller'], 'continue watching, new, the curated collection, one rail per genre');
  t.same(rail(rails, 'continue-watching')?.items, [], 'nothing started yet');
  t.same(rail(rails, 'new')!.items.map((item) => item.kind).sort(), ['series', 'title'], 'the two episodes appear once, as their series');
  t.same(rail(rails, 'collection:staff-picks')!.items.map((item) => item.id), [ids.film, seriesId]);
  const shown = idsIn(rails);
  t.notOk(shown.has(ids.germanOnly), 'a title only for Germany is not shown in France');
  t.notOk(shown.has(ids.upcoming), 'a title whose window has not opened is not shown');
  t.ok(idsIn(await home(token, 'DE')).has(ids.germanOnly), 'and it is shown in Germany');
  const anonymous = await home(null, 'DE');
  t.same(anonymous.flatMap((r) => r.items), [], 'nobody signed in sees none of this (nothing here is free)');
});

t.test('answers carry an ETag; a conditional request gets 304 until the catalog changes', async (t) => {
  const token = await viewer('etag@example.com');
  const first = await device('/v1/home', token);
  const etag = first.headers.get('etag');
  t.match(etag, /^"[A-Za-z0-9_-]+"$/);
  t.equal(first.headers.get('cache-control'), 'private, no-cache');
  const again = await device('/v1/home', token, 'FR', { 'if-none-match': etag! });
  t.equal(again.status, 304, 'unchanged: 304 with no body');
  t.equal(await again.text(), '');
  const renamed = await server.api(`/v1/collections/staff-picks`, { method: 'PUT', json: { name: 'Editors’ picks', position: 0, items: [ids.film] } });
  t.equal(renamed.status, 200);
  const changed = await device('/v1/home', token, 'FR', { 'if-none-match': etag! });
  t.equal(changed.status, 200, 'a catalog change shows at once (no timer)');
  t.equal(rail(((await changed.json()) as { rails: Rail[] }).rails, 'collection:staff-picks')?.title, 'Editors’ picks');
  await server.api(`/v1/collections/staff-picks`, { method: 'PUT', json: { name: 'Staff picks', position: 0, items: [ids.film, `series:${seriesId}`] } });
});

t.test('search matches prefixes of names, people and genres, ranks names first, and filters like the rails', async (t) => {
  const token = await viewer('search@example.com');
  const search = async (q: string, country = 'FR') => {
    const response = await device(`/v1/catalog/search?q=${encodeURIComponent(q)}`, token, country);
    t.equal(response.status, 200);
    return (await response.json()) as { items: Item[]; people: { name: string; items: Item[] }[]; genres: { name: string; items: Item[] }[] };
  };
  t.same((await search('harb')).items.map((item) => [item.kind, item.id]), [['series', seriesId]], 'a series by the prefix of its name');
  const jane = await search('jan oka');
  t.same(jane.people.map((p) => p.name), ['Jane Okafor'], 'a person by prefixes of her names');
  t.same(jane.people[0]!.items.map((item) => item.id).sort(), [ids.film, seriesId].sort(), 'with what she is in');
  t.same((await search('thril')).genres.map((g) => g.name), ['Thriller'], 'a genre by prefix');
  t.same((await search('night')).items.map((item) => item.id), [ids.film, seriesId], 'a name match ranks before a synopsis match');
  t.same((await search('berlin', 'FR')).items, [], 'a title blocked in this country is never found');
  t.same((await search('berlin', 'DE')).items.map((item) => item.id), [ids.germanOnly]);
  t.same((await search('tomorrow')).items, [], 'nor a title whose window has not opened');
  const empty = await device('/v1/catalog/search?q=%20', token);
  t.equal(empty.status, 400);
  t.equal(((await empty.json()) as { error: CodedError }).error.code, 'VALIDATION_FAILED');
});

t.test('series detail lists seasons and episodes; title detail names the next episode; blocked content answers why', async (t) => {
  const token = await viewer('detail@example.com', 'roku');
  const series = (await (await device(`/v1/catalog/series/${seriesId}`, token)).json()) as { name: string; seasons: { number: number; episodes: Item[] }[] };
  t.equal(series.name, 'Harbour Tales');
  t.same(series.seasons.map((s) => [s.number, s.episodes.map((e) => e.id)]), [[1, [ids.episode1, ids.episode2]]]);
  t.same(Object.keys(series.seasons[0]!.episodes[0]!).sort(), ['durationSeconds', 'id', 'images', 'kind', 'name', 'series', 'year'], 'Roku gets the compact field set');
  const detail = (await (await device(`/v1/catalog/items/${ids.episode1}`, token)).json()) as { nextEpisode: Item | null };
  t.equal(detail.nextEpisode?.id, ids.episode2);
  const blocked = await device(`/v1/catalog/items/${ids.germanOnly}`, token, 'FR');
  t.equal(blocked.status, 451);
  t.equal(((await blocked.json()) as { error: CodedError }).error.code, 'GEO_BLOCKED', 'the same refusal a session start would give');
  const unknown = await device('/v1/catalog/series/no-such-series', token);
  t.equal(unknown.status, 404);
  t.equal(((await unknown.json()) as { error: CodedError }).error.code, 'SERIES_NOT_FOUND');
});

t.test('a viewer who plays episode 1 to near its end sees episode 2 in continue watching, and a recommendation from another viewer', async (t) => {
  const token = await viewer('watcher@example.com', 'androidtv');
  const other = await viewer('other@example.com');
  // Another viewer finished episode 1 and the film: the co-watching behind "because you watched".
  await watch(other, ids.episode1, [1, 3.9]);
  await watch(other, ids.film, [1, 3.9]);

  await watch(token, ids.film, [1.5]);
  let rails = await home(token);
  const started = rail(rails, 'continue-watching')!.items;
  t.same(started.map((item) => [item.id, item.progress?.position, item.progress?.next]), [[ids.film, 1.5, false]], 'a title part-way through, at its position');
  t.match(started[0]!.watchNext, { watchNextType: 'CONTINUE', lastPlaybackPositionMillis: 1500 }, 'ready-made for Google TV Watch Next');
  const resumed = await watch(token, ids.film, []);
  t.equal(resumed.resumeFrom, 1.5, 'a session started without a position resumes there, and says so');

  // Episode 1 plays to its end in a real player whose page heartbeats as an app does.
  const played = browser ? await playToTheEnd(token, ids.episode1) : await watch(token, ids.episode1, [1, 3.9]).then(() => null);
  if (played) t.ok(played.currentTime > 3.5, `hls.js played episode 1 to ${played.currentTime.toFixed(2)} s of 4`);
  rails = await home(token);
  const next = rail(rails, 'continue-watching')!.items.find((item) => item.series?.id === seriesId);
  t.equal(next?.id, ids.episode2, 'the finished episode gives way to the next');
  t.equal(next?.progress?.next, true);
  t.match(next?.watchNext, { watchNextType: 'NEXT' });
  t.notOk(rail(rails, 'continue-watching')!.items.some((item) => item.id === ids.episode1), 'the finished episode has left');

  const recommendations = async () => ((await (await device(`/v1/catalog/items/${ids.episode1}/recommendations`, token)).json()) as { items: Item[] }).items.map((item) => item.id);
  t.same(await recommendations(), [ids.film], 'because you watched episode 1: the film its other viewer watched (its own series left out)');
  await watch(token, ids.film, [3.9]);
  t.same(await recommendations(), [], 'nothing this viewer finished is recommended');
});

/** Width and height of a JPEG (its SOF marker) or a lossy WebP (its VP8 frame header). */
function imageSize(bytes: Buffer): { width: number; height: number } | null {
  if (bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(12, 16).toString('latin1') === 'VP8 ') {
    return { width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff };
  }
  for (let i = 2; i + 9 < bytes.length; ) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1]!;
    if (marker >= 0xc0 && marker <= 0xc3) return { height: bytes.readUInt16BE(i + 5), width: bytes.readUInt16BE(i + 7) };
    i += 2 + bytes.readUInt16BE(i + 2);
  }
  return null;
}

type Images = Partial<Record<'poster' | 'backdrop' | 'thumbnail', { jpeg?: string; webp?: string }>>;

t.test('titles get artwork cut from their video in each family\'s sizes, JPEG and WebP, at content-addressed URLs; an admin upload replaces one kind', async (t) => {
  const web = await viewer('art@example.com');
  const roku = await viewer('art-roku@example.com', 'roku');
  const detail = async (token: string) => ((await (await device(`/v1/catalog/items/${ids.film}`, token)).json()) as { images: Images }).images;
  await waitUntil(async () => (await detail(web)).poster !== undefined, 'artwork for the film', 60_000);
  const images = await detail(web);
  const fetchImage = async (url: string) => {
    const response = await server.api(url, { admin: false });
    t.equal(response.status, 200, url);
    t.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    return Buffer.from(await response.arrayBuffer());
  };
  t.match(images.poster, { jpeg: /^\/images\/[a-f0-9]{32}\.jpg$/, webp: /^\/images\/[a-f0-9]{32}\.webp$/ });
  t.same(imageSize(await fetchImage(images.poster!.jpeg!)), { width: 500, height: 750 }, "the web profile's poster size, as JPEG");
  t.same(imageSize(await fetchImage(images.poster!.webp!)), { width: 500, height: 750 }, 'and as WebP');
  t.same(imageSize(await fetchImage(images.backdrop!.jpeg!)), { width: 1280, height: 720 }, "and its backdrop size (cut to fill from a 320×180 video, scaled up)");
  const rokuImages = await detail(roku);
  t.same(Object.keys(rokuImages.poster!), ['jpeg'], 'Roku is given JPEG only');
  t.same(imageSize(await fetchImage(rokuImages.poster!.jpeg!)), { width: 300, height: 450 }, "at Roku's poster size");
  t.equal((await server.api('/images/..%2Fweir.db', { admin: false })).status, 404, 'nothing but image names is served');

  const png = join(mkdtempSync(join(tmpdir(), 'weir-art-')), 'poster.png');
  execFileSync(locateMediaTools().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=red:s=1000x1500', '-frames:v', '1', png]);
  const uploaded = await server.api(`/v1/titles/${ids.film}/artwork/poster`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: readFileSync(png) });
  t.equal(uploaded.status, 200);
  const after = await detail(web);
  t.not(after.poster!.jpeg, images.poster!.jpeg, 'the poster changed, and so did its URL');
  t.equal(after.backdrop!.jpeg, images.backdrop!.jpeg, 'the backdrop cut from the video stays');
  const garbage = await server.api(`/v1/titles/${ids.film}/artwork/poster`, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: Buffer.from('not an image at all') });
  t.equal(garbage.status, 422);
  t.equal(((await garbage.json()) as { error: CodedError }).error.code, 'ARTWORK_UNREADABLE');
  t.equal((await detail(web)).poster!.jpeg, after.poster!.jpeg, 'a refused upload changes nothing');
  const wrongType = await server.api(`/v1/titles/${ids.film}/artwork/poster`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  t.equal(wrongType.status, 415);
});

t.test('a live stream without art gets it cut from its picture when it goes live, and shows it in the live rail', async (t) => {
  const stream = await server.createStream({ name: 'Harbour Live' });
  const publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 60, width: 640, height: 360 });
  t.teardown(() => publisher.stop());
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const web = await viewer('live-art@example.com');
  const detail = async () => ((await (await device(`/v1/catalog/items/${stream.id}`, web)).json()) as { kind: string; images: Images });
  await waitUntil(async () => (await detail()).images.poster !== undefined, 'artwork for the live stream', 30_000);
  const { kind, images } = await detail();
  t.equal(kind, 'live-stream');
  const poster = await server.api(images.poster!.jpeg!, { admin: false });
  t.same(imageSize(Buffer.from(await poster.arrayBuffer())), { width: 500, height: 750 }, "a poster at the web profile's size");
  const backdrop = await server.api(images.backdrop!.webp!, { admin: false });
  t.equal(backdrop.headers.get('content-type'), 'image/webp', 'and a WebP backdrop');
  const home = (await (await device('/v1/home', web)).json()) as { rails: { kind: string; items: { id: string; images?: Images }[] }[] };
  const live = home.rails.find((rail) => rail.kind === 'live');
  t.same(live?.items.find((item) => item.id === stream.id)?.images?.poster, images.poster, 'the live rail shows the same art');
});
