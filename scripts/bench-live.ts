/**
 * npm run bench:live — glass-to-glass figures for live streams on this machine:
 *  1. ingest-to-display latency in Chromium (hls.js, lowLatencyMode) as Date.now() − hls.playingDate,
 *     sampled every 250 ms over --seconds (default 60), median and p95, passthrough and ladder;
 *  2. how fast N waiting blocking-reload requests are answered once the awaited part completes
 *     (N = 100, 500, 1000; median and p99);
 *  3. server CPU per viewer with --viewers simulated LL-HLS players (default 100).
 *  0. glass to glass (--only glass): a feed stamped with the time each frame was drawn goes to
 *     Weir and to node-media-server at once; the stamp read off each displayed frame gives what
 *     the viewer sees, for HTTP-FLV (the reference), hls.js at defaults and with the settings the
 *     playback session hands out, Shaka and dash.js on LL-DASH.
 * The server runs as its own process (dist/src/main.js) so its CPU is measured alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { locateMediaTools } from '../src/pipeline/encode/ffmpeg.js';
import { chromiumMissing, launchChromium, openPlayer, servePlayerPage, type PlayerKind } from './lib/player.js';
import { startReferenceFlv } from './lib/reference-flv.js';
import { publishStampedFeed } from './lib/stamped-feed.js';
import { cpuSeconds, startWeirProcess, weirApi, type WeirProcess } from './lib/weir-process.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    viewers: { type: 'string', default: '100' },
    only: { type: 'string' },
    'part-ms': { type: 'string', default: '200' },
    /** The publisher's keyframe interval in frames (30 fps). */
    gop: { type: 'string', default: '30' },
    /** Glass runs of these player kinds only (comma-separated: flv,hls,dash,dashjs); all by default. */
    players: { type: 'string', default: 'flv,hls,dash,dashjs' },
    /** How HLS carries audio (the server's live.hlsAudio): muxed into each variant, or separate. */
    'hls-audio': { type: 'string', default: 'muxed' },
    /** JSON merged into the hls.js config (for trying player tuning). */
    'hls-config': { type: 'string', default: '{}' },
  },
});
const partMs = Number(values['part-ms']);
const seconds = Number(values.seconds);
const viewers = Number(values.viewers);
const token = 'bench-live';
const tools = locateMediaTools();
const agent = new Agent({ connections: 2000, pipelining: 0, keepAliveTimeout: 30_000 });

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, median: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
};
const ms = (value: number) => `${value.toFixed(1)} ms`;

type Server = WeirProcess;

const startServer = (dataDir: string) => startWeirProcess(dataDir, ['--live-segment-seconds', '1', '--live-part-ms', String(partMs), '--live-hls-audio', values['hls-audio']], token);
const api = <T>(server: Server, path: string, body?: unknown) => weirApi<T>(server, path, body);

function publish(url: string, width: number, height: number): ChildProcess {
  return spawn(
    tools.ffmpeg,
    ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds + 120), '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', String(values.gop), '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', url],
    { stdio: 'ignore' },
  );
}

async function liveStream(server: Server, mode: 'passthrough' | 'ladder', width: number, height: number) {
  const stream = await api<{ id: string; streamKey: string }>(server, '/v1/live-streams', { name: `bench ${mode}`, mode });
  const publisher = publish(`rtmp://127.0.0.1:${server.rtmpPort}/live/${stream.streamKey}`, width, height);
  for (;;) {
    const state = await api<{ state: string }>(server, `/v1/live-streams/${stream.id}`);
    if (state.state === 'live') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const session = await api<{ sources: { protocol: string; url: string }[] }>(server, '/v1/playback-sessions', { contentId: stream.id });
  const hls = session.sources.find((s) => s.protocol === 'hls')!.url.replace('localhost', '127.0.0.1');
  return { hls, stop: () => publisher.kill('SIGKILL') };
}

async function measureLatency(hlsUrl: string): Promise<number[]> {
  const [browser, page] = await Promise.all([launchChromium(), servePlayerPage()]);
  try {
    const tab = await browser.newPage();
    await tab.goto(page.url);
    await tab.evaluate((url) => (globalThis as unknown as { play: (k: string, u: string, c: unknown) => Promise<void> }).play('hls', url.hls, url.config), { hls: hlsUrl, config: { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, ...(JSON.parse(values['hls-config']!) as object) } });
    const samples: number[] = [];
    const warmupEnd = Date.now() + 10_000; // let hls.js reach its live position first
    const end = warmupEnd + seconds * 1000;
    while (Date.now() < end) {
      const latency = await tab.evaluate(() => {
        const g = globalThis as unknown as { hls?: { playingDate?: Date | null } };
        const date = g.hls?.playingDate;
        return date ? Date.now() - date.getTime() : null;
      });
      if (latency !== null && Date.now() > warmupEnd) samples.push(latency / 1000);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const errors = await tab.evaluate(() => (globalThis as unknown as { report: () => { errors: string[] } }).report().errors);
    if (errors.length > 0) console.log(`  player errors: ${errors.join(', ')}`);
    const own = await tab.evaluate(() => {
      const h = (globalThis as unknown as { hls: { latency: number; targetLatency: number | null; drift: number; buffered?: unknown } }).hls;
      const video = (globalThis as unknown as { document: { querySelector(s: string): { buffered: { length: number; end(i: number): number }; currentTime: number; playbackRate: number } } }).document.querySelector('video');
      const end = video.buffered.length > 0 ? video.buffered.end(video.buffered.length - 1) : 0;
      return { latency: h.latency, target: h.targetLatency, buffer: end - video.currentTime, rate: video.playbackRate };
    });
    console.log(`  hls.js's view: latency ${own.latency.toFixed(3)} s, target ${own.target?.toFixed(3)} s, forward buffer ${own.buffer.toFixed(3)} s, rate ${own.rate}`);
    return samples;
  } finally {
    await browser.close();
    await page.close();
  }
}

/** N requests held on the next part; each answer's delay after that part completed. */
async function measureBlocking(playlistUrl: string, n: number): Promise<{ observed: number[]; server: number[]; late: number }> {
  const delays = { observed: [] as number[], server: [] as number[], late: 0 };
  for (let round = 0; round < 3; round++) {
    const text = await (await undiciFetch(playlistUrl, { dispatcher: agent })).text();
    const hint = /PRELOAD-HINT:TYPE=PART,URI="part-(\d+)\.(\d+)\.m4s"/.exec(text);
    if (!hint) throw new Error('no preload hint in the playlist');
    // Wait on a part three ahead of the hint (the spec's limit), so all N requests are waiting
    // before it completes even though sending them takes a while.
    const url = `${playlistUrl}?_HLS_msn=${hint[1]}&_HLS_part=${Number(hint[2]) + 2}`;
    const answers = await Promise.all(
      Array.from({ length: n }, async () => {
        const response = await undiciFetch(url, { dispatcher: agent });
        const arrived = Date.now();
        await response.arrayBuffer();
        const completed = Number(response.headers.get('x-weir-part-completed-at'));
        const answered = Number(response.headers.get('x-weir-answered-at'));
        const received = Number(response.headers.get('x-weir-received-at'));
        return { observed: arrived - completed, server: answered - completed, waited: received < completed };
      }),
    );
    for (const answer of answers) {
      if (!Number.isFinite(answer.observed) || !answer.waited) {
        delays.late++;
        continue;
      }
      delays.observed.push(answer.observed);
      delays.server.push(answer.server);
    }
  }
  return delays;
}

/** `viewers` simulated LL-HLS players: blocking reload on the hinted part, then fetch that part. */
async function measureCpuPerViewer(server: Server, playlistUrl: string): Promise<{ perViewer: number; idle: number }> {
  const pid = server.child.pid!;
  const idleStart = cpuSeconds(pid);
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const idle = (cpuSeconds(pid) - idleStart) / 10;
  let running = true;
  const viewer = async () => {
    let query = '';
    while (running) {
      const text = await (await undiciFetch(playlistUrl + query, { dispatcher: agent })).text();
      const hint = /PRELOAD-HINT:TYPE=PART,URI="(part-(\d+)\.(\d+)\.m4s)"/.exec(text);
      if (!hint) continue;
      await (await undiciFetch(new URL(hint[1]!, playlistUrl).href, { dispatcher: agent })).arrayBuffer();
      query = `?_HLS_msn=${hint[2]}&_HLS_part=${Number(hint[3]) + 1}`;
    }
  };
  const loops = Array.from({ length: viewers }, viewer);
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const start = cpuSeconds(pid);
  const duration = 20;
  await new Promise((resolve) => setTimeout(resolve, duration * 1000));
  const busy = (cpuSeconds(pid) - start) / duration;
  running = false;
  await Promise.allSettled(loops);
  return { perViewer: (busy - idle) / viewers, idle };
}

type GlassRun = { label: string; kind: PlayerKind; url: string; config: unknown };

/** Glass-to-glass latency of each player in turn on the same stamped feed, beside HTTP-FLV. */
async function measureGlass(server: Server, dataDir: string): Promise<void> {
  const reference = await startReferenceFlv(dataDir);
  const stream = await api<{ id: string; streamKey: string }>(server, '/v1/live-streams', { name: 'bench glass' });
  const feed = publishStampedFeed(tools.ffmpeg, [`rtmp://127.0.0.1:${server.rtmpPort}/live/${stream.streamKey}`, reference.rtmpUrl('reference')]);
  const [browser, page] = await Promise.all([launchChromium(), servePlayerPage()]);
  try {
    for (;;) {
      const state = await api<{ state: string }>(server, `/v1/live-streams/${stream.id}`);
      if (state.state === 'live') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    type Settings = { hlsjs: unknown; dashjs: unknown; shaka: unknown };
    const session = await api<{ sources: { protocol: string; url: string }[]; live: Settings }>(server, '/v1/playback-sessions', { contentId: stream.id });
    const url = (protocol: string) => session.sources.find((s) => s.protocol === protocol)!.url.replace('localhost', '127.0.0.1');
    const flv = { label: 'HTTP-FLV (node-media-server, mpegts.js)', kind: 'flv', url: reference.flvUrl('reference'), config: {} } as const;
    const runs: GlassRun[] = [
      flv,
      { label: 'hls.js LL-HLS, defaults', kind: 'hls', url: url('hls'), config: {} },
      { label: 'hls.js LL-HLS, session settings', kind: 'hls', url: url('hls'), config: session.live.hlsjs },
      // Trying player tuning: the session settings with --hls-config laid over them.
      ...(values['hls-config'] !== '{}' ? [{ label: 'hls.js, session settings + --hls-config', kind: 'hls' as const, url: url('hls'), config: { ...(session.live.hlsjs as object), ...(JSON.parse(values['hls-config']!) as object) } }] : []),
      { label: 'Shaka LL-DASH, session settings', kind: 'dash', url: url('dash'), config: session.live.shaka },
      { label: 'dash.js LL-DASH, session settings', kind: 'dashjs', url: url('dash'), config: { settings: session.live.dashjs } },
      { ...flv, label: 'HTTP-FLV again' },
    ];
    const medians = new Map<string, number>();
    const kinds = new Set(values.players!.split(','));
    for (const run of runs.filter((r) => kinds.has(r.kind))) {
      const player = await openPlayer(browser, page.url, run);
      try {
        await new Promise((resolve) => setTimeout(resolve, 10_000)); // start-up, as a viewer joins
        await player.takeGlass();
        const before = await player.report();
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        const glass = summary(await player.takeGlass());
        const after = await player.report();
        medians.set(run.label, glass.median);
        const errors = after.errors.length > 0 ? `, errors ${after.errors.join(' ')}` : '';
        // What the player believes (by program date-time) and how much it holds, beside what the viewer sees.
        const own = after.hlsLatency !== null ? `, hls.js says ${after.hlsLatency.toFixed(3)} s (target ${after.hlsTargetLatency?.toFixed(3)})` : after.dashLatency !== null ? `, dash.js says ${after.dashLatency.toFixed(3)} s` : '';
        console.log(`glass ${run.label.padEnd(40)}: median ${(glass.median / 1000).toFixed(3)} s, p95 ${(glass.p95 / 1000).toFixed(3)} s over ${glass.n} frames, ${after.stalls - before.stalls} stalls, ${after.bufferAhead.toFixed(3)} s buffered${own}${errors}`);
      } finally {
        await player.close();
      }
    }
    const flvMedian = Math.min(medians.get(flv.label) ?? NaN, medians.get('HTTP-FLV again') ?? NaN);
    const over = (label: string) => ((medians.get(label) ?? NaN) - flvMedian) / 1000;
    console.log(`glass vs HTTP-FLV (${(flvMedian / 1000).toFixed(3)} s, the better of two runs): hls.js defaults +${over('hls.js LL-HLS, defaults').toFixed(3)} s (target ≤ +1.0, ratio ${(over('hls.js LL-HLS, defaults') / 1).toFixed(2)}); hls.js with session settings +${over('hls.js LL-HLS, session settings').toFixed(3)} s (target ≤ +0.5, ratio ${(over('hls.js LL-HLS, session settings') / 0.5).toFixed(2)})`);
  } finally {
    feed.stop();
    await browser.close();
    await page.close();
    await reference.stop();
  }
}

async function main(): Promise<void> {
  if (chromiumMissing) console.log(`(latency skipped: ${chromiumMissing})`);
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-bench-live-'));
  const server = await startServer(dataDir);
  try {
    if (!chromiumMissing && (!values.only || values.only === 'glass')) await measureGlass(server, dataDir);
    console.log(`Weir live benchmark: parts ${partMs} ms (PART-TARGET ${(partMs / 1000).toFixed(3)}), segments 1 s, HLS audio ${values['hls-audio']}, publisher keyframe every ${values.gop} frames at 30 fps, ${seconds} s per latency run, 2 cores`);
    for (const mode of ['passthrough', 'ladder'] as const) {
      if (values.only && values.only !== mode) continue;
      const stream = await liveStream(server, mode, mode === 'ladder' ? 854 : 640, mode === 'ladder' ? 480 : 360);
      try {
        if (!chromiumMissing) {
          const latency = summary(await measureLatency(stream.hls));
          const target = mode === 'passthrough' ? 0.8 : 1.6;
          console.log(
            `latency ${mode.padEnd(11)}: median ${latency.median.toFixed(3)} s, p95 ${latency.p95.toFixed(3)} s over ${latency.n} samples (target median ≤ ${target} s, ratio ${(latency.median / target).toFixed(2)})`,
          );
        }
        if (mode === 'passthrough') {
          const playlist = stream.hls.replace('master.m3u8', 'v0/index.m3u8');
          for (const n of [100, 500, 1000]) {
            const measured = await measureBlocking(playlist, n);
            const server = summary(measured.server);
            const observed = summary(measured.observed);
            console.log(
              `blocking reload, ${String(n).padStart(4)} waiting: server answered after part completion median ${ms(server.median)}, p99 ${ms(server.p99)} (target p99 ≤ 50 ms, ratio ${(server.p99 / 50).toFixed(2)}); seen by the client median ${ms(observed.median)}, p99 ${ms(observed.p99)}; ${server.n} waited, ${measured.late} arrived after the part`,
            );
          }
          const cpu = await measureCpuPerViewer(server, playlist);
          console.log(`server CPU: ${(cpu.idle * 100).toFixed(1)} % of a core while ingesting; +${(cpu.perViewer * 100).toFixed(3)} % of a core per LL-HLS viewer (${viewers} viewers)`);
        }
      } finally {
        stream.stop();
      }
    }
  } finally {
    await server.stop();
    await agent.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
