import t from 'tap';
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { makeSource } from '../helpers/media.js';
import { parseM3u8 } from '../helpers/playback.js';
import { publishRtmp, type Publisher } from '../helpers/publisher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

let server: TestServer;
let publisher: Publisher;
let stream: { id: string; streamKey: string; ingest: { rtmp: string } };
const password = 'a viewer password of some length';

t.before(async () => {
  server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 5, reconnectWindowSeconds: 10 } });
  const title = await server.ingest(makeSource({ width: 320, height: 180, seconds: 2 }), 'Metered');
  if (title.view.state !== 'ready') throw new Error(`title failed: ${JSON.stringify(title.view.error)}`);
  stream = await server.createStream({ name: 'metered live' });
  publisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 120 });
  await server.waitForStream(stream.id, (v) => v.state === 'live');
});
t.teardown(async () => {
  await publisher?.stop();
  await server?.stop();
});

/** Scraped and parsed with a Prometheus text-format parser, as a scraper would. */
async function scrape(): Promise<{ text: string; families: Map<string, PromFamily> }> {
  const response = await server.api('/metrics');
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  return { text, families: new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family])) };
}

/**
 * A labelled histogram's count. parse-prometheus-text-format folds every label set of a histogram
 * into one (it keeps buckets only), so its `_count` samples are read from the text here.
 */
function histogramCount(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}_count\\{(.*)\\} (\\S+)$`).exec(line);
    if (!match) continue;
    const found = Object.fromEntries([...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[2]);
  }
  return undefined;
}

const value = (families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number | undefined => {
  const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? undefined : Number(sample.value ?? sample.count);
};

t.test('metrics scraped during a live publish and a playback say what happened, and never name a token or key', async (t) => {
  t.equal((await server.api('/metrics', { admin: false })).status, 401, 'the admin token is needed');
  await server.api('/v1/viewers', { method: 'POST', json: { email: 'metered@example.com', password } });
  const login = await server.api('/v1/auth/login', { method: 'POST', admin: false, json: { email: 'metered@example.com', password, device: { id: 'laptop', family: 'web' } } });
  const { accessToken } = (await login.json()) as { accessToken: string };
  const started = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, headers: { authorization: `Bearer ${accessToken}` }, json: { contentId: stream.id } });
  t.equal(started.status, 201);
  const session = (await started.json()) as { id: string; sources: { protocol: string; url: string }[] };
  const master = session.sources.find((s) => s.protocol === 'hls')!.url.replace('localhost', '127.0.0.1');
  const token = new URL(master).pathname.split('/')[3]!;
  const variant = parseM3u8(await (await fetch(master)).text()).playlists![0]!.uri;
  const playlistUrl = master.replace('master.m3u8', variant);
  const media = parseM3u8(await (await fetch(playlistUrl)).text());
  // One blocking request for the part after the newest.
  const nextMsn = (media.mediaSequence ?? 0) + media.segments.length;
  t.equal((await fetch(`${playlistUrl}?_HLS_msn=${nextMsn}&_HLS_part=0`)).status, 200, 'a blocking playlist request was answered');

  const first = await scrape();
  const firstAt = Date.now();
  t.equal(value(first.families, 'weir_live_streams', { state: 'live' }), 1, 'one live stream');
  t.equal(value(first.families, 'weir_playback_sessions', { family: 'web' }), 1, 'one playback session, on the web');
  t.equal(value(first.families, 'weir_titles', { state: 'ready' }), 1, 'one ready title');
  t.equal(value(first.families, 'weir_encodes_total', { outcome: 'encoded' }), 1, 'one encode');
  t.equal(value(first.families, 'weir_encode_duration_seconds'), 1, 'its time observed');
  t.ok(value(first.families, 'weir_llhls_blocking_answer_seconds')! >= 1, 'the blocking answer observed');
  t.equal(value(first.families, 'weir_llhls_blocking_requests_waiting'), 0, 'none waiting now');
  t.ok(histogramCount(first.text, 'weir_http_request_duration_seconds', { method: 'POST', route: '/v1/playback-sessions', status: '201' })! >= 1, 'the session start, by route pattern');
  t.ok(histogramCount(first.text, 'weir_http_request_duration_seconds', { method: 'GET', route: '/media/:contentId/:token/*file', status: '200' })! >= 2, 'media requests, by route pattern');
  t.equal(first.families.get('weir_http_request_duration_seconds')?.type, 'HISTOGRAM', 'a histogram the parser reads as one');
  t.ok(first.families.has('nodejs_eventloop_lag_seconds') && first.families.has('process_cpu_user_seconds_total'), 'process and event-loop metrics');
  for (const secret of [token, stream.streamKey, server.adminToken, accessToken]) t.notOk(first.text.includes(secret), 'no token, key or session secret in any label');

  const partsBefore = value(first.families, 'weir_live_parts_published', { stream: stream.id })!;
  const bytesBefore = value(first.families, 'weir_live_ingest_bytes', { stream: stream.id })!;
  t.ok(partsBefore > 0, `parts published (${partsBefore})`);
  // Once more media is in (read from the stream resource, not the metrics: a scrape starts a new
  // bitrate window), the counts moved, and the bitrate is the bytes between the two scrapes.
  const bytesNow = async () => ((await (await server.api(`/v1/live-streams/${stream.id}`)).json()) as { live: { bytesIn: number } }).live.bytesIn;
  await waitUntil(async () => (await bytesNow()) >= bytesBefore + 150_000, '150 kB more from the publisher', 10_000);
  const second = await scrape();
  const seconds = (Date.now() - firstAt) / 1000;
  const parts = value(second.families, 'weir_live_parts_published', { stream: stream.id })!;
  const bytes = value(second.families, 'weir_live_ingest_bytes', { stream: stream.id })!;
  t.ok(parts > partsBefore, `more parts published (${partsBefore} → ${parts})`);
  const bitrate = value(second.families, 'weir_live_ingest_bitrate_bits_per_second', { stream: stream.id })!;
  const expected = ((bytes - bytesBefore) * 8) / seconds;
  t.ok(bitrate > 0 && Math.abs(bitrate - expected) / expected < 0.25, `ingest bitrate ${Math.round(bitrate / 1000)} kb/s, the bytes between scrapes say ${Math.round(expected / 1000)} kb/s`);
  t.ok(value(second.families, 'weir_live_parts_late', { stream: stream.id })! <= parts, 'late parts are counted among them');

  t.equal((await server.api(`/v1/playback-sessions/${session.id}`, { method: 'DELETE', admin: false, headers: { authorization: `Bearer ${accessToken}` } })).status, 204);
  t.notOk(value((await scrape()).families, 'weir_playback_sessions', { family: 'web' }), 'the stopped session is no longer counted');
});

t.test('metrics may have a port of their own: served there without the token, and not on the main port', async (t) => {
  const separate = await startTestServer({ metrics: { port: 0, host: '127.0.0.1' } });
  t.teardown(() => separate.stop());
  t.ok(separate.metricsPort, 'a metrics port');
  const scraped = await fetch(`http://127.0.0.1:${separate.metricsPort}/metrics`);
  t.equal(scraped.status, 200);
  t.ok(parsePrometheusTextFormat(await scraped.text()).some((family) => family.name === 'weir_playback_sessions'));
  t.equal((await fetch(`http://127.0.0.1:${separate.metricsPort}/v1/titles`)).status, 404, 'and nothing else there');
  t.equal((await separate.api('/metrics')).status, 404, 'the main port has no /metrics then');
});
