/**
 * npm run bench:rtmp-abuse — what hostile RTMP connections cost a running server: resident
 * memory, a watching LL-HLS viewer's part cycle (playlist answer plus the part, about one part
 * duration at the live edge) and the health check's answer time, in a quiet phase and then
 * while waves of --connections garbage connections arrive, side by side.
 *
 *   npm run bench:rtmp-abuse -- --seconds 20 --connections 100
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { locateMediaTools } from '../src/pipeline/encode/ffmpeg.js';
import { startViewer } from './lib/llhls-viewer.js';
import { craftedChunkHeaders, handshakeBytes, heldMessage, sendRaw, type AbuseClient } from './lib/rtmp-abuse.js';
import { residentBytes, startWeirProcess, weirApi } from './lib/weir-process.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, connections: { type: 'string', default: '100' } } });
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const tools = locateMediaTools();

type Phase = { rss: number[]; cycles: number[]; health: number[]; missed: number; parts: number };

const percentile = (list: number[], p: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
};

function healthMs(url: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    get(`${url}/healthz`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - started));
    }).on('error', () => resolve(NaN));
  });
}

// Made once: generating megabytes of random bytes during the phase would slow this process's
// own viewer and distort what it measures.
let payloads: Buffer[] | null = null;

/** One wave of hostile connections: a third each of random bytes, crafted headers and held messages. */
function wave(port: number, n: number): AbuseClient[] {
  payloads ??= [
    Buffer.concat([handshakeBytes(), randomBytes(64 * 1024)]),
    Buffer.concat([handshakeBytes(), craftedChunkHeaders(700)]),
    Buffer.concat([handshakeBytes(), heldMessage(0xffffff, 2 * 2 ** 20)]),
  ];
  return Array.from({ length: n }, (_, i) => sendRaw(port, payloads![i % 3]!));
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-bench-abuse-'));
  const server = await startWeirProcess(dataDir, ['--live-segment-seconds', '1', '--live-part-ms', '200'], 'bench-abuse');
  const stream = await weirApi<{ id: string; streamKey: string }>(server, '/v1/live-streams', { name: 'watched' });
  const publisher = spawn(
    tools.ffmpeg,
    ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'flv', `rtmp://127.0.0.1:${server.rtmpPort}/live/${stream.streamKey}`],
    { stdio: 'ignore' },
  );
  try {
    while ((await weirApi<{ state: string }>(server, `/v1/live-streams/${stream.id}`)).state !== 'live') await new Promise((resolve) => setTimeout(resolve, 200));
    const session = await weirApi<{ sources: { protocol: string; url: string }[] }>(server, '/v1/playback-sessions', { contentId: stream.id });
    const playlistUrl = session.sources.find((s) => s.protocol === 'hls')!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', 'v0/index.m3u8');
    const viewer = startViewer({ playlistUrl, lateAfterMs: 1_000 });
    wave(server.rtmpPort, 0); // makes the payloads
    await new Promise((resolve) => setTimeout(resolve, 5_000)); // warm-up at the live edge

    const measure = async (abuse: boolean): Promise<Phase> => {
      const phase: Phase = { rss: [], cycles: [], health: [], missed: viewer.stats.missed, parts: viewer.stats.parts };
      const cyclesBefore = viewer.stats.cycleMs.length;
      const end = Date.now() + seconds * 1000;
      const clients: AbuseClient[] = [];
      let nextWave = Date.now();
      while (Date.now() < end) {
        if (abuse && Date.now() >= nextWave) {
          clients.push(...wave(server.rtmpPort, connections));
          nextWave += 5_000;
        }
        phase.rss.push(residentBytes(server.child.pid!));
        phase.health.push(await healthMs(server.url));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      phase.cycles = viewer.stats.cycleMs.slice(cyclesBefore);
      phase.missed = viewer.stats.missed - phase.missed;
      phase.parts = viewer.stats.parts - phase.parts;
      const closed = clients.filter((c) => c.socket.destroyed).length;
      if (abuse) console.log(`hostile connections: ${clients.length} opened, ${closed} closed by the server by the end of the phase`);
      for (const client of clients) client.socket.destroy();
      return phase;
    };
    const quiet = await measure(false);
    const abused = await measure(true);
    await viewer.stop();

    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const row = (name: string, q: string, a: string) => console.log(`${name.padEnd(34)}${q.padStart(14)}${a.padStart(16)}`);
    console.log(`\n${seconds} s each; abuse: a wave of ${connections} garbage RTMP connections every 5 s\n`);
    row('', 'quiet', 'under abuse');
    row('resident memory, median', mib(percentile(quiet.rss, 0.5)), mib(percentile(abused.rss, 0.5)));
    row('resident memory, peak', mib(Math.max(...quiet.rss)), mib(Math.max(...abused.rss)));
    row('viewer part cycle, median', ms(percentile(quiet.cycles, 0.5)), ms(percentile(abused.cycles, 0.5)));
    row('viewer part cycle, p95', ms(percentile(quiet.cycles, 0.95)), ms(percentile(abused.cycles, 0.95)));
    row('viewer part cycle, p99', ms(percentile(quiet.cycles, 0.99)), ms(percentile(abused.cycles, 0.99)));
    row('parts received / missed', `${quiet.parts} / ${quiet.missed}`, `${abused.parts} / ${abused.missed}`);
    row('/healthz answer, median', ms(percentile(quiet.health, 0.5)), ms(percentile(abused.health, 0.5)));
    row('/healthz answer, p99', ms(percentile(quiet.health, 0.99)), ms(percentile(abused.health, 0.99)));
    console.log(`\nratio under abuse / quiet: memory peak ×${(Math.max(...abused.rss) / Math.max(...quiet.rss)).toFixed(2)}, part cycle p95 ×${(percentile(abused.cycles, 0.95) / percentile(quiet.cycles, 0.95)).toFixed(2)}`);
  } finally {
    publisher.kill('SIGKILL');
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main();
