/**
 * npm run bench:edge — what the shipped nginx edge (deploy/nginx/weir-edge.conf) saves the origin
 * and costs the viewer, on LL-HLS: --viewers simulated players (default 1000; a blocking request
 * on the hinted part, then the playlist that lists it, as hls.js does) for --seconds each, first
 * straight at the origin, then through nginx, in the same run on the same stream. Prints:
 *  - origin requests per part (parts, and every media request) and edge authorizations;
 *  - part answer lateness: how long after the first viewer got a part each other viewer got it
 *    (median, p99), which is what the edge adds or saves, on the viewer's side;
 *  - parts viewers missed, and errors.
 * The origin and nginx run as their own processes; the viewers are simulated in this one.
 *
 * Then VOD throughput with the catalog on SQLite and on PostgreSQL, side by side (see
 * lib/vod-engines.ts; --database-url names the server, a schema of its own is made and dropped).
 * --only llhls or --only vod runs one part.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { locateMediaTools } from '../src/pipeline/encode/ffmpeg.js';
import { nginxMissing, startEdge } from './lib/edge.js';
import { compareCatalogEngines } from './lib/vod-engines.js';
import { startViewer } from './lib/llhls-viewer.js';
import { cpuSeconds, startWeirProcess, weirApi } from './lib/weir-process.js';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    'part-ms': { type: 'string', default: '200' },
    only: { type: 'string' },
    'database-url': { type: 'string', default: process.env.WEIR_TEST_DATABASE_URL ?? 'postgres://weir:weir@127.0.0.1:5432/weir_test' },
    'vod-clients': { type: 'string', default: '50' },
  },
});
const viewers = Number(values.viewers);
const seconds = Number(values.seconds);
const engines = () => compareCatalogEngines({ seconds, clients: Number(values['vod-clients']), viewers: 2000, databaseUrl: values['database-url']!, ffmpeg: locateMediaTools().ffmpeg });
if (values.only === 'vod') {
  await engines();
  process.exit(0);
}
if (nginxMissing) {
  console.log(`bench:edge needs nginx — ${nginxMissing}`);
  process.exit(0);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const agent = new Agent({ connections: viewers * 3, pipelining: 0, keepAliveTimeout: 30_000 });
const get = ((url: string) => undiciFetch(url, { dispatcher: agent })) as unknown as typeof globalThis.fetch;

const dataDir = mkdtempSync(join(tmpdir(), 'weir-bench-edge-'));
const configFile = join(dataDir, 'bench-config.json');
// One address starts every session here: the per-address limit is lifted; the edge is a trusted proxy.
writeFileSync(configFile, JSON.stringify({ playback: { sessionsPerMinutePerAddress: 100_000 }, http: { trustedProxies: ['127.0.0.1'] } }));
const server = await startWeirProcess(dataDir, ['--config', configFile, '--live-segment-seconds', '1', '--live-part-ms', values['part-ms']!], 'bench-edge');
const edge = await startEdge([server.url]);
const stream = await weirApi<{ id: string; streamKey: string }>(server, '/v1/live-streams', { name: 'bench edge' });
const tools = locateMediaTools();
const publisher = spawn(
  tools.ffmpeg,
  ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', `rtmp://127.0.0.1:${server.rtmpPort}/live/${stream.streamKey}`],
  { stdio: 'ignore' },
);

/** The origin's answers so far, by route pattern (its own metrics). */
async function originCounts(): Promise<{ media: number; authorize: number }> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer bench-edge' } })).text();
  const sum = (route: string) => [...text.matchAll(/^weir_http_request_duration_seconds_count\{([^}]*)\} (\d+)/gm)].filter((m) => m[1]!.includes(`route="${route}"`)).reduce((total, m) => total + Number(m[2]), 0);
  return { media: sum('/media/:contentId/:token/*file'), authorize: sum('/v1/edge/authorize') };
}

try {
  for (let i = 0; i < 300; i++) {
    const state = await weirApi<{ state: string }>(server, `/v1/live-streams/${stream.id}`);
    if (state.state === 'live') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 3000)); // a few segments in the window
  console.log(`bench:edge — ${viewers} LL-HLS viewers, ${seconds} s each way, parts of ${values['part-ms']} ms, 360p passthrough`);
  console.log('path        viewer parts/part  origin media req/part  authorizations  lateness p50   p99      missed  errors  origin CPU');
  for (const path of ['origin', 'edge'] as const) {
    const sessions = [];
    for (let i = 0; i < viewers; i++) sessions.push(weirApi<{ sources: { protocol: string; url: string }[] }>(server, '/v1/playback-sessions', { contentId: stream.id }));
    const started = await Promise.all(sessions);
    const firstAt = new Map<string, number>();
    const answers: [string, number][] = [];
    const onPart = (part: string, at: number) => {
      if (!firstAt.has(part) || firstAt.get(part)! > at) firstAt.set(part, at);
      answers.push([part, at]);
    };
    const playlists = started.map((session) => {
      const master = session.sources.find((s) => s.protocol === 'hls')!.url.replace(/^https?:\/\/[^/]+/, path === 'edge' ? edge.url : server.url);
      return master.replace('master.m3u8', 'v0/index.m3u8');
    });
    const running = playlists.map((playlistUrl) => startViewer({ playlistUrl, lateAfterMs: 1000, fetch: get, onPart }));
    await new Promise((resolve) => setTimeout(resolve, 3000)); // everyone at the live edge
    answers.length = 0;
    const before = await originCounts();
    const cpuBefore = cpuSeconds(server.child.pid!);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const after = await originCounts();
    const cpu = (cpuSeconds(server.child.pid!) - cpuBefore) / seconds;
    const measured = answers.slice();
    await Promise.all(running.map((viewer) => viewer.stop()));
    // Parts of the viewed rendition in the window: the distinct ones viewers received.
    const partsPublished = Math.max(1, new Set(measured.map(([part]) => part)).size);
    const lateness = measured.map(([part, at]) => at - firstAt.get(part)!).sort((a, b) => a - b);
    const missed = running.reduce((total, viewer) => total + viewer.stats.missed, 0);
    const errors = running.reduce((total, viewer) => total + viewer.stats.errors.length, 0);
    console.log(
      `${path.padEnd(10)} ${(measured.length / partsPublished).toFixed(1).padStart(18)} ${((after.media - before.media) / partsPublished).toFixed(1).padStart(22)} ${String(after.authorize - before.authorize).padStart(15)}  ${percentile(lateness, 50).toFixed(1).padStart(8)} ms ${percentile(lateness, 99).toFixed(1).padStart(7)} ms ${String(missed).padStart(7)} ${String(errors).padStart(7)}  ${(cpu * 100).toFixed(0)} % of a core`,
    );
    const sample = running.flatMap((viewer) => viewer.stats.errors).slice(0, 3);
    if (sample.length > 0) console.log(`  errors, e.g.: ${sample.join(' | ')}`);
  }
  // What reached the origin through the edge, by kind of request (nginx's own log of cache outcomes).
  const kinds = new Map<string, Map<string, number>>();
  for (const line of readFileSync(edge.accessLog, 'utf8').split('\n')) {
    const match = /"GET (\S+)" (\d+) \d+ cache=(\S*)/.exec(line);
    if (!match || !match[1]!.startsWith('/media/')) continue;
    const path = match[1]!;
    const kind = /\/part-[^/]*\.m4s/.test(path) ? 'part' : /index\.m3u8\?.*_HLS_msn/.test(path) ? 'blocking playlist' : /\.m3u8/.test(path) ? 'playlist' : 'other';
    const outcome = `${match[3] || 'none'} ${match[2]}`;
    const counts = kinds.get(kind) ?? new Map<string, number>();
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    kinds.set(kind, counts);
  }
  console.log('through the edge, by request kind (cache outcome and status: count):');
  for (const [kind, counts] of kinds) console.log(`  ${kind.padEnd(18)} ${[...counts].sort((a, b) => b[1] - a[1]).map(([outcome, n]) => `${outcome}: ${n}`).join(', ')}`);
} finally {
  publisher.kill('SIGKILL');
  await edge.stop();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
if (values.only !== 'llhls') await engines();
