import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { makeSource } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

let server: TestServer;
t.before(async () => {
  server = await startTestServer({
    http: { host: '127.0.0.1', port: 0, bodyTimeoutSeconds: 1, headersTimeoutSeconds: 1, uploadIdleTimeoutSeconds: 2 },
    playback: { sessionsPerMinutePerAddress: 5 },
    packaging: { segmentSeconds: 2 },
  });
});
t.teardown(() => server.stop());

const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

/** A raw connection to the server, to send requests as slowly or as oddly as an attacker would. */
function rawConnection(): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const port = Number(new URL(server.url).port);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, received: () => text, closed }));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', () => {});
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', reject);
  });
}

async function createTitle(): Promise<string> {
  const response = await server.api('/v1/titles', { method: 'POST', json: { title: 'http test' } });
  return ((await response.json()) as { id: string }).id;
}

t.test('a request id from the client never names a file: traversal through x-request-id touches nothing', async (t) => {
  const outside = join(tmpdir(), `weir-canary-${process.pid}`);
  mkdirSync(outside, { recursive: true });
  const canary = join(outside, 'canary.txt');
  writeFileSync(canary, 'still here');
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  const id = await createTitle();
  const hostile = [`/../../../../../../..${canary}`, `../../../../../../..${outside}/made-dir/x`];
  for (const requestId of hostile) {
    const response = await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body: Buffer.from('not a video'), headers: { 'x-request-id': requestId } });
    t.equal(response.status, 202);
    t.not(response.headers.get('x-request-id'), requestId, 'an id that is not a plain identifier is replaced');
    await server.waitForTitle(id, (v) => v.state === 'failed');
  }
  t.equal(readFileSync(canary, 'utf8'), 'still here', 'the file outside the data dir is untouched');
  t.same(readdirSync(outside), ['canary.txt'], 'and nothing was created beside it');
  const plain = await server.api('/healthz', { headers: { 'x-request-id': 'trace-42.a:b' } });
  t.equal(plain.headers.get('x-request-id'), 'trace-42.a:b', 'a plain identifier is kept for tracing');
});

/** Sends `opening`, then `drip` every 200 ms, until the server closes the connection; returns what it answered. */
async function trickleUntilClosed(opening: string, drip: string): Promise<string> {
  const { socket, received, closed } = await rawConnection();
  socket.write(opening);
  const trickle = setInterval(() => socket.writable && socket.write(drip), 200);
  await closed.finally(() => clearInterval(trickle));
  return received();
}

t.test('a trickled request body is cut with 408 once its deadline passes', { timeout: 30_000 }, async (t) => {
  const answer = await trickleUntilClosed('POST /v1/playback-sessions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"con', ' ');
  t.match(answer, /^HTTP\/1\.1 408/, 'answered 408');
  t.match(answer, /REQUEST_TIMEOUT/);
});

t.test('slow request headers are cut once the headers timeout passes', { timeout: 30_000 }, async (t) => {
  const answer = await trickleUntilClosed('GET /healthz HTTP/1.1\r\nHost: x\r\n', 'x-slow: 1\r\n');
  t.ok(answer === '' || answer.startsWith('HTTP/1.1 408'), `closed with 408 or without an answer, never served (${JSON.stringify(answer.slice(0, 20))})`);
});

t.test('an upload may take longer than the body deadline while it keeps moving, but a stalled one is closed', { timeout: 30_000 }, async (t) => {
  const id = await createTitle();
  const source = readFileSync(makeSource({ width: 320, height: 180, seconds: 1 }));
  const { socket, received, closed } = await rawConnection();
  socket.write(`PUT /v1/titles/${id}/source HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${server.adminToken}\r\ncontent-length: ${source.length}\r\n\r\n`);
  // Sent in 6 pieces 300 ms apart: 1.5 s in all, past the 1 s body deadline of other routes.
  const pieces = 6;
  const size = Math.ceil(source.length / pieces);
  for (let i = 0; i < pieces; i++) {
    socket.write(source.subarray(i * size, (i + 1) * size));
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await server.waitForTitle(id, (v) => v.state !== 'awaiting_upload');
  t.match(received(), /^HTTP\/1\.1 202/, 'the slow but steady upload was accepted');
  socket.destroy();
  await closed;

  const stalled = await createTitle();
  const second = await rawConnection();
  second.socket.write(`PUT /v1/titles/${stalled}/source HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${server.adminToken}\r\ncontent-length: ${source.length}\r\n\r\n`);
  second.socket.write(source.subarray(0, 1000));
  await second.closed;
  t.pass('the stalled upload was closed by the server');
  const view = (await (await server.api(`/v1/titles/${stalled}`)).json()) as { state: string };
  t.equal(view.state, 'awaiting_upload', 'and the title still awaits a whole source');
  const partials = () => readdirSync(join(server.dataDir, 'titles', stalled)).filter((f) => f.startsWith('source'));
  await waitUntil(() => partials().length === 0, 'removing the partial upload');
  t.same(partials(), [], 'no partial file is left behind');
});

t.test('JSON routes say what is wrong with a body: content type, size, unknown fields and parameters', async (t) => {
  const noType = await server.api('/v1/titles', { method: 'POST', body: JSON.stringify({ title: 'x' }), headers: { 'content-type': 'text/plain' } });
  t.equal(noType.status, 415);
  t.match(await errorOf(noType), { code: 'UNSUPPORTED_MEDIA_TYPE', message: /content-type: application\/json.*text\/plain/ });

  const big = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: 'x'.repeat(20_000) } });
  t.equal(big.status, 413);
  t.match(await errorOf(big), { code: 'BODY_TOO_LARGE', message: /at most 16384 bytes/ });

  const unknownQuery = await server.api('/v1/titles?q=film&tag=demo');
  t.equal(unknownQuery.status, 400);
  t.match(await errorOf(unknownQuery), { code: 'VALIDATION_FAILED', message: /unknown fields "q", "tag"/ });

  const badJson = await server.api('/v1/titles', { method: 'POST', body: '{"title":', headers: { 'content-type': 'application/json' } });
  t.equal(badJson.status, 400);
  t.match(await errorOf(badJson), { code: 'VALIDATION_FAILED', message: /not valid JSON/ });
});

t.test('a JSON body is read alike however it arrives: with a charset and a byte-order mark, compressed, or chunked; a bare string is not a body', async (t) => {
  const titleOf = async (response: Response) => ((await response.json()) as { title: string }).title;
  const withCharset = await server.api('/v1/titles', { method: 'POST', body: '\uFEFF{"title":"Ünïcode"}', headers: { 'content-type': 'application/json; charset=UTF-8' } });
  t.equal(withCharset.status, 201);
  t.equal(await titleOf(withCharset), 'Ünïcode', 'UTF-8 with a byte-order mark and an explicit charset');

  const compressed = await server.api('/v1/titles', { method: 'POST', body: gzipSync('{"title":"squeezed"}'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
  t.equal(compressed.status, 201);
  t.equal(await titleOf(compressed), 'squeezed', 'gzip-encoded');

  const { socket, received, closed } = await rawConnection();
  const body = '{"title":"in pieces"}';
  socket.write(`POST /v1/titles HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${server.adminToken}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`);
  for (const piece of [body.slice(0, 7), body.slice(7)]) socket.write(`${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`);
  socket.write('0\r\n\r\n');
  await closed;
  t.match(received(), /^HTTP\/1\.1 201[^]*"title":"in pieces"/, 'chunked, without a declared length');

  const bare = await server.api('/v1/titles', { method: 'POST', body: '"just a string"', headers: { 'content-type': 'application/json' } });
  t.equal(bare.status, 400);
  t.match(await errorOf(bare), { code: 'VALIDATION_FAILED', message: /not valid JSON: a JSON object or array was expected/ });
});

t.test('playback sessions are rate-limited per address with a coded 429 and Retry-After', async (t) => {
  const answers: Response[] = [];
  for (let i = 0; i < 7; i++) answers.push(await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: 'none' } }));
  t.same(
    answers.map((a) => a.status),
    [404, 404, 404, 404, 404, 429, 429],
    'five sessions a minute, the sixth refused',
  );
  const refused = answers[5]!;
  t.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After says when (${refused.headers.get('retry-after')} s)`);
  t.equal((await errorOf(refused)).code, 'RATE_LIMITED');
});

t.test('a failed title can be retried, and takes a new source', async (t) => {
  const id = await createTitle();
  await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body: Buffer.from('garbage, not a video') });
  const failed = await server.waitForTitle(id, (v) => v.state === 'failed');
  t.equal(failed.error?.code, 'SOURCE_UNREADABLE');
  t.notMatch(failed.error?.message ?? '', new RegExp(server.dataDir.replace(/[/\\.]/g, '\\$&')), 'the reason shows no server path');
  t.notMatch(failed.error?.message ?? '', /\/tmp\//, 'nor any absolute path');

  const states: string[] = [];
  const onChange = (changed: string, view: { state: string } | null) => changed === id && view && states.push(view.state);
  server.titleEvents.on('change', onChange);
  t.teardown(() => server.titleEvents.off('change', onChange));
  const retry = await server.api(`/v1/titles/${id}/retry`, { method: 'POST' });
  t.equal(retry.status, 202);
  await server.waitForTitle(id, (v) => v.state === 'failed' && states.includes('probing'));
  t.same(states.slice(0, 2), ['probing', 'failed'], 'the retry ran the pipeline again from the kept source');

  const put = await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body: readFileSync(makeSource({ width: 320, height: 180, seconds: 2 })) });
  t.equal(put.status, 202, 'a new source is accepted for a failed title');
  const ready = await server.waitForTitle(id, (v) => v.state === 'ready');
  t.equal(ready.error, null, 'and it becomes ready, with the old error gone');

  const again = await server.api(`/v1/titles/${id}/retry`, { method: 'POST' });
  t.equal(again.status, 409);
  t.equal((await errorOf(again)).code, 'TITLE_NOT_RETRYABLE');
});

t.test('the database and its WAL are private and hold no stream key in clear', async (t) => {
  const stream = await server.createStream({ name: 'sealed keys' });
  const files = readdirSync(server.dataDir).filter((f) => f.startsWith('weir.db'));
  t.ok(files.includes('weir.db'));
  const { statSync } = await import('node:fs');
  for (const file of files) t.equal(statSync(join(server.dataDir, file)).mode & 0o777, 0o600, `${file} is 0600`);
  for (const file of files) t.notOk(readFileSync(join(server.dataDir, file)).includes(stream.streamKey), `${file} does not hold the stream key`);
  t.equal(statSync(server.dataDir).mode & 0o077, 0, 'the data dir is closed to others');
  const shown = (await (await server.api(`/v1/live-streams/${stream.id}`)).json()) as { streamKey: string };
  t.equal(shown.streamKey, stream.streamKey, 'the operator still sees it through the API');
  t.ok(existsSync(join(server.dataDir, 'weir.lock')));
});
