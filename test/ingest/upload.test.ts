import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maxUploadParts, partBytesFor } from '../../src/ingest/upload.js';
import { makeSource, tools } from '../helpers/media.js';
import { refusingBucket } from '../helpers/s3.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

let server: TestServer;
t.before(async () => {
  server = await startTestServer({ upload: { maxBytes: 3_000_000 }, packaging: { segmentSeconds: 2 } });
});
t.teardown(() => server.stop());

async function createTitle(name = 'upload test'): Promise<string> {
  const response = await server.api('/v1/titles', { method: 'POST', json: { title: name } });
  return ((await response.json()) as { id: string }).id;
}

async function uploadAndSettle(body: Buffer) {
  const id = await createTitle();
  const put = await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body });
  if (put.status !== 202) throw new Error(`upload answered ${put.status}: ${await put.text()}`);
  const view = await server.waitForTitle(id, (v) => v.state === 'ready' || v.state === 'failed');
  const title = (await (await server.api(`/v1/titles/${id}`)).json()) as { state: string; error: { code: string; message: string } | null };
  return { id, view, title };
}

t.test('a multipart upload keeps the configured part size until a file would need more than 10 000 parts', async (t) => {
  const mebibyte = 1024 * 1024;
  t.equal(partBytesFor(20 * 1024 * mebibyte, 64 * mebibyte), 64 * mebibyte, '20 GiB in 64 MiB parts: 320 of them');
  const huge = 5 * 1024 * 1024 * mebibyte;
  const raised = partBytesFor(huge, 64 * mebibyte);
  t.ok(raised % mebibyte === 0 && Math.ceil(huge / raised) <= maxUploadParts && Math.ceil(huge / (raised - mebibyte)) > maxUploadParts, `5 TiB in parts of ${raised / mebibyte} MiB, the least whole MiB within 10 000 parts`);
  t.equal(partBytesFor(1, 1), 5 * mebibyte, 'never under the 5 MiB S3 asks of every part but the last');
});

t.test('bad sources fail their own title with a coded reason while a good title alongside still becomes ready', async (t) => {
  const good = makeSource({ width: 640, height: 360, seconds: 2 });
  const goodBytes = readFileSync(good);
  // moov at the end (ffmpeg's default), cut in half: the index is gone.
  const truncated = goodBytes.subarray(0, Math.floor(goodBytes.length / 2));
  // moov first, data cut short: the header promises more than the file holds.
  const fastStartPath = join(server.dataDir, 'faststart.mp4');
  execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-i', good, '-c', 'copy', '-movflags', '+faststart', fastStartPath]);
  const fastStart = readFileSync(fastStartPath);
  const fastStartTruncated = fastStart.subarray(0, Math.floor(fastStart.length * 0.4));
  const audioOnlyPath = join(server.dataDir, 'audio-only.m4a');
  execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=300', '-t', '2', '-c:a', 'aac', audioOnlyPath]);
  const garbage = Buffer.alloc(200_000);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 251;

  const cases = [
    { name: 'zero bytes', body: Buffer.alloc(0), code: 'SOURCE_EMPTY' },
    { name: 'a text file', body: Buffer.from('this is not a video\n'.repeat(100)), code: 'SOURCE_UNREADABLE' },
    { name: 'random bytes', body: garbage, code: 'SOURCE_UNREADABLE' },
    { name: 'a truncated MP4 (index lost)', body: truncated, code: 'SOURCE_UNREADABLE' },
    { name: 'a truncated MP4 (data cut short)', body: fastStartTruncated, code: 'SOURCE_UNREADABLE' },
    { name: 'audio only', body: readFileSync(audioOnlyPath), code: 'SOURCE_NO_VIDEO' },
  ];
  const results = await Promise.all([uploadAndSettle(goodBytes), ...cases.map((c) => uploadAndSettle(c.body))]);
  const [goodResult, ...badResults] = results;
  t.equal(goodResult!.title.state, 'ready', 'the good title is unaffected');
  cases.forEach((c, i) => {
    const { title } = badResults[i]!;
    t.equal(title.state, 'failed', `${c.name}: the title fails`);
    t.equal(title.error?.code, c.code, `${c.name}: with code ${c.code}`);
    t.ok((title.error?.message.length ?? 0) > 20, `${c.name}: and a readable reason (${title.error?.message})`);
  });
  const health = await server.api('/readyz', { admin: false });
  t.equal(health.status, 200, 'the server is still ready');
});

t.test('an upload over the size limit is refused with 413 and the title still awaits its source', async (t) => {
  const id = await createTitle();
  const declared = await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body: Buffer.alloc(3_000_001) });
  t.equal(declared.status, 413);
  t.match(await declared.json(), { error: { code: 'UPLOAD_TOO_LARGE', message: /3000001 bytes; the limit is 3000000/ } });

  // Without a declared length the limit is enforced on the bytes as they stream in.
  const chunks = (async function* () {
    for (let i = 0; i < 40; i++) yield new Uint8Array(100_000);
  })();
  const streamed = await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body: ReadableStream.from(chunks), duplex: 'half' } as RequestInit);
  t.equal(streamed.status, 413);
  t.match(await streamed.json(), { error: { code: 'UPLOAD_TOO_LARGE' } });

  const title = (await (await server.api(`/v1/titles/${id}`)).json()) as { state: string };
  t.equal(title.state, 'awaiting_upload', 'nothing was kept; a proper upload can follow');
  const retry = await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body: readFileSync(makeSource({ width: 640, height: 360, seconds: 2 })) });
  t.equal(retry.status, 202);
  t.equal((await server.waitForTitle(id, (v) => v.state === 'ready' || v.state === 'failed')).state, 'ready');
});

t.test('a source can only be uploaded once, to a title that exists, by an admin', async (t) => {
  const body = readFileSync(makeSource({ width: 640, height: 360, seconds: 2 }));
  const { id } = await uploadAndSettle(body);
  const again = await server.api(`/v1/titles/${id}/source`, { method: 'PUT', body });
  t.equal(again.status, 409);
  t.match(await again.json(), { error: { code: 'UPLOAD_NOT_EXPECTED', message: /is ready; a source can be uploaded only while it is awaiting_upload/ } });
  const missing = await server.api('/v1/titles/no-such-title/source', { method: 'PUT', body });
  t.equal(missing.status, 404);
  t.match(await missing.json(), { error: { code: 'TITLE_NOT_FOUND' } });
  const anonymous = await server.api(`/v1/titles/${await createTitle()}/source`, { method: 'PUT', body, admin: false });
  t.equal(anonymous.status, 401);
  t.match(await anonymous.json(), { error: { code: 'ADMIN_AUTH_REQUIRED' } });
});

t.test('a tus upload broken off mid-way resumes from the server offset and the title becomes ready', async (t) => {
  const body = readFileSync(makeSource({ width: 640, height: 360, seconds: 3 }));
  const id = await createTitle('tus upload');
  const tus = { 'tus-resumable': '1.0.0' };
  const created = await server.api('/v1/uploads', {
    method: 'POST',
    headers: { ...tus, 'upload-length': String(body.length), 'upload-metadata': `titleId ${Buffer.from(id).toString('base64')}` },
  });
  t.equal(created.status, 201);
  const location = new URL(created.headers.get('location')!, server.url).pathname;

  // Send the first part, then cut the connection before the rest.
  const half = Math.floor(body.length / 2);
  const controller = new AbortController();
  const partial = (async function* () {
    yield new Uint8Array(body.subarray(0, half));
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the server write the part before the cut
    controller.abort();
    yield new Uint8Array(0);
  })();
  await server
    .api(location, {
      method: 'PATCH',
      headers: { ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: ReadableStream.from(partial),
      duplex: 'half',
      signal: controller.signal,
    } as RequestInit)
    .catch(() => undefined);

  const head = await server.api(location, { method: 'HEAD', headers: tus });
  const offset = Number(head.headers.get('upload-offset'));
  t.ok(offset > 0 && offset <= half, `the server kept the bytes that arrived (offset ${offset} of ${body.length})`);
  t.equal((await (await server.api(`/v1/titles/${id}`)).json() as { state: string }).state, 'awaiting_upload');

  const rest = await server.api(location, {
    method: 'PATCH',
    headers: { ...tus, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
    body: body.subarray(offset),
  });
  t.equal(rest.status, 204);
  const view = await server.waitForTitle(id, (v) => v.state === 'ready' || v.state === 'failed');
  t.equal(view.state, 'ready', JSON.stringify(view.error));
  t.equal((view.facts?.sizeBytes ?? 0), body.length, 'the resumed file is whole');
});

t.test('tus refuses uploads without the admin token or for a title that does not await one', async (t) => {
  const tus = { 'tus-resumable': '1.0.0', 'upload-length': '10' };
  const anonymous = await server.api('/v1/uploads', { method: 'POST', admin: false, headers: { ...tus, 'upload-metadata': `titleId ${Buffer.from('x').toString('base64')}` } });
  t.equal(anonymous.status, 401);
  const noTitle = await server.api('/v1/uploads', { method: 'POST', headers: tus });
  t.equal(noTitle.status, 400);
  t.match(await noTitle.text(), /VALIDATION_FAILED/);
  const unknown = await server.api('/v1/uploads', { method: 'POST', headers: { ...tus, 'upload-metadata': `titleId ${Buffer.from('nope').toString('base64')}` } });
  t.equal(unknown.status, 404);
  t.match(await unknown.text(), /TITLE_NOT_FOUND/);
});

t.test('tus believes X-Forwarded-Host only from a configured proxy', async (t) => {
  const tus = { 'tus-resumable': '1.0.0', 'upload-length': '10', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };
  const id = await createTitle('forwarded');
  const metadata = `titleId ${Buffer.from(id).toString('base64')}`;
  const direct = await server.api('/v1/uploads', { method: 'POST', headers: { ...tus, 'upload-metadata': metadata } });
  t.equal(direct.status, 201);
  t.notMatch(direct.headers.get('location') ?? '', /evil\.example/, 'a client cannot choose the Location host');

  const behindProxy = await startTestServer({ http: { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.0/8'] } });
  t.teardown(() => behindProxy.stop());
  const proxied = await behindProxy.api('/v1/titles', { method: 'POST', json: { title: 'proxied' } });
  const proxiedId = ((await proxied.json()) as { id: string }).id;
  const viaProxy = await behindProxy.api('/v1/uploads', { method: 'POST', headers: { ...tus, 'upload-metadata': `titleId ${Buffer.from(proxiedId).toString('base64')}` } });
  t.match(viaProxy.headers.get('location') ?? '', /^https:\/\/evil\.example\//, 'a trusted proxy can');
});

t.test('a tus upload refused when it finishes is deleted, and abandoned ones are removed at start', async (t) => {
  const { readdirSync, writeFileSync, readFileSync: read } = await import('node:fs');
  const uploads = join(server.dataDir, 'uploads');
  const tus = { 'tus-resumable': '1.0.0' };
  const id = await createTitle('deleted mid-upload');
  const created = await server.api('/v1/uploads', { method: 'POST', headers: { ...tus, 'upload-length': '5', 'upload-metadata': `titleId ${Buffer.from(id).toString('base64')}` } });
  const location = new URL(created.headers.get('location')!, server.url).pathname;
  const uploadId = location.split('/').pop()!;
  await server.api(`/v1/titles/${id}`, { method: 'DELETE' });
  const finish = await server.api(location, { method: 'PATCH', headers: { ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: Buffer.from('12345') });
  t.equal(finish.status, 404, 'the finished upload is refused: its title is gone');
  t.notOk(readdirSync(uploads).some((f) => f.startsWith(uploadId)), 'and its bytes are not kept');

  // An unfinished upload whose client never came back, made to look two days old.
  const dataDir = server.dataDir;
  const stale = await createTitle('abandoned');
  const abandoned = await server.api('/v1/uploads', { method: 'POST', headers: { ...tus, 'upload-length': '100', 'upload-metadata': `titleId ${Buffer.from(stale).toString('base64')}` } });
  const abandonedId = new URL(abandoned.headers.get('location')!, server.url).pathname.split('/').pop()!;
  const info = join(uploads, `${abandonedId}.json`);
  const record = JSON.parse(read(info, 'utf8')) as { creation_date: string };
  record.creation_date = new Date(Date.now() - 2 * 24 * 3_600_000).toISOString();
  writeFileSync(info, JSON.stringify(record));
  process.env.WEIR_KEEP_TEST_DATA = '1';
  await server.stop();
  delete process.env.WEIR_KEEP_TEST_DATA;
  server = await startTestServer({ dataDir, upload: { maxBytes: 3_000_000, abandonedAfterHours: 24 }, packaging: { segmentSeconds: 2 } });
  await waitUntil(() => !readdirSync(uploads).some((f) => f.startsWith(abandonedId)), 'removing the abandoned upload');
  t.pass('the abandoned upload was removed when the server started');
});

t.test('parts the bucket will not join are refused with its reason, and the title still awaits its source', async (t) => {
  const bucket = await refusingBucket([{ status: 400, code: 'InvalidPart' }]);
  t.teardown(() => bucket.close());
  const node = await startTestServer({ storage: { kind: 's3', s3: { endpoint: bucket.endpoint, bucket: 'weir', region: 'us-east-1', forcePathStyle: true, prefix: '', delivery: 'proxy', signedUrlSeconds: 60 } } }, { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' });
  t.teardown(() => node.stop());
  const { id } = (await (await node.api('/v1/titles', { method: 'POST', json: { title: 'Parts' } })).json()) as { id: string };
  const answer = await node.api(`/v1/titles/${id}/source/uploaded`, { method: 'POST', json: { uploadId: 'u-1', parts: [{ partNumber: 1, etag: '"wrong"' }] } });
  t.match([answer.status, await answer.json()], [409, { error: { code: 'UPLOAD_PARTS_REFUSED', message: /would not join the 1 parts named into the source: InvalidPart/ } }]);
  t.ok(bucket.seen.some((line) => line === `POST /weir/uploads/${id}/source?uploadId=u-1`), "the completion named the title's own key");
  t.equal(((await (await node.api(`/v1/titles/${id}`)).json()) as { state: string }).state, 'awaiting_upload');
});
