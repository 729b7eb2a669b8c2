import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { attachEventSocket, eventCloseCodes } from '../../src/api/events-socket.js';
import { createLogger } from '../../src/logger.js';
import { EventHub } from '../../src/operator/events.js';
import { waitUntil } from '../helpers/wait.js';

const adminToken = 'an-admin-token-for-the-event-socket-test';

async function socketServer(t: Test, options: { replay: number; maxBufferedBytes: number }) {
  const hub = new EventHub({ replay: options.replay, now: () => Date.UTC(2026, 11, 2) });
  const http = createServer((_req, res) => res.writeHead(404).end());
  const attached = attachEventSocket(http, { hub, adminToken, maxBufferedBytes: options.maxBufferedBytes, log: createLogger('silent') });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    attached.close();
    http.closeAllConnections();
    http.close();
  });
  return { hub, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/v1/events` };
}

t.test('a client that stops reading is closed as too slow once its backlog passes the limit; the others go on', async (t) => {
  const { hub, url } = await socketServer(t, { replay: 10, maxBufferedBytes: 64 * 1024 });
  const open = (socket: WebSocket) => new Promise<void>((resolve) => socket.once('open', () => resolve()));
  const slow = new WebSocket(`${url}?topics=ingest`, { headers: { authorization: `Bearer ${adminToken}` } });
  const reader = new WebSocket(`${url}?topics=ingest`, { headers: { authorization: `Bearer ${adminToken}` } });
  let read = 0;
  reader.on('message', () => read++);
  await Promise.all([open(slow), open(reader)]);
  await waitUntil(() => hub.listening === 2, 'both listening');
  const closed = new Promise<number>((resolve) => slow.once('close', (code) => resolve(code)));
  (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  // Events of 4 KiB, until the server gives up on the client that does not read (kernel buffers first fill).
  const payload = 'x'.repeat(4096);
  let published = 0;
  while (hub.listening === 2 && published < 20_000) {
    hub.publish('ingest', 'ingest.stats', { id: 'stream', payload });
    published++;
    if (published % 50 === 0) await new Promise<void>((resolve) => setImmediate(resolve)); // let the sockets write
  }
  t.equal(hub.listening, 1, `the slow client stopped listening after ${published} events (${Math.round((published * 4) / 1024)} MiB offered)`);
  (slow as unknown as { _socket: { resume(): void } })._socket.resume();
  t.equal(await closed, eventCloseCodes.tooSlow, 'with the too-slow close code');
  await waitUntil(() => read === published + 1, 'the reading client got every event');
  t.pass(`the reading client read all ${published} events and the hello`);
  reader.close();
});

t.test('a reconnect asking for events older than the kept ones is told the replay is incomplete', async (t) => {
  const { hub, url } = await socketServer(t, { replay: 3, maxBufferedBytes: 1 << 20 });
  for (let i = 0; i < 6; i++) hub.publish('titles', 'title.changed', { id: `t${i}` });
  const received: { type: string; complete?: boolean; id?: number }[] = [];
  const socket = new WebSocket(`${url}?topics=titles&after=1`, { headers: { authorization: `Bearer ${adminToken}` } });
  socket.on('message', (data) => received.push(JSON.parse(String(data)) as { type: string }));
  await waitUntil(() => received.length === 4, 'the hello and the three kept');
  t.same(received[0], { type: 'hello', topics: ['titles'], complete: false }, 'events 2 and 3 are gone: incomplete');
  t.same(received.slice(1).map((e) => e.id), [4, 5, 6]);
  socket.close();
});
