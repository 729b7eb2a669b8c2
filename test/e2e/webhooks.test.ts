import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { makeSource } from '../helpers/media.js';
import { spawnWeir } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startReceiver, type ReceivedWebhook } from '../helpers/webhook-receiver.js';
import { waitUntil } from '../helpers/wait.js';

type Payload = { type: string; timestamp: string; data: Record<string, unknown> };
const payloadOf = (request: ReceivedWebhook) => JSON.parse(request.body) as Payload;

let server: TestServer;
t.before(async () => {
  // The receivers run on this machine: loopback is allowed explicitly, nothing else private.
  server = await startTestServer({ webhooks: { allowedAddresses: ['127.0.0.0/8'], retryBaseMs: 50, maxRetryMinutes: 1 } });
});
t.teardown(() => server?.stop());

t.test('registering a webhook refuses private addresses, credentials, other schemes and unknown event types with coded errors', async (t) => {
  const register = (json: unknown) => server.api('/v1/webhooks', { method: 'POST', json });
  for (const url of ['http://10.0.0.5/hook', 'http://169.254.169.254/latest', 'http://[fe80::1]/x', 'http://[::1]:8080/x', 'http://192.168.1.20/']) {
    const answer = await register({ url, events: ['title.changed'] });
    t.equal(answer.status, 422, url);
    t.match(await answer.json(), { error: { code: 'WEBHOOK_URL_REFUSED', message: /private, loopback, link-local or reserved/ } });
  }
  const withPassword = await register({ url: 'http://user:pw@127.0.0.1/x', events: ['title.changed'] });
  t.match(await withPassword.json(), { error: { code: 'WEBHOOK_URL_REFUSED', message: /user name or password/ } });
  const ftp = await register({ url: 'ftp://127.0.0.1/x', events: ['title.changed'] });
  t.equal(ftp.status, 400);
  const unknownType = await register({ url: 'http://127.0.0.1/x', events: ['title.exploded'] });
  t.match(await unknownType.json(), { error: { code: 'VALIDATION_FAILED', message: /events\.0: .*title\.changed/ } });
  t.equal((await server.api('/v1/webhooks', { admin: false })).status, 401, 'admin only');
  t.equal((await server.api('/v1/webhooks/nope')).status, 404);
});

t.test('a title upload and deletion reach a registered endpoint as signed state changes, logged per attempt', async (t) => {
  const receiver = await startReceiver();
  t.teardown(() => receiver.close());
  const created = await server.api('/v1/webhooks', { method: 'POST', json: { url: receiver.url, events: ['title.changed', 'title.removed'], description: 'titles to the CMS' } });
  t.equal(created.status, 201);
  const endpoint = (await created.json()) as { id: string; secret: string; events: string[]; enabled: boolean };
  t.match(endpoint, { events: ['title.changed', 'title.removed'], enabled: true, secret: /^whsec_/ });
  const shown = (await (await server.api(`/v1/webhooks/${endpoint.id}`)).json()) as Record<string, unknown>;
  t.notOk('secret' in shown, 'the secret is shown once, at creation');

  const { id } = await server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'Hooked');
  await receiver.waitFor((r) => payloadOf(r).data.id === id && payloadOf(r).data.state === 'ready', 'the ready change');
  t.equal((await server.api(`/v1/titles/${id}`, { method: 'DELETE' })).status, 204);
  await receiver.waitFor((r) => payloadOf(r).type === 'title.removed', 'the removal');

  const ofTitle = receiver.received.filter((r) => payloadOf(r).data.id === id);
  const states = ofTitle.filter((r) => payloadOf(r).type === 'title.changed').map((r) => payloadOf(r).data.state);
  t.same(states, [...new Set(states)], `one request per state, none for encode progress (${states.join(' → ')})`);
  t.ok(states.includes('encoding') && states.at(-1) === 'ready');
  for (const request of ofTitle) {
    const verified = new Webhook(endpoint.secret).verify(request.body, request.headers as Record<string, string>);
    t.same(verified, payloadOf(request), `${payloadOf(request).type} verifies with the reference library`);
  }
  t.equal(new Set(ofTitle.map((r) => r.headers['webhook-id'])).size, ofTitle.length, 'each message has its own id');

  const log = (await (await server.api(`/v1/webhooks/${endpoint.id}/deliveries?limit=2`)).json()) as { items: { id: string; state: string; attemptLog: { status: number }[] }[]; next: string | null };
  t.equal(log.items.length, 2);
  t.match(log.items[0], { state: 'delivered', attemptLog: [{ attempt: 1, status: 200, error: null }], payload: { type: 'title.removed' } });
  t.ok(log.next, 'a cursor to the next page');
  const rest = (await (await server.api(`/v1/webhooks/${endpoint.id}/deliveries?before=${log.next}`)).json()) as { items: { id: string }[] };
  t.equal(rest.items.length, ofTitle.length - 2, 'the next page holds the rest, none twice');
  t.notOk(rest.items.some((m) => log.items.some((n) => n.id === m.id)));
  t.equal((await server.api(`/v1/webhooks/${endpoint.id}/deliveries?before=nonsense`)).status, 400);

  // Rotating the secret: what follows verifies with the new one only.
  const { secret } = (await (await server.api(`/v1/webhooks/${endpoint.id}/rotate-secret`, { method: 'POST' })).json()) as { secret: string };
  const test = await server.api(`/v1/webhooks/${endpoint.id}/test`, { method: 'POST' });
  t.equal(test.status, 202);
  const { messageId } = (await test.json()) as { messageId: string };
  const ping = await receiver.waitFor((r) => r.headers['webhook-id'] === messageId, 'the test message');
  t.match(new Webhook(secret).verify(ping.body, ping.headers as Record<string, string>), { type: 'webhook.test' });
  t.throws(() => new Webhook(endpoint.secret).verify(ping.body, ping.headers as Record<string, string>), 'the old secret no longer verifies');

  const off = await server.api(`/v1/webhooks/${endpoint.id}`, { method: 'PATCH', json: { enabled: false } });
  t.match(await off.json(), { enabled: false });
  t.match(await (await server.api(`/v1/webhooks/${endpoint.id}/test`, { method: 'POST' })).json(), { error: { code: 'WEBHOOK_DISABLED' } });
  t.equal((await server.api(`/v1/webhooks/${endpoint.id}`, { method: 'DELETE' })).status, 204);
  t.equal((await server.api(`/v1/webhooks/${endpoint.id}`)).status, 404);

  const metrics = await (await server.api('/metrics')).text();
  const delivered = Number(/weir_webhook_attempts_total\{outcome="delivered"\} (\d+)/.exec(metrics)?.[1]);
  t.ok(delivered >= ofTitle.length + 1, `delivered attempts are counted (${delivered})`);
  t.match(metrics, /weir_webhook_messages_pending 0/);
  const logText = readFileSync(server.logFile, 'utf8');
  t.notOk(logText.includes(endpoint.secret.slice(6, 30)) || logText.includes(secret.slice(6, 30)), 'no secret in the server log');
});

t.test('a receiver that fails twice and then succeeds gets exactly one successful delivery of each message', async (t) => {
  // Each message fails its first two attempts.
  const receiver = await startReceiver((request) => (receiver.received.filter((r) => r.headers['webhook-id'] === request.headers['webhook-id']).length < 2 ? 500 : 204));
  t.teardown(() => receiver.close());
  const endpoint = (await (await server.api('/v1/webhooks', { method: 'POST', json: { url: receiver.url, events: ['stream.changed', 'stream.removed'] } })).json()) as { id: string; secret: string };
  const stream = await server.createStream({ name: 'hooked stream' });
  t.equal((await server.api(`/v1/live-streams/${stream.id}`, { method: 'DELETE' })).status, 204);
  const removal = await receiver.waitFor((r) => payloadOf(r).type === 'stream.removed' && r.answered === 204, 'the removal delivered');
  t.match(payloadOf(removal).data, { id: stream.id });
  const log = (await (await server.api(`/v1/webhooks/${endpoint.id}/deliveries`)).json()) as { items: { id: string; state: string; attempts: number }[] };
  await waitUntil(() => log.items.every((m) => receiver.received.some((r) => r.headers['webhook-id'] === m.id && r.answered === 204)), 'every message delivered');
  t.ok(log.items.length >= 2, `messages: ${log.items.length}`);
  for (const message of log.items) {
    const attempts = receiver.received.filter((r) => r.headers['webhook-id'] === message.id);
    t.same(attempts.map((r) => r.answered), [500, 500, 204], `${payloadOf(attempts[0]!).type}: two failures, then one success`);
    t.ok(attempts.every((r) => new Webhook(endpoint.secret).verify(r.body, r.headers as Record<string, string>)), 'each attempt is signed afresh');
  }
  const after = (await (await server.api(`/v1/webhooks/${endpoint.id}/deliveries`)).json()) as typeof log;
  t.ok(after.items.every((m) => m.state === 'delivered' && m.attempts === 3), 'the log: delivered on the third attempt');
});

t.test('a server killed while delivering a webhook delivers it after it restarts', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-webhook-restart-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const configFile = join(dataDir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ webhooks: { allowedAddresses: ['127.0.0.0/8'], retryBaseMs: 50 } }));
  const receiver = await startReceiver(() => 0); // hangs: the attempt is in flight when the server dies
  t.teardown(() => receiver.close());
  const env = { WEIR_ADMIN_TOKEN: 'webhook-restart' };
  const args = ['--data-dir', dataDir, '--config', configFile];
  const api = (url: string, path: string, json?: unknown) =>
    fetch(`${url}${path}`, { method: json ? 'POST' : 'GET', headers: { authorization: 'Bearer webhook-restart', 'content-type': 'application/json' }, body: json ? JSON.stringify(json) : undefined });

  const first = await spawnWeir(args, env);
  t.teardown(() => first.child.kill('SIGKILL'));
  const endpoint = (await (await api(first.url, '/v1/webhooks', { url: receiver.url, events: ['stream.changed'] })).json()) as { id: string; secret: string };
  const stream = (await (await api(first.url, '/v1/live-streams', { name: 'before the crash' })).json()) as { id: string };
  const hung = await receiver.waitFor((r) => (JSON.parse(r.body) as Payload).data.id === stream.id, 'the first attempt');
  first.child.kill('SIGKILL');
  await first.exited;
  receiver.answer = () => 200;

  const second = await spawnWeir(args, env);
  t.teardown(() => second.child.kill('SIGTERM'));
  const delivered = await receiver.waitFor((r) => r.headers['webhook-id'] === hung.headers['webhook-id'] && r.answered === 200, 'the message after the restart', 30_000);
  t.same(new Webhook(endpoint.secret).verify(delivered.body, delivered.headers as Record<string, string>), JSON.parse(hung.body), 'the same message, signed with the sealed secret the restart read back');
  const log = (await (await api(second.url, `/v1/webhooks/${endpoint.id}/deliveries`)).json()) as { items: { id: string; state: string; attempts: number }[] };
  t.match(log.items.find((m) => m.id === hung.headers['webhook-id']), { state: 'delivered', attempts: 1 }, 'the attempt cut by the kill left no record; the one after it did');
});
