import t, { type Test } from 'tap';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { playerCors } from '../../src/api/cors.js';

/** A bare app behind the CORS handler, answering GET / with "ok". */
async function corsApp(t: Test) {
  const app = express();
  app.use(playerCors({ methods: ['GET', 'POST'], maxAgeSeconds: 600, exposedHeaders: ['content-range', 'retry-after'] }));
  app.get('/', (_req, res) => res.send('ok'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

t.test('a preflight from any origin is answered at once, with the headers a player asks to send (CMCD among them)', async (t) => {
  const url = await corsApp(t);
  const answer = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://tv.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, cmcd-request, cmcd-session' } });
  t.equal(answer.status, 204);
  t.equal(answer.headers.get('access-control-allow-origin'), 'https://tv.example');
  t.equal(answer.headers.get('access-control-allow-methods'), 'GET,POST');
  t.equal(answer.headers.get('access-control-allow-headers'), 'content-type, cmcd-request, cmcd-session');
  t.equal(answer.headers.get('access-control-max-age'), '600');
  t.equal(answer.headers.get('access-control-allow-credentials'), null, 'credentials are never allowed');
  t.match(answer.headers.get('vary'), /Origin.*Access-Control-Request-Headers/);
});

t.test('a request from another origin gets its origin back and the exposed headers; one without an origin gets no grant', async (t) => {
  const url = await corsApp(t);
  const cross = await fetch(url, { headers: { origin: 'https://web.example' } });
  t.equal(await cross.text(), 'ok');
  t.equal(cross.headers.get('access-control-allow-origin'), 'https://web.example');
  t.equal(cross.headers.get('access-control-expose-headers'), 'content-range,retry-after');
  t.equal(cross.headers.get('vary'), 'Origin', 'caches keep answers per origin');
  const same = await fetch(url);
  t.equal(same.headers.get('access-control-allow-origin'), null);
});

t.test('an oversized list of requested headers is not echoed', async (t) => {
  const url = await corsApp(t);
  const answer = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://tv.example', 'access-control-request-headers': `x-${'a'.repeat(3000)}` } });
  t.equal(answer.status, 204);
  t.equal(answer.headers.get('access-control-allow-headers'), null);
});
