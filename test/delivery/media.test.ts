import t from 'tap';
import { randomUUID } from 'node:crypto';
import { hs256Tokens } from '../../src/hs256.js';
import { PlaybackTokens } from '../../src/delivery/tokens.js';
import { makeSource } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const tokenSecret = 'a-test-only-token-secret-of-enough-length';
let server: TestServer;
let first: string;
let second: string;

t.before(async () => {
  server = await startTestServer({ packaging: { segmentSeconds: 2 } }, { WEIR_TOKEN_SECRET: tokenSecret });
  const source = makeSource({ width: 320, height: 180, seconds: 2 });
  [first, second] = (await Promise.all([server.ingest(source), server.ingest(source)])).map((r) => r.id) as [string, string];
});
t.teardown(() => server.stop());

async function hlsUrl(contentId: string): Promise<string> {
  const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId } });
  const body = (await response.json()) as { sources: { protocol: string; url: string }[] };
  return body.sources[0]!.url;
}

const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

t.test('media is served only with a valid token for that content', async (t) => {
  const url = await hlsUrl(first);
  t.equal((await fetch(url)).status, 200, 'the session URL works');
  const segment = url.replace('master.m3u8', 'v0/seg-1.m4s');
  t.equal((await fetch(segment)).status, 200, 'so do segments under it');

  const missing = await fetch(`${server.url}/media/${first}/master.m3u8`);
  t.equal(missing.status, 401);
  t.equal((await errorOf(missing)).code, 'PLAYBACK_TOKEN_MISSING');

  const token = new URL(url).pathname.split('/')[3]!;
  const forgedToken = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const forged = await fetch(url.replace(token, forgedToken));
  t.equal(forged.status, 401);
  t.equal((await errorOf(forged)).code, 'PLAYBACK_TOKEN_INVALID');

  const sessionId = token.split('.')[0]!;
  const otherKey = new PlaybackTokens('some-other-secret-entirely').issue(sessionId);
  const wrongKey = await fetch(url.replace(token, otherKey));
  t.equal(wrongKey.status, 401, 'a token signed with another key is refused');

  // Rightly signed, but for a session the server never started (or has forgotten): no media.
  const noSessionToken = new PlaybackTokens(tokenSecret).issue(randomUUID());
  const noSession = await fetch(url.replace(token, noSessionToken));
  t.equal(noSession.status, 403);
  t.match(await errorOf(noSession), { code: 'PLAYBACK_SESSION_ENDED', message: /start a new one/ });

  const otherTitle = await fetch(url.replace(`/media/${first}/`, `/media/${second}/`));
  t.equal(otherTitle.status, 403, "another title's media with this title's token is refused");
  t.equal((await errorOf(otherTitle)).code, 'PLAYBACK_TOKEN_WRONG_CONTENT');

  const hidden = await fetch(url.replace('master.m3u8', '.hidden'));
  t.equal(hidden.status, 400);
});

t.test('a playback token is short, names its session, and binds it: media of other content or of a forged session is refused', async (t) => {
  const url = await hlsUrl(first);
  const token = new URL(url).pathname.split('/')[3]!;
  t.match(token, /^[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}$/, 'the session id and a 128-bit MAC, five times in every session answer');
  const [sessionId] = token.split('.');
  const otherSession = new URL(await hlsUrl(first)).pathname.split('/')[3]!;
  const spliced = `${otherSession.split('.')[0]}.${token.split('.')[1]}`;
  t.equal((await errorOf(await fetch(url.replace(token, spliced)))).code, 'PLAYBACK_TOKEN_INVALID', "another session's id under this MAC is refused");
  t.equal((await errorOf(await fetch(url.replace(token, `${sessionId}.${'A'.repeat(21)}`)))).code, 'PLAYBACK_TOKEN_INVALID', 'a short MAC is refused');
  t.equal((await errorOf(await fetch(url.replace(token, 'not-a-token')))).code, 'PLAYBACK_TOKEN_INVALID', 'garbage is refused');
});

t.test('tokens issued before the short form (HS256 JWTs) keep working for their running sessions: an upgrade cuts no one off', async (t) => {
  const url = await hlsUrl(first);
  const token = new URL(url).pathname.split('/')[3]!;
  const legacy = hs256Tokens(tokenSecret, { issuer: 'weir', audience: 'weir-playback' }).sign({ sid: token.split('.')[0], sub: first, iat: Math.floor(Date.now() / 1000) });
  t.equal((await fetch(url.replace(token, legacy))).status, 200, 'the running session plays with its old token');
  const forOther = hs256Tokens(tokenSecret, { issuer: 'weir', audience: 'weir-playback' }).sign({ sid: token.split('.')[0], sub: second, iat: 0 });
  t.equal((await errorOf(await fetch(url.replace(token, forOther)))).code, 'PLAYBACK_TOKEN_WRONG_CONTENT', 'an old token names its content, and only that content plays');
  const otherSecret = hs256Tokens('another secret', { issuer: 'weir', audience: 'weir-playback' }).sign({ sid: token.split('.')[0], sub: first, iat: 0 });
  t.equal((await errorOf(await fetch(url.replace(token, otherSecret)))).code, 'PLAYBACK_TOKEN_INVALID', 'an old token of another secret is refused');
});

t.test('paths that try to leave the media dir answer a coded 4xx, never 500, and log no stack', async (t) => {
  const url = await hlsUrl(first);
  const attempts = ['..%2F..%2Fsource', '%2f..%2f..%2fsource', 'v0%2f..%2f..%2fsource', '%00', 'master.m3u8%00.png', '..', 'v0/..%2f..%2fsource', '%2e%2e/%2e%2e/source', 'v0/%c0%ae%c0%ae/source', 'a\\..\\source'];
  for (const attempt of attempts) {
    const response = await fetch(url.replace('master.m3u8', attempt));
    t.ok(response.status >= 400 && response.status < 500, `${attempt} answers ${response.status}`);
    const body = (await response.json()) as { error: { code: string } };
    // fetch resolves plain dot segments itself, so some attempts arrive as a shorter (tokenless) path.
    t.match(body.error.code, /^(MEDIA_PATH_INVALID|NOT_FOUND|PLAYBACK_TOKEN_MISSING)$/, `${attempt} is refused with a code (${body.error.code})`);
  }
  const { readFileSync } = await import('node:fs');
  t.notMatch(readFileSync(server.logFile, 'utf8'), /unhandled error/, 'nothing reached the error log');
});

t.test('playback sessions are refused for content that is missing or not ready, without telling strangers which', async (t) => {
  const unknown = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: 'nope' } });
  t.equal(unknown.status, 404);
  t.equal((await errorOf(unknown)).code, 'CONTENT_UNAVAILABLE');

  const created = await server.api('/v1/titles', { method: 'POST', json: { title: 'pending' } });
  const { id } = (await created.json()) as { id: string };
  const pending = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: id } });
  t.equal(pending.status, 404, 'an existing title that cannot play answers as a missing one would');
  const pendingError = await errorOf(pending);
  t.equal(pendingError.code, 'CONTENT_UNAVAILABLE');
  t.notMatch(pendingError.message, /awaiting_upload/, 'its state is not revealed');
  t.equal(pendingError.message.replace(id, 'X'), (await errorOf(await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: 'X' } }))).message, 'the two messages differ only in the id');

  const asAdmin = await server.api('/v1/playback-sessions', { method: 'POST', json: { contentId: id } });
  t.equal(asAdmin.status, 409, 'the operator is told why');
  t.match(await errorOf(asAdmin), { code: 'CONTENT_NOT_READY', message: /is awaiting_upload/ });

  const invalid = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { content: id } });
  t.equal(invalid.status, 400);
  t.match(await errorOf(invalid), { code: 'VALIDATION_FAILED', message: /contentId/ });
});

t.test('a deleted title stops playing and its media is gone', async (t) => {
  const url = await hlsUrl(second);
  t.equal((await fetch(url)).status, 200);
  const removed = await server.api(`/v1/titles/${second}`, { method: 'DELETE' });
  t.equal(removed.status, 204);
  t.equal((await fetch(url)).status, 409, 'the old session no longer plays');
  t.equal((await server.api(`/v1/titles/${second}`)).status, 404);
  const { existsSync } = await import('node:fs');
  t.notOk(existsSync(`${server.dataDir}/titles/${second}`), 'its files are removed');
});

t.test('players on another origin get CORS answers, preflight included', async (t) => {
  const url = await hlsUrl(first);
  const preflight = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://player.example', 'access-control-request-method': 'GET' } });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers.get('access-control-allow-origin'), 'https://player.example');
  const get = await fetch(url, { headers: { origin: 'https://player.example' } });
  t.equal(get.headers.get('access-control-allow-origin'), 'https://player.example');
  const sessionPreflight = await fetch(`${server.url}/v1/playback-sessions`, {
    method: 'OPTIONS',
    headers: { origin: 'https://player.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  t.equal(sessionPreflight.status, 204);
  const timePreflight = await fetch(`${server.url}/time`, { method: 'OPTIONS', headers: { origin: 'https://player.example', 'access-control-request-method': 'GET' } });
  t.equal(timePreflight.status, 204, 'the UTCTiming clock answers preflight too');
  t.equal(timePreflight.headers.get('access-control-allow-origin'), 'https://player.example');
  t.match(sessionPreflight.headers.get('access-control-allow-headers') ?? '', /content-type/i);
});

t.test('the server log never holds a playback token, whatever the letter case of the path', async (t) => {
  const url = await hlsUrl(first);
  await fetch(url);
  await fetch(url.replace('master.m3u8', 'missing.m3u8'));
  const token = new URL(url).pathname.split('/')[3]!;
  const upper = url.replace('/media/', '/MEDIA/');
  t.equal((await fetch(upper)).status, 200, 'routes match in any case, so redaction must too');
  await fetch(upper.replace('master.m3u8', 'missing.m3u8'));
  await fetch(url.replace('/media/', '/MeDiA/').replace('master.m3u8', 'v0/%00'));
  await fetch(`${url}?token=${token}`);
  const { readFileSync } = await import('node:fs');
  const log = readFileSync(server.logFile, 'utf8');
  t.ok(log.includes('[token]'), 'media requests are logged with the token redacted');
  t.notOk(log.includes(token), 'the token itself appears nowhere');
  t.notOk(log.includes(server.adminToken), 'nor does the admin token');
});
