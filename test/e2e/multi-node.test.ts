import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { PostgresDb } from '../../src/catalog/postgres/database.js';
import { chromiumMissing, launchChromium, playAndWait, servePlayerPage, type PlayerPageServer } from '../helpers/browser.js';
import { freshPostgresSchema, postgresUnavailable } from '../helpers/catalog.js';
import { nginxMissing, startEdge, type Edge } from '../helpers/edge.js';
import { makeSource } from '../helpers/media.js';
import { spawnWorker } from '../helpers/process.js';
import { publishRtmp } from '../helpers/publisher.js';
import { startTestBucket, type TestBucket } from '../helpers/s3.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

const missing = postgresUnavailable() || nginxMissing || chromiumMissing;

if (missing) void t.test('Weir on several machines: PostgreSQL, object storage, workers and edges', { skip: String(missing) }, () => undefined);
else {
  let bucket: TestBucket;
  let schema: ReturnType<typeof freshPostgresSchema>;
  let catalog: PostgresDb;
  let nodeA: TestServer;
  let nodeB: TestServer;
  let ingest: TestServer;
  let workers: ReturnType<typeof spawnWorker>[] = [];
  let vodEdge: Edge;
  let liveEdge: Edge;
  let browser: Browser;
  let pageServer: PlayerPageServer;
  const scratch = mkdtempSync(join(tmpdir(), 'weir-nodes-'));
  const password = 'a viewer password of some length';

  t.before(async () => {
    bucket = await startTestBucket();
    schema = freshPostgresSchema();
    catalog = new PostgresDb({ url: schema.url });
    // One service: every node has the same secrets and reaches the same database and bucket.
    const env = { WEIR_MASTER_KEY: randomBytes(32).toString('hex'), WEIR_TOKEN_SECRET: 'nodes-token-secret', WEIR_VIEWER_TOKEN_SECRET: 'nodes-viewer-secret', WEIR_ADMIN_TOKEN: 'nodes-admin', ...bucket.env };
    const common = {
      database: { url: schema.url },
      storage: { kind: 's3', s3: { endpoint: bucket.endpoint, bucket: bucket.bucket, region: 'us-east-1', forcePathStyle: true, prefix: '', delivery: 'proxy', signedUrlSeconds: 60 } },
      // The edges are proxies the origins believe.
      http: { host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] },
    };
    // Node A queues encodes for workers; slow enough (one thread, a slower preset) to kill one part-way.
    const encode = { workers: 'external', leaseSeconds: 2, workerPollMs: 100, preset: 'medium', threads: 1, retryBaseMs: 50 };
    [nodeA, nodeB, ingest] = await Promise.all([startTestServer({ ...common, encode }, env), startTestServer(common, env), startTestServer(common, env)]);
    const workerConfig = join(scratch, 'worker.json');
    writeFileSync(workerConfig, JSON.stringify({ encode }));
    const workerArgs = ['--data-dir', nodeA.dataDir, '--config', workerConfig, '--database-url', schema.url];
    workers = [spawnWorker(workerArgs), spawnWorker(workerArgs)];
    [vodEdge, liveEdge, browser, pageServer] = await Promise.all([startEdge([nodeB.url.replace('localhost', '127.0.0.1')]), startEdge([ingest.url.replace('localhost', '127.0.0.1')]), launchChromium(), servePlayerPage()]);
  });
  t.teardown(async () => {
    for (const worker of workers) worker.child.kill('SIGKILL');
    await browser?.close();
    await pageServer?.close();
    await vodEdge?.stop();
    await liveEdge?.stop();
    await Promise.all([nodeA?.stop(), nodeB?.stop(), ingest?.stop()]);
    catalog?.close();
    schema?.drop();
    await bucket?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const admin = { authorization: 'Bearer nodes-admin', 'content-type': 'application/json' };
  /** A session started through an edge (so its media URLs name the edge), as admin or as a viewer. */
  const sessionVia = async (edge: Edge, contentId: string, auth: Record<string, string> = admin) => {
    const answer = await fetch(`${edge.url}/v1/playback-sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ contentId }) });
    return { status: answer.status, body: (await answer.json()) as { sources?: { protocol: string; url: string }[]; error?: { code: string } } };
  };

  t.test('uploaded through node A and encoded by a worker that is killed mid-encode, a title becomes ready through the other worker and plays in Chromium through nginx from node B', async (t) => {
    const created = await fetch(`${nodeA.url}/v1/titles`, { method: 'POST', headers: admin, body: JSON.stringify({ title: 'Across machines' }) });
    const { id } = (await created.json()) as { id: string };
    t.equal((await fetch(`${nodeA.url}/v1/titles/${id}/source`, { method: 'PUT', headers: { authorization: admin.authorization }, body: await readFile(makeSource({ width: 640, height: 360, seconds: 12 })) })).status, 202);

    const job = () => catalog.prepare('SELECT worker, state, progress, attempts FROM encode_jobs WHERE title_id = ?').get(id) as { worker: string; state: string; progress: number; attempts: number } | undefined;
    await waitUntil(() => (job()?.state === 'running' && job()!.progress > 0) || false, 'a worker encoding with progress', 60_000);
    const owner = job()!.worker;
    const victim = workers.find((w) => w.lines.some((l) => l.msg === 'claimed an encode job' && String(l.worker) === owner));
    t.ok(victim, `worker ${owner} holds the job in PostgreSQL`);
    victim!.child.kill('SIGKILL');
    await victim!.exited;

    const view = await nodeA.waitForTitle(id, (v) => v.state === 'ready' || v.state === 'failed', 180_000);
    t.equal(view.state, 'ready', 'the title became ready');
    t.match(job(), { state: 'done', attempts: 2 }, 'after the other worker took the job over');
    t.not(job()!.worker, owner);
    t.notOk(existsSync(join(nodeB.dataDir, 'titles', id)), 'node B never had its files');

    const session = await sessionVia(vodEdge, id);
    t.equal(session.status, 201, 'node B, through nginx, starts a session for the title node A published');
    const hls = session.body.sources!.find((s) => s.protocol === 'hls')!.url;
    t.ok(hls.startsWith(vodEdge.url), 'whose media URLs name the edge');
    const report = await playAndWait(browser, pageServer.url, { kind: 'hls', url: hls, frames: 30, seconds: 1 });
    t.ok(report.frames > 30 && report.errors.length === 0, `hls.js in Chromium played ${report.frames} frames from the bucket through node B and nginx`);
  });

  t.test("the concurrent-stream limit holds across nodes: a session on node A holds a basic viewer's one slot on node B", async (t) => {
    t.equal((await fetch(`${nodeA.url}/v1/viewers`, { method: 'POST', headers: admin, body: JSON.stringify({ email: 'nodes@example.com', password, planId: 'basic' }) })).status, 201);
    const signIn = async (url: string, device: string) => {
      const answer = await fetch(`${url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'nodes@example.com', password, device: { id: device, family: 'web' } }) });
      return { authorization: `Bearer ${((await answer.json()) as { accessToken: string }).accessToken}` };
    };
    const titles = (await (await fetch(`${nodeB.url}/v1/titles`, { headers: admin })).json()) as { items: { id: string; state: string }[] };
    const ready = titles.items.find((item) => item.state === 'ready')!;
    const onA = await fetch(`${nodeA.url}/v1/playback-sessions`, { method: 'POST', headers: { ...(await signIn(nodeA.url, 'laptop')), 'content-type': 'application/json' }, body: JSON.stringify({ contentId: ready.id }) });
    t.equal(onA.status, 201, 'node A starts the first session');
    const onB = await sessionVia(vodEdge, ready.id, await signIn(vodEdge.url, 'tv'));
    t.same([onB.status, onB.body.error?.code], [409, 'STREAM_LIMIT_REACHED'], 'node B, through nginx, refuses the second');
  });

  t.test('RTMP pushed to the ingest node plays as LL-HLS through nginx with hls.js', async (t) => {
    const stream = await ingest.createStream({ name: 'on the ingest node' });
    const publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
    t.teardown(() => publisher.stop());
    await ingest.waitForStream(stream.id, (view) => view.state === 'live');
    const session = await sessionVia(liveEdge, stream.id);
    t.equal(session.status, 201);
    const report = await playAndWait(browser, pageServer.url, { kind: 'hls', url: session.body.sources!.find((s) => s.protocol === 'hls')!.url, frames: 60, seconds: 2, config: { lowLatencyMode: true } });
    t.ok(report.frames > 60 && report.errors.length === 0, `hls.js (low-latency mode) played ${report.frames} frames of the live stream through nginx`);
  });
}
