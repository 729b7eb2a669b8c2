import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { openDatabase } from '../../../src/catalog/database.js';
import { createLogger } from '../../../src/logger.js';
import { retryDelayMs, WebhookDispatcher } from '../../../src/operator/webhooks/dispatcher.js';
import { addressPolicy, httpSender } from '../../../src/operator/webhooks/send.js';
import { WebhookStore } from '../../../src/operator/webhooks/store.js';
import { textSealer } from '../../../src/secrets.js';
import { startReceiver } from '../../helpers/webhook-receiver.js';
import { waitUntil } from '../../helpers/wait.js';
import { onEachEngine, type TestCatalog } from '../../helpers/catalog.js';

const secret = `whsec_${randomBytes(24).toString('base64')}`;

/** A store in a real SQLite file and a dispatcher sending over loopback, with short retries. */
function setup(t: Test, catalog: TestCatalog, options: { maxAttempts?: number; retryBaseMs?: number } = {}) {
  const db = catalog.db;
  const sealer = textSealer(randomBytes(32));
  const store = new WebhookStore(db, sealer);
  const outcomes: string[] = [];
  const dispatcher = new WebhookDispatcher({
    store,
    send: httpSender({ allowed: addressPolicy(['127.0.0.0/8']), timeoutMs: 2_000, userAgent: 'test' }),
    now: Date.now,
    log: createLogger('silent'),
    concurrency: 4,
    maxAttempts: options.maxAttempts ?? 5,
    retryBaseMs: options.retryBaseMs ?? 20,
    maxRetryMs: Math.max(200, options.retryBaseMs ?? 0),
    onAttempt: (outcome) => outcomes.push(outcome),
  });
  t.teardown(async () => {
    await dispatcher.stop();
  });
  return { db, sealer, store, dispatcher, outcomes };
}

onEachEngine(t, 'a receiver that fails twice and then succeeds gets the message three times with one id and one success, each signed', async (t, catalog) => {
  const receiver = await startReceiver((_request, index) => (index < 2 ? 500 : 200));
  t.teardown(() => receiver.close());
  const { store, dispatcher, outcomes } = setup(t, catalog);
  const endpoint = store.createEndpoint({ id: 'e1', url: receiver.url, description: '', eventTypes: ['stream.changed'], secret, enabled: true }, Date.now());
  dispatcher.start();
  const [id] = dispatcher.enqueue('stream.changed', { id: 's1', state: 'live' });
  await waitUntil(() => store.message(id!)?.state === 'delivered', 'the delivery');
  // A later message, delivered after, shows nothing more was sent for the first.
  const [later] = dispatcher.enqueue('stream.changed', { id: 's1', state: 'idle' });
  await waitUntil(() => store.message(later!)?.state === 'delivered', 'the second delivery');

  const ofFirst = receiver.received.filter((r) => r.headers['webhook-id'] === id);
  t.same(ofFirst.map((r) => r.answered), [500, 500, 200], 'three attempts, exactly one successful');
  for (const request of ofFirst) {
    const verified = new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as { type: string; data: unknown };
    t.match(verified, { type: 'stream.changed', timestamp: /^\d{4}-\d\d-\d\dT/, data: { id: 's1', state: 'live' } }, 'the reference library verifies the signature');
  }
  t.throws(() => new Webhook(`whsec_${randomBytes(24).toString('base64')}`).verify(ofFirst[2]!.body, ofFirst[2]!.headers as Record<string, string>), 'another secret does not verify');
  const log = store.deliveryLog(endpoint.id, 10, null);
  const first = log.find((m) => m.id === id)!;
  t.same(first.attemptLog.map((a) => [a.attempt, a.status, a.error]), [[1, 500, 'HTTP_STATUS'], [2, 500, 'HTTP_STATUS'], [3, 200, null]], 'the delivery log has each attempt');
  t.ok(first.attemptLog[1]!.at - first.attemptLog[0]!.at >= 10, 'the retry waited (half the base at least, with jitter)');
  t.same(outcomes, ['failed', 'failed', 'delivered', 'delivered']);
  t.equal(store.pendingCount(), 0);
});

onEachEngine(t, 'a message is given up after the last attempt, and a 410 turns its endpoint off', async (t, catalog) => {
  const receiver = await startReceiver(() => 503);
  t.teardown(() => receiver.close());
  const { store, dispatcher, outcomes } = setup(t, catalog, { maxAttempts: 3 });
  store.createEndpoint({ id: 'e1', url: receiver.url, description: '', eventTypes: ['title.changed'], secret, enabled: true }, Date.now());
  dispatcher.start();
  const [id] = dispatcher.enqueue('title.changed', { id: 't1', state: 'failed' });
  await waitUntil(() => store.message(id!)?.state === 'failed', 'giving up');
  t.equal(store.message(id!)!.attempts, 3);
  t.same(outcomes, ['failed', 'failed', 'gave_up']);

  receiver.answer = () => 410;
  const [gone] = dispatcher.enqueue('title.changed', { id: 't1', state: 'ready' });
  await waitUntil(() => store.message(gone!)?.state === 'failed', 'the 410');
  t.equal(store.message(gone!)!.attempts, 1, 'no retry after 410');
  t.same(store.endpoint('e1')!.enabled, false);
  t.match(store.endpoint('e1')!.disabledReason, /410/);
  t.same(dispatcher.enqueue('title.changed', { id: 't2', state: 'ready' }), [], 'a turned-off endpoint gets no new messages');
});

onEachEngine(t, 'messages go only to endpoints that asked for their type, and pending ones survive a new dispatcher on the same file', async (t, catalog) => {
  const receiver = await startReceiver(() => 200);
  t.teardown(() => receiver.close());
  const { db, sealer, store, dispatcher } = setup(t, catalog);
  store.createEndpoint({ id: 'streams', url: receiver.url, description: '', eventTypes: ['stream.changed'], secret, enabled: true }, Date.now());
  store.createEndpoint({ id: 'titles', url: receiver.url, description: '', eventTypes: ['title.changed', 'title.removed'], secret, enabled: true }, Date.now());
  // Not started: the messages wait in the outbox, as after a crash.
  const ids = [...dispatcher.enqueue('title.removed', { id: 't1' }), ...dispatcher.enqueue('session.started', { id: 'x' })];
  t.equal(ids.length, 1, 'one endpoint asked for title.removed, none for session.started');
  t.equal(store.message(ids[0]!)!.endpointId, 'titles');
  const second = new WebhookDispatcher({ store: new WebhookStore(db, sealer), send: httpSender({ allowed: addressPolicy(['127.0.0.0/8']), timeoutMs: 2_000, userAgent: 't' }), now: Date.now, log: createLogger('silent'), concurrency: 1, maxAttempts: 2, retryBaseMs: 10, maxRetryMs: 10 });
  second.start();
  t.teardown(() => second.stop());
  await receiver.waitFor((r) => r.headers['webhook-id'] === ids[0], 'the waiting message');
  await waitUntil(() => store.message(ids[0]!)?.state === 'delivered', 'delivered state');
});

t.test('retry delays grow four-fold from the base, stay under the cap, and are jittered between half and all of it', async (t) => {
  t.equal(retryDelayMs(1, 1000, 60_000, 0.999999), 1000);
  t.equal(retryDelayMs(2, 1000, 60_000, 0.999999), 4000);
  t.equal(retryDelayMs(3, 1000, 60_000, 0), 8000);
  t.equal(retryDelayMs(9, 1000, 60_000, 0.999999), 60_000);
});

onEachEngine(t, 'stopping cuts an attempt in flight without recording it, so the message is sent again after a restart', async (t, catalog) => {
  const receiver = await startReceiver(() => 0); // never answers
  t.teardown(() => receiver.close());
  const { store, dispatcher } = setup(t, catalog);
  store.createEndpoint({ id: 'e1', url: receiver.url, description: '', eventTypes: ['stream.changed'], secret, enabled: true }, Date.now());
  dispatcher.start();
  const [id] = dispatcher.enqueue('stream.changed', { id: 's1', state: 'live' });
  await receiver.waitFor(() => true, 'the attempt');
  const started = performance.now();
  await dispatcher.stop();
  t.ok(performance.now() - started < 1_000, 'stop does not wait out the 2 s timeout');
  t.match(store.message(id!), { state: 'pending', attempts: 0 }, 'no attempt recorded: it is still to be sent');
});

onEachEngine(t, 'messages that fell due while their endpoint was off go as soon as it is turned back on', async (t, catalog) => {
  const receiver = await startReceiver(() => 503);
  t.teardown(() => receiver.close());
  const { store, dispatcher } = setup(t, catalog, { retryBaseMs: 400 });
  const endpoint = store.createEndpoint({ id: 'e1', url: receiver.url, description: '', eventTypes: ['stream.changed'], secret, enabled: true }, Date.now());
  dispatcher.start();
  const [id] = dispatcher.enqueue('stream.changed', { id: 's1', state: 'live' });
  await waitUntil(() => store.message(id!)?.attempts === 1, 'the first attempt');
  store.updateEndpoint({ ...endpoint, enabled: false }, Date.now());
  const dueAt = store.message(id!)!.nextAttemptAt!;
  await waitUntil(() => Date.now() > dueAt + 50, 'the retry time passing while off');
  t.equal(receiver.received.length, 1, 'nothing sent while off');
  receiver.answer = () => 200;
  store.updateEndpoint({ ...endpoint, enabled: true }, Date.now());
  dispatcher.wake();
  await waitUntil(() => store.message(id!)?.state === 'delivered', 'delivery once back on');
});
