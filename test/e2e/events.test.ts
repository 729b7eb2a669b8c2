import t from 'tap';
import WebSocket from 'ws';
import { makeSource } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

type Event = { id?: number; type: string; topic?: string; complete?: boolean; data?: Record<string, unknown> };

let server: TestServer;
t.before(async () => {
  server = await startTestServer();
});
t.teardown(() => server?.stop());

/** A client of the event socket that keeps what it receives. */
function listen(query: string, headers: Record<string, string> = { authorization: `Bearer ${server.adminToken}` }) {
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/events${query}`, { headers });
  const received: Event[] = [];
  socket.on('message', (data) => received.push(JSON.parse(String(data)) as Event));
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    socket.once('error', reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return { socket, received, opened, closed };
}

t.test('the event socket needs the admin token and says what it refuses', async (t) => {
  await t.rejects(listen('', {}).opened, /refused with 401/);
  await t.rejects(listen('', { authorization: 'Bearer wrong' }).opened, /refused with 401/);
  await t.rejects(listen('?topics=titles,nonsense').opened, /refused with 400/);
  await t.rejects(listen('?after=-3').opened, /refused with 400/);
  const browserStyle = listen(`?topics=titles&access_token=${server.adminToken}`, {});
  await browserStyle.opened;
  browserStyle.socket.close();
});

t.test('a title upload streams its changes and encode progress; a client that reconnects gets what it missed', async (t) => {
  const client = listen('?topics=titles');
  await client.opened;
  const { id } = await server.ingest(makeSource({ width: 320, height: 180, seconds: 3 }), 'Evented');
  await waitUntil(() => client.received.some((e) => e.data?.id === id && e.data?.state === 'ready'), 'the ready event', 30_000);
  t.same(client.received[0], { type: 'hello', topics: ['titles'], complete: true });
  const ofTitle = client.received.filter((e) => e.data?.id === id);
  t.ok(ofTitle.every((e) => e.topic === 'titles' && e.type === 'title.changed'), 'only the topic asked for');
  const states = [...new Set(ofTitle.map((e) => e.data!.state))];
  t.same(states.slice(-1), ['ready'], `states in order, ending ready (${states.join(' → ')})`);
  const progress = ofTitle.filter((e) => e.data!.state === 'encoding').map((e) => e.data!.progress as number);
  t.ok(progress.length > 1 && progress.every((p, i) => i === 0 || p >= progress[i - 1]!), `encode progress rises (${progress.join(', ')})`);
  const ids = ofTitle.map((e) => e.id!);
  t.ok(ids.every((value, i) => i === 0 || value > ids[i - 1]!), 'ids rise');
  client.socket.close();

  // Reconnecting after the third event: the rest is replayed at once, and nothing twice.
  const again = listen(`?topics=titles&after=${ids[2]}`);
  await again.opened;
  await waitUntil(() => again.received.some((e) => e.id === ids.at(-1)), 'the replay up to the newest', 5_000);
  t.same(again.received[0], { type: 'hello', topics: ['titles'], complete: true });
  t.same(again.received.slice(1).map((e) => e.id), ids.slice(3), 'exactly the events after the one it saw');
  again.socket.close();
});

t.test('session starts and ends are events', async (t) => {
  const { id: titleId } = await server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'Watched');
  const watcher = listen('?topics=sessions');
  await watcher.opened;
  const started = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: titleId } });
  const session = ((await started.json()) as { id: string }).id;
  await server.api(`/v1/playback-sessions/${session}`, { method: 'DELETE', admin: false });
  await waitUntil(() => watcher.received.some((e) => e.type === 'session.ended' && e.data?.id === session), 'the end event', 5_000);
  t.same(
    watcher.received.slice(1).map((e) => [e.topic, e.type, e.data?.id, e.data?.contentId]),
    [
      ['sessions', 'session.started', session, titleId],
      ['sessions', 'session.ended', session, titleId],
    ],
  );
  watcher.socket.close();
});

t.test('deleting a title or a stream is an event too, and the deletion itself succeeds', async (t) => {
  const client = listen('?topics=titles,streams');
  await client.opened;
  const { id: titleId } = await server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'Short-lived');
  const stream = await server.createStream({ name: 'short-lived live' });
  t.equal((await server.api(`/v1/titles/${titleId}`, { method: 'DELETE' })).status, 204);
  t.equal((await server.api(`/v1/live-streams/${stream.id}`, { method: 'DELETE' })).status, 204);
  await waitUntil(() => client.received.some((e) => e.type === 'stream.removed'), 'the stream removal', 5_000);
  t.match(client.received.find((e) => e.type === 'title.removed'), { topic: 'titles', data: { id: titleId } });
  t.match(client.received.find((e) => e.type === 'stream.removed'), { topic: 'streams', data: { id: stream.id } });
  client.socket.close();
});
