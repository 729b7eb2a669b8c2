import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { PlaybackTokens } from '../../src/delivery/tokens.js';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage, type PlayerKind, type PlayerPageServer, type VideoReport } from '../helpers/browser.js';
import { makeSource } from '../helpers/media.js';
import { fetchOk, joinSegments } from '../helpers/playback.js';
import { debianFfmpegMissing, gstreamerMissing, playWithGStreamer, readWithFfmpeg } from '../helpers/players.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Source = { protocol: string; url: string; drm: { scheme: string; clearkey?: { licenseUrl: string }; aes128?: { keyUrl: string } } | null };
type Session = { sources: Source[] };

const tokenSecret = 'drm-test-token-secret-with-enough-length';
let server: TestServer;
let browser: Browser | undefined;
let pageServer: PlayerPageServer | undefined;
const titles: Record<string, string> = {};

t.before(async () => {
  server = await startTestServer({ packaging: { segmentSeconds: 2 } }, { WEIR_TOKEN_SECRET: tokenSecret });
  const source = makeSource({ width: 640, height: 360, seconds: 6 });
  const results = await Promise.all(['cenc', 'cbcs', 'aes-128'].map((protection) => server.ingest(source, `protected ${protection}`, { protection })));
  ['cenc', 'cbcs', 'aes-128'].forEach((protection, i) => {
    if (results[i]!.view.state !== 'ready') throw new Error(`${protection} title failed: ${JSON.stringify(results[i]!.view.error)}`);
    titles[protection] = results[i]!.id;
  });
  if (!chromiumMissing) [browser, pageServer] = await Promise.all([launchChromium(), servePlayerPage()]);
});
t.teardown(async () => {
  await browser?.close();
  await pageServer?.close();
  await server?.stop();
});

async function session(contentId: string): Promise<Session> {
  const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId } });
  const body = (await response.json()) as Session;
  for (const s of body.sources) {
    s.url = s.url.replace('localhost', '127.0.0.1');
    if (s.drm?.clearkey) s.drm.clearkey.licenseUrl = s.drm.clearkey.licenseUrl.replace('localhost', '127.0.0.1');
  }
  return body;
}

const play = (kind: PlayerKind, url: string, config: unknown): Promise<VideoReport> =>
  playAndWait(browser!, pageServer!.url, { kind, url, config, frames: 60, seconds: 2, timeoutMs: 30_000 });

function assertPlays(t: Test, report: VideoReport): void {
  t.same(report.errors, [], 'no player errors');
  t.ok(report.frames > 60, `frames were decoded (${report.frames})`);
  t.ok(report.currentTime > 2, `time advanced (${report.currentTime.toFixed(2)} s)`);
}

t.test('protected titles publish key signalling in both manifests and encrypted init segments', async (t) => {
  for (const scheme of ['cenc', 'cbcs']) {
    const { sources } = await session(titles[scheme]!);
    t.same(sources.map((s) => s.protocol), ['hls', 'dash']);
    t.equal(sources[0]!.drm?.scheme, scheme);
    t.match(sources[0]!.drm?.clearkey?.licenseUrl, /\/clearkey$/, 'the session says where the ClearKey license is');
    const media = await (await fetchOk(sources[0]!.url.replace('master.m3u8', 'v0/index.m3u8'))).text();
    t.match(media, new RegExp(`#EXT-X-KEY:METHOD=${scheme === 'cenc' ? 'SAMPLE-AES-CTR' : 'SAMPLE-AES'},URI="data:text/plain;base64,[A-Za-z0-9+/=]+",KEYFORMAT="org.w3.clearkey"`));
    const mpd = await (await fetchOk(sources[1]!.url)).text();
    t.match(mpd, new RegExp(`<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${scheme}" cenc:default_KID="[0-9a-f-]{36}"/>`));
    t.match(mpd, /urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e/, 'ClearKey is signalled');
    const init = Buffer.from(await (await fetchOk(sources[0]!.url.replace('master.m3u8', 'v0/init.mp4'))).arrayBuffer());
    t.ok(init.includes(Buffer.from('encv')) && init.includes(Buffer.from(scheme)), `the init segment has encv and schm ${scheme}`);
  }
  const aes = await session(titles['aes-128']!);
  t.same(aes.sources.map((s) => s.protocol), ['hls'], 'AES-128 is offered over HLS only');
  const playlist = await (await fetchOk(aes.sources[0]!.url.replace('master.m3u8', 'v0/index.m3u8'))).text();
  t.match(playlist, /#EXT-X-KEY:METHOD=AES-128,URI="..\/aes128.key"\n#EXTINF:[0-9.]+,\nseg-1\.ts\n/, 'the key, then transport stream segments');
  t.notMatch(playlist, /EXT-X-MAP/, 'with no init segment');
});

t.test('the license and key endpoints refuse missing, expired, forged and other-content tokens', async (t) => {
  const { sources } = await session(titles.cenc!);
  const licenseUrl = sources[0]!.drm!.clearkey!.licenseUrl;
  const token = new URL(licenseUrl).pathname.split('/')[3]!;
  const kid = /base64,([^"]+)"/.exec(await (await fetchOk(sources[0]!.url.replace('master.m3u8', 'v0/index.m3u8'))).text())![1]!;
  const request = (url: string) => fetch(url, { method: 'POST', body: JSON.stringify({ kids: [Buffer.from(kid, 'base64').toString('base64url')], type: 'temporary' }) });
  const granted = await request(licenseUrl);
  t.equal(granted.status, 200);
  const license = (await granted.json()) as { keys: { kty: string; kid: string; k: string }[] };
  t.equal(license.keys.length, 1);
  t.equal(license.keys[0]!.kty, 'oct');
  t.equal(Buffer.from(license.keys[0]!.k, 'base64url').length, 16);
  t.equal(granted.headers.get('cache-control'), 'private, no-store');

  const expired = new PlaybackTokens(tokenSecret).issue(randomUUID());
  const forged = token.slice(0, -3) + (token.endsWith('AAA') ? 'BBB' : 'AAA');
  const other = new URL((await session(titles.cbcs!)).sources[0]!.drm!.clearkey!.licenseUrl).pathname.split('/')[3]!;
  t.equal((await request(licenseUrl.replace(`/${token}/`, '/'))).status, 404, 'no token: no such route');
  t.equal((await request(licenseUrl.replace(token, expired))).status, 403, 'a token of no running session');
  t.equal((await request(licenseUrl.replace(token, forged))).status, 401, 'forged token');
  t.equal((await request(licenseUrl.replace(token, other))).status, 403, "another title's token");
  const wrongKid = await fetch(licenseUrl, { method: 'POST', body: JSON.stringify({ kids: [Buffer.alloc(16, 7).toString('base64url')] }) });
  t.equal(wrongKid.status, 404, "keys of other content are never handed out");

  const aes = await session(titles['aes-128']!);
  const keyUrl = aes.sources[0]!.drm!.aes128!.keyUrl.replace('localhost', '127.0.0.1');
  const key = await fetch(keyUrl);
  t.equal(key.status, 200);
  t.equal((await key.arrayBuffer()).byteLength, 16);
  const aesToken = new URL(keyUrl).pathname.split('/')[3]!;
  t.equal((await fetch(keyUrl.replace(aesToken, other))).status, 403, "the AES-128 key needs this title's token");
  t.equal((await fetch(keyUrl.replace(aesToken, forged))).status, 401);
});

t.test('in Chromium with the ClearKey CDM, cenc and cbcs titles play in Shaka (DASH) and hls.js (HLS), and not when the license is refused', { skip: chromiumMissing }, async (t) => {
  for (const scheme of ['cenc', 'cbcs']) {
    const { sources } = await session(titles[scheme]!);
    const licenseUrl = sources[0]!.drm!.clearkey!.licenseUrl;
    t.test(`${scheme} in Shaka Player`, async (t) => assertPlays(t, await play('dash', sources[1]!.url, { drm: { servers: { 'org.w3.clearkey': licenseUrl } } })));
    t.test(`${scheme} in hls.js`, async (t) => assertPlays(t, await play('hls', sources[0]!.url, { emeEnabled: true, drmSystems: { 'org.w3.clearkey': { licenseUrl } } })));
    t.test(`${scheme} with a license server that refuses decodes no frames`, async (t) => {
      const report = await playAndWait(browser!, pageServer!.url, { kind: 'dash', url: sources[1]!.url, frames: 60, seconds: 2, timeoutMs: 15_000, refuse: /\/clearkey$/ });
      t.equal(report.frames, 0, `no frames (${report.errors.join(', ') || 'no error event'})`);
    });
  }
});

t.test('dash.js plays cenc and cbcs titles configured only from the MPD (dashif:Laurl names the session license)', { skip: chromiumMissing }, async (t) => {
  for (const scheme of ['cenc', 'cbcs']) {
    const { sources } = await session(titles[scheme]!);
    const mpd = await (await fetchOk(sources[1]!.url)).text();
    t.ok(mpd.includes(`<dashif:Laurl>${sources[1]!.drm!.clearkey!.licenseUrl}</dashif:Laurl>`), `${scheme}: the MPD carries this session's license URL`);
    assertPlays(t, await play('dashjs', sources[1]!.url, {}));
  }
});

t.test('ffmpeg decrypts the first segment of every cenc and cbcs rendition, audio included, with the license key', { skip: debianFfmpegMissing }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-decrypt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const scheme of ['cenc', 'cbcs']) {
    const { sources } = await session(titles[scheme]!);
    const base = sources[0]!.url.replace('master.m3u8', '');
    const kid = /base64,([^"]+)"/.exec(await (await fetchOk(`${base}v0/index.m3u8`)).text())![1]!;
    const license = (await (await fetch(sources[0]!.drm!.clearkey!.licenseUrl, { method: 'POST', body: JSON.stringify({ kids: [Buffer.from(kid, 'base64').toString('base64url')] }) })).json()) as { keys: { k: string }[] };
    const key = Buffer.from(license.keys[0]!.k, 'base64url').toString('hex');
    for (const rendition of ['v0', 'a0']) {
      const init = Buffer.from(await (await fetchOk(`${base}${rendition}/init.mp4`)).arrayBuffer());
      const segment = Buffer.from(await (await fetchOk(`${base}${rendition}/seg-1.m4s`)).arrayBuffer());
      const file = joinSegments(join(dir, `${scheme}-${rendition}.mp4`), init, [segment]);
      const report = await readWithFfmpeg(file, ['-decryption_key', key]);
      t.ok(report.ok, `${scheme} ${rendition}: ${report.errors || 'decrypted and decoded without an error'}`);
      const wrong = await readWithFfmpeg(file, ['-decryption_key', '00'.repeat(16)]);
      t.notOk(wrong.ok, `${scheme} ${rendition}: a wrong key does not decode cleanly`);
    }
  }
});

t.test('an AES-128 title plays in hls.js', { skip: chromiumMissing }, async (t) => {
  const { sources } = await session(titles['aes-128']!);
  assertPlays(t, await play('hls', sources[0]!.url, {}));
});

t.test('GStreamer (hlsdemux2, as Linux set-top boxes run it) plays an AES-128 title to its end', { skip: gstreamerMissing() }, async (t) => {
  const { sources } = await session(titles['aes-128']!);
  const report = await playWithGStreamer(sources[0]!.url.replace('localhost', '127.0.0.1'), 30);
  t.same(report.errors, [], 'no errors');
  t.ok(report.eos, 'reached the end of the stream');
  t.ok(report.rendered >= 150, `rendered the title's frames (${report.rendered} of 180${report.attempts > 1 ? `; play ${report.attempts}, after GStreamer's own race` : ''})`);
});

t.test('ffmpeg reads an AES-128 title through its key URL, and a copy of a segment is noise without the key', { skip: debianFfmpegMissing }, async (t) => {
  const { sources } = await session(titles['aes-128']!);
  const report = await readWithFfmpeg(sources[0]!.url.replace('localhost', '127.0.0.1'));
  t.ok(report.ok, report.errors || 'every stream decoded without an error');
  const dir = mkdtempSync(join(tmpdir(), 'weir-aes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const segment = Buffer.from(await (await fetchOk(sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', 'v0/seg-1.ts'))).arrayBuffer());
  // One random byte is 0x47 once in 256 segments; every packet start of a plain segment is.
  const packetStarts = Math.floor(segment.length / 188);
  let synced = 0;
  for (let i = 0; i < packetStarts; i++) if (segment[i * 188] === 0x47) synced++;
  t.ok(packetStarts > 10 && synced < packetStarts / 2, `the segment as served is not a transport stream (${synced} of ${packetStarts} packet starts carry the sync byte)`);
  const copy = join(dir, 'seg-1.ts');
  joinSegments(copy, segment, []);
  t.notOk((await readWithFfmpeg(copy)).ok, 'read without the key, it does not decode');
});

t.test('no key bytes appear in the server log', async (t) => {
  const log = readFileSync(server.logFile, 'utf8');
  for (const scheme of ['cenc', 'cbcs']) {
    const { sources } = await session(titles[scheme]!);
    const kid = /base64,([^"]+)"/.exec(await (await fetchOk(sources[0]!.url.replace('master.m3u8', 'v0/index.m3u8'))).text())![1]!;
    const license = (await (await fetch(sources[0]!.drm!.clearkey!.licenseUrl, { method: 'POST', body: JSON.stringify({ kids: [Buffer.from(kid, 'base64').toString('base64url')] }) })).json()) as { keys: { k: string }[] };
    const key = Buffer.from(license.keys[0]!.k, 'base64url');
    for (const form of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) t.notOk(log.includes(form), `${scheme} key absent (${form.length}-char form)`);
  }
  const aes = await session(titles['aes-128']!);
  const aesKey = Buffer.from(await (await fetch(aes.sources[0]!.drm!.aes128!.keyUrl.replace('localhost', '127.0.0.1'))).arrayBuffer());
  for (const form of [aesKey.toString('hex'), aesKey.toString('base64')]) t.notOk(log.includes(form), 'AES-128 key absent');
});
