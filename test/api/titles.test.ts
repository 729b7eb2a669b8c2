import t from 'tap';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
t.before(async () => {
  server = await startTestServer();
});
t.teardown(() => server.stop());

const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

t.test('creating a title returns it awaiting upload with where to upload', async (t) => {
  const response = await server.api('/v1/titles', { method: 'POST', json: { title: 'Big Buck', description: 'A rabbit', tags: ['animation'] } });
  t.equal(response.status, 201);
  const title = (await response.json()) as Record<string, unknown> & { id: string; upload: { url: string; tusEndpoint: string } };
  t.match(title, { title: 'Big Buck', description: 'A rabbit', tags: ['animation'], state: 'awaiting_upload', progress: 0, error: null, renditions: [] });
  t.equal(response.headers.get('location'), `/v1/titles/${title.id}`);
  t.equal(title.upload.url, `${server.url}/v1/titles/${title.id}/source`);
  t.equal(title.upload.tusEndpoint, `${server.url}/v1/uploads`);
  const fetched = (await (await server.api(`/v1/titles/${title.id}`)).json()) as { id: string };
  t.equal(fetched.id, title.id);
  const list = (await (await server.api('/v1/titles?limit=10')).json()) as { items: { id: string }[]; total: number };
  t.ok(list.items.some((item) => item.id === title.id));
  t.ok(list.total >= 1);
});

t.test('bad title bodies get a coded 400 naming the field, what was expected and what arrived', async (t) => {
  const missing = await server.api('/v1/titles', { method: 'POST', json: { description: 'no title' } });
  t.equal(missing.status, 400);
  t.match(await errorOf(missing), { code: 'VALIDATION_FAILED', message: /title: Invalid input: expected string, received undefined/ });
  const wrongType = await server.api('/v1/titles', { method: 'POST', json: { title: 'x', tags: 'a,b' } });
  t.match(await errorOf(wrongType), { code: 'VALIDATION_FAILED', message: /tags: Invalid input: expected array, received string/ });
  const unknownKey = await server.api('/v1/titles', { method: 'POST', json: { title: 'x', colour: 'red' } });
  t.match(await errorOf(unknownKey), { code: 'VALIDATION_FAILED', message: /colour/ });
  const notJson = await server.api('/v1/titles', { method: 'POST', body: '{"title": ', headers: { 'content-type': 'application/json' } });
  t.equal(notJson.status, 400);
  t.match(await errorOf(notJson), { code: 'VALIDATION_FAILED', message: /not valid JSON/ });
  const badQuery = await server.api('/v1/titles?limit=0');
  t.match(await errorOf(badQuery), { code: 'VALIDATION_FAILED', message: /limit/ });
});

t.test('admin routes refuse requests without the admin token', async (t) => {
  for (const [method, path] of [['POST', '/v1/titles'], ['GET', '/v1/titles'], ['GET', '/v1/titles/x'], ['DELETE', '/v1/titles/x']] as const) {
    const none = await server.api(path, { method, admin: false });
    t.equal(none.status, 401, `${method} ${path} without a token`);
    t.equal((await errorOf(none)).code, 'ADMIN_AUTH_REQUIRED');
    const wrong = await server.api(path, { method, admin: false, headers: { authorization: 'Bearer wrong' } });
    t.equal(wrong.status, 401, `${method} ${path} with a wrong token`);
  }
});

t.test('unknown titles and routes answer coded 404s', async (t) => {
  const title = await server.api('/v1/titles/does-not-exist');
  t.equal(title.status, 404);
  t.match(await errorOf(title), { code: 'TITLE_NOT_FOUND', message: /does-not-exist/ });
  const route = await server.api('/v1/nothing-here');
  t.equal(route.status, 404);
  t.equal((await errorOf(route)).code, 'NOT_FOUND');
});

t.test('health and readiness answer without auth', async (t) => {
  t.same(await (await server.api('/healthz', { admin: false })).json(), { status: 'ok' });
  const ready = await server.api('/readyz', { admin: false });
  t.equal(ready.status, 200);
  t.same(await ready.json(), { status: 'ready', checks: { database: true, ffmpeg: true, ffprobe: true } });
});
