import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWeir } from '../helpers/process.js';
import { publishRtmp } from '../helpers/publisher.js';
import { startTestServer } from '../helpers/server.js';

const liveSettings = { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 1 };

t.test('with archive, an ended broadcast becomes a title that goes through the pipeline to ready', async (t) => {
  const server = await startTestServer({ live: liveSettings, packaging: { segmentSeconds: 2 } });
  t.teardown(() => server.stop());
  const stream = await server.createStream({ name: 'Evening show', archive: true, reconnectWindowSeconds: 1 });
  const publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 6 });
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  t.equal(await publisher.exited, 0, 'the broadcaster finished its 6 s');
  const ended = await server.waitForStream(stream.id, (v) => v.archiveTitleIds.length > 0, 30_000);
  t.equal(ended.state, 'ended');
  const titleId = ended.archiveTitleIds[0]!;
  const view = await server.waitForTitle(titleId, (v) => v.state === 'ready' || v.state === 'failed');
  t.equal(view.state, 'ready', JSON.stringify(view.error));
  t.ok(view.facts && view.facts.durationMs > 3000, `the archive holds the broadcast (${view.facts?.durationMs} ms)`);
  t.same([view.facts?.video.width, view.facts?.video.height], [640, 360]);
  t.ok(view.facts?.audio, 'with its audio');
  const title = (await (await server.api(`/v1/titles/${titleId}`)).json()) as { title: string; tags: string[] };
  t.match(title, { title: /^Evening show — broadcast 1$/, tags: ['live-archive'] });
  const session = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: titleId } });
  t.equal(session.status, 201, 'the archive plays as VOD');
});

t.test('a server restart during a broadcast ends it cleanly, archives what was recorded, and the stream is ready again', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-live-restart-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { WEIR_ADMIN_TOKEN: 'live-restart', WEIR_LOG_LEVEL: 'debug' };
  const args = ['--data-dir', dataDir, '--live-segment-seconds', '1', '--segment-seconds', '2', '--encode-preset', 'ultrafast'];
  const api = (url: string, path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { ...init, headers: { authorization: 'Bearer live-restart', 'content-type': 'application/json', ...(init.headers ?? {}) } });

  const first = await spawnWeir(args, env);
  const created = (await (await api(first.url, '/v1/live-streams', { method: 'POST', body: JSON.stringify({ name: 'cut short', archive: true }) })).json()) as {
    id: string;
    ingest: { rtmp: string };
  };
  const publisher = publishRtmp({ url: created.ingest.rtmp.replace('localhost', '127.0.0.1'), seconds: 60 });
  t.teardown(() => publisher.stop());
  await first.waitForLog((l) => l.msg === 'stream state' && l.state === 'live');
  // Hold a blocking playlist request until segment 3 is complete (so some are recorded), then kill the server outright.
  const session = (await (await api(first.url, '/v1/playback-sessions', { method: 'POST', body: JSON.stringify({ contentId: created.id }) })).json()) as { sources: { url: string }[] };
  const playlistUrl = session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', 'v0/index.m3u8');
  for (let msn = 1; msn <= 3; msn++) t.equal((await fetch(`${playlistUrl}?_HLS_msn=${msn}`)).status, 200);
  first.child.kill('SIGKILL');
  await first.exited;
  t.not(await publisher.exited, 0, 'the publisher lost its connection with the server');

  const second = await spawnWeir(args, env);
  // Stopped (and gone) before its data dir is removed: a server still stopping writes into it.
  t.teardown(async () => {
    second.child.kill('SIGTERM');
    await second.exited;
  });
  await second.waitForLog((l) => l.msg === 'archived broadcast as a title', 30_000);
  await second.waitForLog((l) => l.msg === 'stream state' && l.streamId === created.id && l.state === 'idle', 30_000);
  const stream = (await (await api(second.url, `/v1/live-streams/${created.id}`)).json()) as { state: string; archiveTitleIds: string[] };
  t.equal(stream.state, 'idle', 'the stream is ready for the next publish');
  t.equal(stream.archiveTitleIds.length, 1, 'what was recorded became a title');
  await second.waitForLog((l) => l.msg === 'title state' && l.titleId === stream.archiveTitleIds[0] && (l.state === 'ready' || l.state === 'failed'), 120_000);
  const title = (await (await api(second.url, `/v1/titles/${stream.archiveTitleIds[0]}`)).json()) as { state: string };
  t.equal(title.state, 'ready');

  const again = publishRtmp({ url: created.ingest.rtmp.replace('localhost', '127.0.0.1').replace(/:\d+\//, `:${String(second.lines.find((l) => l.msg === 'weir is listening')!.rtmpPort)}/`), seconds: 60 });
  t.teardown(() => again.stop());
  await second.waitForLog((l) => l.msg === 'stream state' && l.streamId === created.id && l.state === 'live', 30_000);
  t.pass('the next publish goes live');
});
