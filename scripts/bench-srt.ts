/**
 * npm run bench:srt — SRT receive cost on this machine, side by side with libsrt:
 *  for N concurrent publishers of a ~2 Mbps MPEG-TS feed (Debian ffmpeg with libsrt, stream copy),
 *  Weir's CPU per Mbps received and whether every publisher was held without loss, and the same
 *  feeds received by srt-live-transmit listeners (one per publisher, output discarded). Weir also
 *  demuxes the TS and packages LL-HLS; srt-live-transmit only receives.
 *
 *   --seconds N   measurement per step (default 20)    --steps 1,10,20,30   publisher counts
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { locateMediaTools } from '../src/pipeline/encode/ffmpeg.js';
import { cpuSeconds, startWeirProcess, weirApi } from './lib/weir-process.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, steps: { type: 'string', default: '1,10,20,30' } } });
const seconds = Number(values.seconds);
const steps = values.steps!.split(',').map(Number);
const srtFfmpeg = '/usr/bin/ffmpeg';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function makeFeed(dir: string): string {
  const path = join(dir, 'feed-2mbps.ts');
  execFileSync(locateMediaTools().ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000',
    '-t', '10', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '1900k', '-maxrate', '2000k', '-bufsize', '2000k', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k',
    '-f', 'mpegts', path,
  ]);
  return path;
}

function publish(feed: string, url: string): ChildProcess {
  return spawn(srtFfmpeg, ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', feed, '-c', 'copy', '-f', 'mpegts', `${url}&latency=200000`], { stdio: 'ignore' });
}

async function freePort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  socket.close();
  return port;
}

type Step = { n: number; cpuPerMbps: number; mbps: number; held: boolean; detail: string };

async function weirStep(feed: string, n: number): Promise<Step> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-bench-srt-'));
  const server = await startWeirProcess(dataDir, ['--live-segment-seconds', '1']);
  const publishers: ChildProcess[] = [];
  try {
    const streams = await Promise.all(Array.from({ length: n }, (_, i) => weirApi<{ id: string; streamKey: string }>(server, '/v1/live-streams', { name: `bench ${i}` })));
    for (const stream of streams) publishers.push(publish(feed, `srt://127.0.0.1:${server.srtPort}?streamid=${stream.streamKey}`));
    await sleep(4000); // connect and settle before measuring
    const stats = async () =>
      Promise.all(streams.map((s) => weirApi<{ state: string; live: { connection: Record<string, number> | null } | null }>(server, `/v1/live-streams/${s.id}`)));
    const before = await stats();
    const cpuBefore = cpuSeconds(server.child.pid!);
    await sleep(seconds * 1000);
    const cpu = cpuSeconds(server.child.pid!) - cpuBefore;
    const after = await stats();
    let bytes = 0;
    let dropped = 0;
    let continuity = 0;
    let live = 0;
    after.forEach((s, i) => {
      const c = s.live?.connection;
      const b = before[i]!.live?.connection;
      if (s.state === 'live' && c) live++;
      bytes += (c?.bytesReceived ?? 0) - (b?.bytesReceived ?? 0);
      dropped += (c?.packetsDropped ?? 0) - (b?.packetsDropped ?? 0);
      continuity += (c?.continuityErrors ?? 0) - (b?.continuityErrors ?? 0);
    });
    const mbps = (bytes * 8) / seconds / 1e6;
    return { n, mbps, cpuPerMbps: (cpu / seconds) / mbps, held: live === n && dropped === 0 && continuity === 0, detail: `${live}/${n} live, ${dropped} dropped, ${continuity} continuity errors` };
  } finally {
    publishers.forEach((p) => p.kill('SIGKILL'));
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function libsrtStep(feed: string, n: number): Promise<Step> {
  const listeners: ChildProcess[] = [];
  const publishers: ChildProcess[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      listeners.push(spawn('/usr/bin/srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?mode=listener&latency=200`, 'file://con'], { stdio: ['ignore', 'ignore', 'ignore'] }));
      await sleep(50);
      publishers.push(publish(feed, `srt://127.0.0.1:${port}?mode=caller`));
    }
    await sleep(4000);
    const before = listeners.map((l) => cpuSeconds(l.pid!));
    await sleep(seconds * 1000);
    const cpu = listeners.reduce((sum, l, i) => sum + cpuSeconds(l.pid!) - before[i]!, 0);
    const alive = listeners.filter((l) => l.exitCode === null).length;
    const mbps = n * 2; // the same feed: about 2 Mbps each
    return { n, mbps, cpuPerMbps: (cpu / seconds) / mbps, held: alive === n, detail: `${alive}/${n} listeners running` };
  } finally {
    publishers.forEach((p) => p.kill('SIGKILL'));
    listeners.forEach((l) => l.kill('SIGKILL'));
  }
}

async function main(): Promise<void> {
  if (!existsSync(srtFfmpeg) || !existsSync('/usr/bin/srt-live-transmit')) {
    console.log('bench:srt needs libsrt peers: apt-get update && apt-get install -y ffmpeg srt-tools');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-srt-feed-'));
  const feed = makeFeed(dir);
  console.log(`SRT receive benchmark: ~2 Mbps MPEG-TS feeds (1280x720), ${seconds} s per step, 2 cores; CPU in cores (1.0 = one core busy)`);
  let heldByWeir = 0;
  for (const n of steps) {
    const weir = await weirStep(feed, n);
    const libsrt = await libsrtStep(feed, n);
    if (weir.held) heldByWeir = n;
    console.log(
      `${String(n).padStart(3)} publishers: Weir ${weir.mbps.toFixed(1)} Mbps, ${(weir.cpuPerMbps * 1000).toFixed(2)} millicores/Mbps (${weir.detail}) | srt-live-transmit ${(libsrt.cpuPerMbps * 1000).toFixed(2)} millicores/Mbps (${libsrt.detail}) | ratio ${(weir.cpuPerMbps / libsrt.cpuPerMbps).toFixed(2)}`,
    );
  }
  console.log(`publishers held without loss by Weir: ${heldByWeir} (largest step tried: ${Math.max(...steps)})`);
  rmSync(dir, { recursive: true, force: true });
}

await main();
