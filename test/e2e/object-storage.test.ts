import t from 'tap';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { locateMediaTools } from '../../src/pipeline/encode/ffmpeg.js';
import { PostgresDb } from '../../src/catalog/postgres/database.js';
import { freshPostgresSchema, postgresUnavailable } from '../helpers/catalog.js';
import { makeSource } from '../helpers/media.js';
import { fetchHlsTree, fetchOk, joinSegments } from '../helpers/playback.js';
import { debianFfmpegMissing, readWithFfmpeg } from '../helpers/players.js';
import { publishRtmp } from '../helpers/publisher.js';
import { startTestBucket, type TestBucket } from '../helpers/s3.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

const unavailable = postgresUnavailable();
if (unavailable) void t.test('media in object storage, served by another node', { skip: unavailable }, () => undefined);
else {
  let bucket: TestBucket;
  let schema: ReturnType<typeof freshPostgresSchema>;
  let encoder: TestServer;
  let other: TestServer;
  let redirecting: TestServer;
  let title: string;
  const mebibyte = 1024 * 1024;
  const scratch = mkdtempSync(join(tmpdir(), 'weir-objects-'));
  const shared = { WEIR_MASTER_KEY: randomBytes(32).toString('hex'), WEIR_TOKEN_SECRET: 'objects-token-secret', WEIR_VIEWER_TOKEN_SECRET: 'objects-viewer-secret' };
  const storage = (delivery: 'proxy' | 'redirect') => ({ kind: 's3', s3: { endpoint: bucket.endpoint, bucket: bucket.bucket, region: 'us-east-1', forcePathStyle: true, prefix: 'weir/', delivery, signedUrlSeconds: 60 } });
  const keysUnder = async (prefix: string) => {
    const client = new S3Client({ endpoint: bucket.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: bucket.env.AWS_ACCESS_KEY_ID, secretAccessKey: bucket.env.AWS_SECRET_ACCESS_KEY } });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket.bucket, Prefix: prefix }));
    client.destroy();
    return (listed.Contents ?? []).map((item) => item.Key!.slice(prefix.length)).sort();
  };
  /** An anonymous session on this node for the (free) title; its multivariant playlist URL. */
  const masterOn = async (node: TestServer) => {
    const answer = await node.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: title } });
    if (answer.status !== 201) throw new Error(`session answered ${answer.status}: ${await answer.text()}`);
    const session = (await answer.json()) as { sources: { protocol: string; url: string }[] };
    return session.sources.find((source) => source.protocol === 'hls')!.url.replace('localhost', '127.0.0.1');
  };

  t.before(async () => {
    bucket = await startTestBucket();
    schema = freshPostgresSchema();
    encoder = await startTestServer({ database: { url: schema.url }, storage: storage('proxy') }, { ...shared, ...bucket.env });
    other = await startTestServer({ database: { url: schema.url }, storage: storage('proxy'), upload: { partBytes: 5 * mebibyte } }, { ...shared, ...bucket.env });
    redirecting = await startTestServer({ database: { url: schema.url }, storage: storage('redirect'), upload: { maxBytes: 100_000 } }, { ...shared, ...bucket.env });
    const ingested = await encoder.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'In the bucket');
    if (ingested.view.state !== 'ready') throw new Error(`title failed: ${JSON.stringify(ingested.view.error)}`);
    title = ingested.id;
  });
  t.teardown(async () => {
    await encoder?.stop();
    await other?.stop();
    await redirecting?.stop();
    schema?.drop();
    await bucket?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  t.test('a title is in the bucket, under the configured prefix, before it is ready', async (t) => {
    const keys = await keysUnder(`weir/titles/${title}/media/`);
    for (const file of ['master.m3u8', 'manifest.mpd', 'poster.jpg']) t.ok(keys.includes(file), `${file} is there`);
    t.ok(keys.some((key) => /\/init\.mp4$/.test(key)) && keys.some((key) => /\/seg-1\.m4s$/.test(key)), 'with init segments and segments');
    t.match(readFileSync(encoder.logFile, 'utf8'), /published the title to the bucket/);
  });

  t.test('a node that never had the files serves the title from the bucket: manifests, segments and byte ranges, readable by ffmpeg', async (t) => {
    const master = await masterOn(other);
    const tree = await fetchHlsTree(master);
    t.ok(tree.renditions.length > 0 && tree.renditions.every((r) => r.segments.length > 0), 'every playlist and segment came back');
    const video = tree.renditions[0]!;
    const segmentUrl = new URL(video.playlist.segments[0]!.uri, video.playlistUrl).href;
    const whole = Buffer.from(await (await fetchOk(segmentUrl)).arrayBuffer());
    const ranged = await fetch(segmentUrl, { headers: { range: 'bytes=8-99' } });
    t.equal(ranged.status, 206);
    t.equal(ranged.headers.get('content-range'), `bytes 8-99/${whole.length}`);
    t.same(Buffer.from(await ranged.arrayBuffer()), whole.subarray(8, 100), 'the range holds the same bytes as the whole');
    const file = new URL(segmentUrl).pathname.split('/').slice(-2).join('/');
    const beyond = { headers: { range: `bytes=${whole.length + 10}-` } };
    const fromBucket = await fetch(segmentUrl, beyond);
    const fromDisk = await fetch(new URL(file, (await masterOn(encoder)).replace(/[^/]*$/, '')).href, beyond);
    t.same([fromBucket.status, ((await fromBucket.json()) as { error: { code: string } }).error.code], [fromDisk.status, ((await fromDisk.json()) as { error: { code: string } }).error.code], 'an unsatisfiable range is refused as the encoding node refuses it from disk');
    const local = readFileSync(join(encoder.dataDir, 'titles', title, 'media', file));
    t.same(whole, local, "byte for byte the encoding node's file");
    await t.test("Debian's ffmpeg decodes it", { skip: debianFfmpegMissing }, async (t) => {
      const report = await readWithFfmpeg(joinSegments(join(scratch, 'joined.mp4'), video.init, video.segments));
      t.ok(report.ok, `the segments the bucket served (${report.errors || 'no errors'})`);
      const direct = await readWithFfmpeg(master);
      t.ok(direct.ok, `and the HLS URL of the node without files (${direct.errors || 'no errors'})`);
    });
  });

  t.test('where the deployment prefers, media files are a redirect to a signed bucket URL; manifests still come from the node', async (t) => {
    const master = await masterOn(redirecting);
    const manifest = await fetch(master, { redirect: 'manual' });
    t.equal(manifest.status, 200, 'the multivariant playlist is served by the node');
    const tree = await fetchHlsTree(master);
    const video = tree.renditions[0]!;
    const segmentUrl = new URL(video.playlist.segments[0]!.uri, video.playlistUrl).href;
    const redirect = await fetch(segmentUrl, { redirect: 'manual' });
    t.equal(redirect.status, 302);
    const location = redirect.headers.get('location')!;
    t.ok(location.startsWith(bucket.endpoint) && /X-Amz-Signature=/.test(location), 'to a signed URL of the bucket');
    t.match(redirect.headers.get('cache-control'), /no-store/);
    t.same(Buffer.from(await (await fetchOk(location)).arrayBuffer()), video.segments[0], 'which gives the same bytes');
  });

  t.test('a source PUT straight to the bucket with a signed URL becomes a title, and nothing of the upload is left there', async (t) => {
    const created = (await (await other.api('/v1/titles', { method: 'POST', json: { title: 'Uploaded to the bucket' } })).json()) as { id: string };
    const early = await other.api(`/v1/titles/${created.id}/source/uploaded`, { method: 'POST' });
    t.same([early.status, ((await early.json()) as { error: { code: string } }).error.code], [409, 'SOURCE_NOT_IN_BUCKET'], 'nothing is taken before the file is there');
    const signed = (await (await other.api(`/v1/titles/${created.id}/source/upload-url`, { method: 'POST' })).json()) as { method: string; url: string; maxBytes: number };
    t.ok(signed.url.startsWith(bucket.endpoint) && /X-Amz-Signature=/.test(signed.url), 'a signed URL of the bucket');
    const put = await fetch(signed.url, { method: 'PUT', body: readFileSync(makeSource({ width: 320, height: 180, seconds: 2 })) });
    t.equal(put.status, 200, 'the client PUTs the file there, past the node');
    t.equal((await other.api(`/v1/titles/${created.id}/source/uploaded`, { method: 'POST' })).status, 202);
    const view = await other.waitForTitle(created.id, (v) => v.state === 'ready' || v.state === 'failed', 60_000);
    t.equal(view.state, 'ready');
    t.same(await keysUnder(`weir/uploads/${created.id}/`), [], 'the uploaded file was removed from the bucket');
    const again = await other.api(`/v1/titles/${created.id}/source/uploaded`, { method: 'POST' });
    t.same([again.status, ((await again.json()) as { error: { code: string } }).error.code], [409, 'UPLOAD_NOT_EXPECTED']);

    // Past the size limit (the redirecting node allows 100 kB): refused, and removed from the bucket.
    const big = (await (await redirecting.api('/v1/titles', { method: 'POST', json: { title: 'Too big' } })).json()) as { id: string };
    const bigUrl = ((await (await redirecting.api(`/v1/titles/${big.id}/source/upload-url`, { method: 'POST' })).json()) as { url: string; maxBytes: number });
    t.equal(bigUrl.maxBytes, 100_000, 'the answer names the limit');
    t.equal((await fetch(bigUrl.url, { method: 'PUT', body: Buffer.alloc(200_000, 1) })).status, 200);
    const refused = await redirecting.api(`/v1/titles/${big.id}/source/uploaded`, { method: 'POST' });
    t.equal(refused.status, 413);
    t.match(await refused.json(), { error: { code: 'UPLOAD_TOO_LARGE', message: /200000 bytes; the limit is 100000/ } });
    t.same(await keysUnder(`weir/uploads/${big.id}/`), [], 'and removed');
  });

  t.test('a source past one part goes to the bucket as a multipart upload, a signed URL per part, and becomes a title', async (t) => {
    // A real source padded with an ISO BMFF free box past two parts, as a camera original is past one PUT.
    const media = readFileSync(makeSource({ width: 320, height: 180, seconds: 2 }));
    const padding = 11 * mebibyte - media.length;
    const source = Buffer.concat([media, Buffer.from([padding >>> 24, (padding >>> 16) & 0xff, (padding >>> 8) & 0xff, padding & 0xff]), Buffer.from('free'), Buffer.alloc(padding - 8)]);
    const created = (await (await other.api('/v1/titles', { method: 'POST', json: { title: 'Uploaded in parts' } })).json()) as { id: string };
    type Multipart = { method: string; uploadId: string; partBytes: number; parts: { partNumber: number; url: string }[]; maxBytes: number };
    const asked = await other.api(`/v1/titles/${created.id}/source/upload-url`, { method: 'POST', json: { bytes: source.length } });
    t.equal(asked.status, 200);
    const plan = (await asked.json()) as Multipart;
    t.same([plan.method, plan.partBytes, plan.parts.map((part) => part.partNumber)], ['multipart', 5 * mebibyte, [1, 2, 3]], 'three parts of 5 MiB at most');
    t.ok(plan.parts.every((part) => part.url.startsWith(bucket.endpoint) && part.url.includes(`uploadId=${encodeURIComponent(plan.uploadId)}`) && /X-Amz-Signature=/.test(part.url)), 'each a signed URL of the bucket for that upload');

    const resigned = (await (await other.api(`/v1/titles/${created.id}/source/upload-url`, { method: 'POST', json: { bytes: source.length, uploadId: plan.uploadId } })).json()) as Multipart;
    t.same([resigned.uploadId, resigned.parts.length], [plan.uploadId, 3], 'asked again with the upload id, the same upload is signed again');
    const etags: { partNumber: number; etag: string }[] = [];
    for (const part of resigned.parts) {
      const put = await fetch(part.url, { method: 'PUT', body: source.subarray((part.partNumber - 1) * plan.partBytes, part.partNumber * plan.partBytes) });
      t.equal(put.status, 200, `part ${part.partNumber} PUT past the node`);
      etags.push({ partNumber: part.partNumber, etag: put.headers.get('etag')! });
    }

    const refusals = [
      { json: { uploadId: plan.uploadId }, message: /both uploadId and parts/ },
      { json: { uploadId: plan.uploadId, parts: [etags[1], etags[0], etags[2]] }, message: /part 1 follows part 2/ },
      { json: { uploadId: plan.uploadId, parts: [{ partNumber: 0, etag: 'x' }] }, message: /parts\.0\.partNumber/ },
    ];
    for (const refusal of refusals) {
      const answer = await other.api(`/v1/titles/${created.id}/source/uploaded`, { method: 'POST', json: refusal.json });
      t.match([answer.status, await answer.json()], [400, { error: { code: 'VALIDATION_FAILED', message: refusal.message } }], `refused: ${refusal.message.source}`);
    }
    t.equal((await other.api(`/v1/titles/${created.id}/source/uploaded`, { method: 'POST', json: { uploadId: plan.uploadId, parts: etags } })).status, 202);
    const view = await other.waitForTitle(created.id, (v) => v.state === 'ready' || v.state === 'failed', 60_000);
    t.equal(view.state, 'ready', 'the joined parts were the source');
    t.ok(readFileSync(join(other.dataDir, 'titles', created.id, 'source')).equals(source), 'byte for byte the file the client sliced');
    t.same(await keysUnder(`weir/uploads/${created.id}/`), [], 'and nothing of the upload is left in the bucket');

    const small = await other.api(`/v1/titles/${created.id}/source/upload-url`, { method: 'POST', json: { bytes: 1000 } });
    t.equal(small.status, 409, 'a ready title takes no new source');
    const another = (await (await other.api('/v1/titles', { method: 'POST', json: { title: 'Small' } })).json()) as { id: string };
    const single = (await (await other.api(`/v1/titles/${another.id}/source/upload-url`, { method: 'POST', json: { bytes: 4 * mebibyte } })).json()) as { method: string };
    t.equal(single.method, 'PUT', 'a file within one part gets one PUT');
    const large = 1500 * 5 * mebibyte;
    type Page = { uploadId: string; parts: { partNumber: number }[]; nextPart: number | null };
    const page1 = (await (await other.api(`/v1/titles/${another.id}/source/upload-url`, { method: 'POST', json: { bytes: large } })).json()) as Page;
    const page2 = (await (await other.api(`/v1/titles/${another.id}/source/upload-url`, { method: 'POST', json: { bytes: large, uploadId: page1.uploadId, fromPart: page1.nextPart } })).json()) as Page;
    const numbers = [...page1.parts, ...page2.parts].map((part) => part.partNumber);
    t.same([page1.parts.length, page1.nextPart, page2.uploadId, page2.nextPart], [1000, 1001, page1.uploadId, null], 'a 1500-part upload is signed in two pages');
    t.ok(numbers.length === 1500 && numbers.every((n, i) => n === i + 1), 'naming every part once, in order');
    for (const [json, message] of [
      [{ bytes: large, fromPart: 2 }, /name its uploadId/],
      [{ bytes: large, uploadId: page1.uploadId, fromPart: 1501 }, /has 1500 parts of 5242880 bytes, but part 1501/],
    ] as const) {
      const answer = await other.api(`/v1/titles/${another.id}/source/upload-url`, { method: 'POST', json });
      t.match([answer.status, await answer.json()], [400, { error: { code: 'VALIDATION_FAILED', message } }], `refused: ${message.source}`);
    }
    const third = (await (await redirecting.api('/v1/titles', { method: 'POST', json: { title: 'Too big to ask' } })).json()) as { id: string };
    const tooBig = await redirecting.api(`/v1/titles/${third.id}/source/upload-url`, { method: 'POST', json: { bytes: 100_001 } });
    t.match([tooBig.status, await tooBig.json()], [413, { error: { code: 'UPLOAD_TOO_LARGE', message: /100001 bytes; the limit is 100000/ } }], 'a size past the limit is refused before anything is signed');
  });

  t.test('completed live segments and their init segments are written through to the bucket, byte for byte what viewers get', async (t) => {
    const stream = await other.createStream({ name: 'written through' });
    const publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 30 });
    t.teardown(() => publisher.stop());
    await other.waitForStream(stream.id, (view) => view.state === 'live');
    const prefix = `weir/streams/${stream.id}/broadcasts/`;
    await waitUntil(async () => (await keysUnder(prefix)).filter((key) => key.endsWith('.m4s')).length >= 4, 'segments in the bucket', 30_000);
    const keys = await keysUnder(prefix);
    const segment = keys.find((key) => /^1\/[^/]+\/seg-\d+\.m4s$/.test(key))!;
    t.ok(segment, `segments of broadcast 1 by rendition (${segment})`);
    t.ok(keys.includes(segment.replace(/seg-\d+\.m4s$/, 'init-0.mp4')), 'with its init segment');
    const answer = await other.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } });
    const master = ((await answer.json()) as { sources: { protocol: string; url: string }[] }).sources.find((source) => source.protocol === 'hls')!.url.replace('localhost', '127.0.0.1');
    const [, rendition, file] = segment.split('/');
    const live = Buffer.from(await (await fetchOk(new URL(`${rendition}/${file}`, master).href)).arrayBuffer());
    const client = new S3Client({ endpoint: bucket.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: bucket.env.AWS_ACCESS_KEY_ID, secretAccessKey: bucket.env.AWS_SECRET_ACCESS_KEY } });
    const stored = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: `${prefix}${segment}` }))).Body!.transformToByteArray());
    client.destroy();
    t.ok(live.length > 0 && stored.equals(live), `the bucket's ${file} is the one the node serves (${stored.length} bytes)`);

    t.equal((await other.api(`/v1/live-streams/${stream.id}/access`, { method: 'PUT', json: { packages: ['premium'] } })).status, 200);
    await publisher.stop();
    t.equal((await other.api(`/v1/live-streams/${stream.id}`, { method: 'DELETE' })).status, 204);
    await waitUntil(async () => (await keysUnder(`weir/streams/${stream.id}/`)).length === 0, "the deleted stream's objects removed", 30_000);
    const catalog = new PostgresDb({ url: schema.url });
    t.teardown(() => catalog.close());
    t.same(catalog.prepare('SELECT content_id FROM content_access WHERE content_id = ?').all(stream.id), [], 'and its access rule');
  });

  t.test('catalog art is served by nodes that did not cut it, from the bucket, and a new poster reaches the nodes that had read the old one', async (t) => {
    type Images = { poster?: { jpeg?: string } };
    const posterOn = async (node: TestServer) => ((await (await node.api(`/v1/catalog/items/${title}`, { admin: false })).json()) as { images: Images }).images.poster?.jpeg ?? null;
    const bytesOn = async (node: TestServer, url: string) => {
      const answer = await node.api(url, { admin: false });
      t.equal(answer.status, 200, `${url} on ${node === encoder ? 'the node that cut it' : 'another node'}`);
      return Buffer.from(await answer.arrayBuffer());
    };
    await waitUntil(async () => (await posterOn(other)) !== null, 'the generated poster listed on the other node', 60_000);
    const generated = (await posterOn(other))!;
    t.same(await bytesOn(other, generated), readFileSync(join(encoder.dataDir, 'artwork', generated.split('/').pop()!)), "byte for byte the cutting node's file");
    const redirected = await redirecting.api(generated, { admin: false, redirect: 'manual' });
    t.equal(redirected.status, 302, 'where the deployment prefers, a redirect to the bucket');
    t.match(redirected.headers.get('cache-control'), /no-store/, 'never cached: the signed URL expires, the image URL does not');

    const png = join(scratch, 'poster.png');
    execFileSync(locateMediaTools().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=blue:s=1000x1500', '-frames:v', '1', png]);
    const uploaded = await encoder.api(`/v1/titles/${title}/artwork/poster`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: readFileSync(png) });
    t.equal(uploaded.status, 200);
    await waitUntil(async () => (await posterOn(other)) !== generated, 'the other node listing the new poster');
    const replaced = (await posterOn(other))!;
    t.notOk(existsSync(join(other.dataDir, 'artwork', replaced.split('/').pop()!)), 'which the other node does not have on its disk');
    t.same(await bytesOn(other, replaced), await bytesOn(encoder, replaced), 'yet serves');

    const session = (await (await other.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: title } })).json()) as { thumbnailsUrl: string | null };
    t.ok(session.thumbnailsUrl, 'a session on the other node names the trick-play thumbnails it finds in the bucket');
    t.match(await (await fetchOk(session.thumbnailsUrl!.replace('localhost', '127.0.0.1'))).text(), /^WEBVTT/, 'and serves them');
  });

  t.test('deleting the title removes it from the bucket', async (t) => {
    t.equal((await encoder.api(`/v1/titles/${title}`, { method: 'DELETE' })).status, 204);
    await waitUntil(async () => (await keysUnder(`weir/titles/${title}/`)).length === 0, 'the objects removed');
    t.pass('nothing of it is left under its prefix');
  });
}
