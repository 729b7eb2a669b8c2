import t from 'tap';
import { makeSource } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let titleId: string;
let token: string;
t.before(async () => {
  server = await startTestServer();
  titleId = (await server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'Edge checked')).id;
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', json: { contentId: titleId } })).json()) as { sources: { url: string }[] };
  token = new URL(session.sources[0]!.url).pathname.split('/')[3]!;
});
t.teardown(() => server?.stop());

const ask = (uri?: string) => server.api('/v1/edge/authorize', { admin: false, headers: uri === undefined ? {} : { 'x-original-uri': uri } });

t.test("the edge's authorization answers 204 with the session's cap for a media URL the token may read", async (t) => {
  const answer = await ask(`/media/${titleId}/${token}/master.m3u8?CMCD=br%3D1`);
  t.equal(answer.status, 204);
  t.equal(answer.headers.get('x-weir-cap'), 'none', 'an admin session has no cap');
});

t.test('refusals are 401 or 403 only (what auth_request understands), the code in X-Weir-Error', async (t) => {
  const forged = await ask(`/media/${titleId}/0192d4e5-7b1a-7c3d-9e8f-0a1b2c3d4e5f.AAAAAAAAAAAAAAAAAAAAAA/master.m3u8`);
  t.equal(forged.status, 401);
  t.equal(forged.headers.get('x-weir-error'), 'PLAYBACK_TOKEN_INVALID');
  const elsewhere = await ask(`/media/another-title/${token}/master.m3u8`);
  t.equal(elsewhere.status, 403);
  t.equal(elsewhere.headers.get('x-weir-error'), 'PLAYBACK_TOKEN_WRONG_CONTENT');
  const badPath = await ask(`/media/${titleId}/${token}/..%2Fsecret`);
  t.equal(badPath.status, 403);
  t.equal(badPath.headers.get('x-weir-error'), 'MEDIA_PATH_INVALID');
  const broken = await ask(`/media/${titleId}/${token}/%E0%A4%A`);
  t.equal(broken.headers.get('x-weir-error'), 'MEDIA_PATH_INVALID', 'broken percent-encoding is refused, not a server error');
  const none = await ask();
  t.equal(none.status, 400);
  t.match(await none.json(), { error: { code: 'VALIDATION_FAILED', message: /X-Original-URI/ } });
});
