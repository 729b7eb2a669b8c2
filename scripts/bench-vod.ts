/**
 * npm run bench:vod — time from upload end to `ready` for a 60 s 1080p source, side by side with
 * one plain ffmpeg command encoding the same ladder. Prints both, the ratio and Weir's stages.
 *
 *   --seconds N   source length (default 60)    --runs N   repetitions (default 1)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultConfig } from '../src/config.js';
import type { TitleProgressView } from '../src/catalog/titles.js';
import { createLogger } from '../src/logger.js';
import { buildEncodeArgs } from '../src/pipeline/encode/encode.js';
import { locateMediaTools, runFfmpeg } from '../src/pipeline/encode/ffmpeg.js';
import { chooseLadder } from '../src/pipeline/encode/ladder.js';
import { probeSource } from '../src/pipeline/encode/probe.js';
import { startServer } from '../src/server.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, runs: { type: 'string', default: '1' } } });
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const tools = locateMediaTools();
const silent = createLogger('silent');

function makeSource(): string {
  const dir = join(tmpdir(), 'weir-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `src-1080p-${seconds}s.mp4`);
  if (!existsSync(path)) {
    console.log(`making a ${seconds} s 1080p30 source with audio...`);
    execFileSync(tools.ffmpeg, [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '18', '-pix_fmt', 'yuv420p', '-c:a', 'aac', `${path}.tmp.mp4`,
    ]);
    execFileSync('mv', [`${path}.tmp.mp4`, path]);
  }
  return path;
}

async function plainFfmpeg(source: string, segmentSeconds: number, preset: string): Promise<number> {
  const facts = await probeSource({ ffprobe: tools.ffprobe, path: source, log: silent });
  const outDir = mkdtempSync(join(tmpdir(), 'weir-bench-plain-'));
  const started = performance.now();
  await runFfmpeg({ binary: tools.ffmpeg, args: buildEncodeArgs({ source, outDir, ladder: chooseLadder(facts), settings: { preset, segmentSeconds, threads: 0 } }), log: silent });
  const elapsed = performance.now() - started;
  rmSync(outDir, { recursive: true, force: true });
  return elapsed;
}

async function weir(source: string): Promise<{ total: number; stages: Record<string, number> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-bench-data-'));
  const config = defaultConfig({ http: { host: '127.0.0.1', port: 0 }, rtmp: { port: 0 }, srt: { port: 0, latencyMs: 120 }, dataDir, log: { level: 'silent' } });
  const server = await startServer({ config, log: silent, env: { ...process.env, WEIR_ADMIN_TOKEN: 'bench' } });
  try {
    const headers = { authorization: 'Bearer bench' };
    const created = await fetch(`${server.url}/v1/titles`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'bench' }) });
    const { id } = (await created.json()) as { id: string };
    const stageStarts: [string, number][] = [];
    const ready = new Promise<void>((resolve, reject) => {
      server.titleEvents.on('change', (changed: string, view: TitleProgressView | null) => {
        if (changed !== id || !view) return;
        if (stageStarts[stageStarts.length - 1]?.[0] !== view.state) stageStarts.push([view.state, performance.now()]);
        if (view.state === 'ready') resolve();
        if (view.state === 'failed') reject(new Error(JSON.stringify(view.error)));
      });
    });
    const put = await fetch(`${server.url}/v1/titles/${id}/source`, { method: 'PUT', headers, body: readFileSync(source) });
    if (put.status !== 202) throw new Error(`upload answered ${put.status}`);
    const uploadEnd = performance.now();
    await ready;
    const total = performance.now() - uploadEnd;
    const stages: Record<string, number> = {};
    stageStarts.forEach(([state, at], i) => {
      const next = stageStarts[i + 1]?.[1];
      if (next !== undefined) stages[state] = next - Math.max(at, uploadEnd);
    });
    return { total, stages };
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const config = defaultConfig();
const source = makeSource();
console.log(`source: ${source}; ladder preset ${config.encode.preset}, ${config.packaging.segmentSeconds} s segments; ${runs} run(s)`);
for (let run = 1; run <= runs; run++) {
  const plain = await plainFfmpeg(source, config.packaging.segmentSeconds, config.encode.preset);
  const ours = await weir(source);
  const stageText = Object.entries(ours.stages).map(([s, ms]) => `${s} ${(ms / 1000).toFixed(2)} s`).join(', ');
  console.log(`run ${run}: plain ffmpeg ladder ${(plain / 1000).toFixed(2)} s | weir upload-end→ready ${(ours.total / 1000).toFixed(2)} s | ratio ${(ours.total / plain).toFixed(3)}`);
  console.log(`        weir stages: ${stageText}`);
}
