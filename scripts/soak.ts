/**
 * npm run soak — a long run of the live path under a steady load, watching for what only time
 * shows: memory that keeps growing, parts that go missing or come late, errors.
 *
 * Four publishers (two RTMP, two SRT; the first RTMP one drops and returns within the reconnect
 * window every --reconnect-minutes) and --viewers simulated LL-HLS players spread over them.
 * Prints resident memory and the viewers' figures every --sample-seconds, then a verdict; exits
 * non-zero if memory keeps growing or a viewer missed a part.
 *
 *   npm run soak -- --minutes 30          (the reference run)
 *   npm run soak -- --minutes 2 --viewers 40
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { locateMediaTools } from '../src/pipeline/encode/ffmpeg.js';
import { startViewer, type Viewer } from './lib/llhls-viewer.js';
import { cpuSeconds, residentBytes, startWeirProcess, weirApi, type WeirProcess } from './lib/weir-process.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    viewers: { type: 'string', default: '200' },
    'reconnect-minutes': { type: 'string', default: '3' },
    'sample-seconds': { type: 'string', default: '30' },
  },
});
const minutes = Number(values.minutes);
const viewerCount = Number(values.viewers);
const reconnectMs = Number(values['reconnect-minutes']) * 60_000;
const sampleMs = Number(values['sample-seconds']) * 1000;
const tools = locateMediaTools();
// Debian's ffmpeg speaks SRT (the bundled one does not).
const srtFfmpeg = '/usr/bin/ffmpeg';
const haveSrt = existsSync(srtFfmpeg) && spawnSync(srtFfmpeg, ['-hide_banner', '-protocols'], { encoding: 'utf8' }).stdout.split(/\s+/).includes('srt');
const agent = new Agent({ connections: viewerCount * 2 + 10, keepAliveTimeout: 30_000 });
const pooledFetch = ((url: string) => undiciFetch(url, { dispatcher: agent })) as unknown as typeof fetch;

type Publisher = { kind: 'rtmp' | 'srt'; url: string; child: ChildProcess | null; restarts: number };

function encoderArgs(): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=426x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k'];
}

function startPublisher(publisher: Publisher): void {
  const args = publisher.kind === 'rtmp' ? [...encoderArgs(), '-f', 'flv', publisher.url] : [...encoderArgs(), '-f', 'mpegts', `${publisher.url}&latency=200000`];
  publisher.child = spawn(publisher.kind === 'rtmp' ? tools.ffmpeg : srtFfmpeg, args, { stdio: 'ignore' });
}

async function waitLive(server: WeirProcess, id: string): Promise<void> {
  for (;;) {
    if ((await weirApi<{ state: string }>(server, `/v1/live-streams/${id}`)).state === 'live') return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-soak-'));
  const server = await startWeirProcess(dataDir, ['--live-segment-seconds', '2', '--live-part-ms', '200'], 'soak');
  const publishers: Publisher[] = [];
  const playlists: string[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const kind = i < 2 || !haveSrt ? 'rtmp' : 'srt';
      const stream = await weirApi<{ id: string; streamKey: string }>(server, '/v1/live-streams', { name: `soak ${i}`, reconnectWindowSeconds: 15 });
      const url = kind === 'rtmp' ? `rtmp://127.0.0.1:${server.rtmpPort}/live/${stream.streamKey}` : `srt://127.0.0.1:${server.srtPort}?streamid=${stream.streamKey}`;
      const publisher: Publisher = { kind, url, child: null, restarts: 0 };
      startPublisher(publisher);
      publishers.push(publisher);
      await waitLive(server, stream.id);
      // Sessions are made before the viewers start: 200 at once would be rate-limited, as they should be.
      const session = await weirApi<{ sources: { protocol: string; url: string }[] }>(server, '/v1/playback-sessions', { contentId: stream.id });
      playlists.push(session.sources.find((s) => s.protocol === 'hls')!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', 'v0/index.m3u8'));
    }
    if (!haveSrt) console.log('Debian ffmpeg with libsrt not found (apt-get install -y ffmpeg): all four publishers use RTMP');
    console.log(`soak: ${minutes} min, ${publishers.map((p) => p.kind).join('+')} publishers (the first reconnects every ${reconnectMs / 60_000} min), ${viewerCount} LL-HLS viewers`);

    const viewers: Viewer[] = Array.from({ length: viewerCount }, (_, i) => startViewer({ playlistUrl: playlists[i % playlists.length]!, lateAfterMs: 1_000, fetch: pooledFetch }));
    const reconnects = setInterval(() => {
      const first = publishers[0]!;
      first.child?.kill('SIGKILL');
      first.restarts++;
      setTimeout(() => startPublisher(first), 2_000);
    }, reconnectMs);

    const samples: { at: number; rss: number }[] = [];
    const started = Date.now();
    const cpuStart = cpuSeconds(server.child.pid!);
    const total = () => viewers.reduce((sum, v) => ({ parts: sum.parts + v.stats.parts, missed: sum.missed + v.stats.missed, late: sum.late + v.stats.late, errors: sum.errors + v.stats.errors.length }), { parts: 0, missed: 0, late: 0, errors: 0 });
    console.log('minute   rss MiB   parts      missed  late   errors');
    while (Date.now() - started < minutes * 60_000) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(sampleMs, minutes * 60_000 - (Date.now() - started))));
      const rss = residentBytes(server.child.pid!);
      samples.push({ at: Date.now() - started, rss });
      const now = total();
      console.log(`${((Date.now() - started) / 60_000).toFixed(1).padStart(6)}   ${mib(rss).padStart(7)}   ${String(now.parts).padStart(8)}   ${String(now.missed).padStart(6)}  ${String(now.late).padStart(4)}   ${String(now.errors).padStart(6)}`);
    }
    clearInterval(reconnects);
    await Promise.all(viewers.map((v) => v.stop()));
    const cpu = (cpuSeconds(server.child.pid!) - cpuStart) / ((Date.now() - started) / 1000);

    // Growth: the last third's median against the middle third's (the first third is warm-up).
    const third = Math.max(1, Math.floor(samples.length / 3));
    const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] ?? NaN;
    const middle = median(samples.slice(third, 2 * third).map((s) => s.rss));
    const last = median(samples.slice(2 * third).map((s) => s.rss));
    const growing = samples.length >= 6 && last > middle * 1.1 + 16 * 2 ** 20;
    const final = total();
    const cycles = viewers.flatMap((v) => v.stats.cycleMs).sort((a, b) => a - b);
    const p = (q: number) => cycles[Math.min(cycles.length - 1, Math.floor(q * cycles.length))]?.toFixed(0) ?? '-';
    console.log('');
    console.log(`memory: middle third ${mib(middle)} MiB, last third ${mib(last)} MiB, peak ${mib(Math.max(...samples.map((s) => s.rss)))} MiB → ${growing ? 'KEEPS GROWING' : 'flat'}`);
    console.log(`parts: ${final.parts} received, ${final.missed} missed, ${final.late} late (>1 s), ${final.errors} viewer errors; part cycle median ${p(0.5)} ms, p99 ${p(0.99)} ms`);
    console.log(`server CPU: ${(cpu * 100).toFixed(0)} % of a core; publisher restarts: ${publishers[0]!.restarts}`);
    const errors = viewers.flatMap((v) => v.stats.errors);
    if (errors.length > 0) console.log(`first viewer errors: ${[...new Set(errors)].slice(0, 5).join(' | ')}`);
    const gaps = viewers.flatMap((v, i) => v.stats.gaps.map((g) => `stream ${i % playlists.length}: ${g}`));
    if (gaps.length > 0) console.log(`first gaps: ${gaps.slice(0, 8).join(' | ')}`);
    const failed = growing || final.missed > 0;
    console.log(failed ? 'SOAK FAILED' : 'soak passed');
    process.exitCode = failed ? 1 : 0;
  } finally {
    for (const publisher of publishers) publisher.child?.kill('SIGKILL');
    await server.stop();
    await agent.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main();
