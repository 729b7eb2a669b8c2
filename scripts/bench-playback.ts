/**
 * npm run bench:playback — the playback service on the latency-critical path:
 *  1. session starts per second and p50/p99 latency at 1, 50 and 200 concurrent clients (signed-in
 *     viewers, a protected title, every check run), side by side in the same run with a bare
 *     Express hello-world answering the same POST on this machine (target ≥ 50 % of its rate);
 *  2. heartbeat throughput at 50 concurrent clients;
 *  3. the playback start chain in Chromium (session → manifest → init → first segment → license →
 *     first frame) with hls.js and ClearKey, each step's time from the tap on "play".
 *
 *   --seconds N   per load level (default 10)    --viewers N   signed-in viewers (default 5000)
 *   --levels 1,50,200   concurrent clients per level
 *   --no-heartbeats, --no-chain   skip those parts (to profile one part alone)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { locateMediaTools } from '../src/pipeline/encode/ffmpeg.js';
import { chromiumMissing, launchChromium, servePlayerPage } from './lib/player.js';
import { startWeirProcess, type WeirProcess } from './lib/weir-process.js';
import { benchSource, readyBenchTitle, seedBenchViewers } from './lib/bench-fixtures.js';
import { agent, driveAlone, formatLoad, post, sideBySide, startHelloWorld } from './lib/load.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, viewers: { type: 'string', default: '5000' }, levels: { type: 'string', default: '1,50,200' }, 'no-chain': { type: 'boolean', default: false }, 'no-heartbeats': { type: 'boolean', default: false } },
});
const levels = values.levels.split(',').map(Number);
const seconds = Number(values.seconds);
const viewerCount = Number(values.viewers);
const tools = locateMediaTools();
const password = 'a benchmark viewer password';

/** Heartbeats of sessions that are still running (heartbeats keep them so), each by its own viewer. */
async function heartbeatLoad(server: WeirProcess, tokens: string[], body: string): Promise<void> {
  const running = await Promise.all(
    tokens.slice(0, 1000).map(async (token) => ({ id: (JSON.parse((await post(`${server.url}/v1/playback-sessions`, body, { authorization: `Bearer ${token}` })).text) as { id: string }).id, token })),
  );
  const heartbeats = await driveAlone(50, seconds, async (client, n) => {
    const session = running[(client * 97 + n) % running.length]!;
    const answer = await post(`${server.url}/v1/playback-sessions/${session.id}/heartbeat`, JSON.stringify({ position: n, state: 'playing' }), { authorization: `Bearer ${session.token}` });
    return answer.status;
  });
  console.log(`heartbeats (50 clients): ${heartbeats.perSecond.toFixed(0)}/s, p50 ${heartbeats.p50.toFixed(1)} ms, p99 ${heartbeats.p99.toFixed(1)} ms`);
}

type Chain = Record<string, number>;

/** One viewer pressing play in Chromium: each step of the start chain, ms after the press. */
async function startChain(server: WeirProcess, titleId: string, token: string): Promise<Chain> {
  const [browser, page] = await Promise.all([launchChromium(), servePlayerPage()]);
  try {
    const tab = await browser.newPage();
    await tab.goto(page.url);
    return await tab.evaluate(
      async ([base, contentId, accessToken]) => {
        type Page = { play: (kind: string, url: string, config: unknown) => Promise<void>; document: { querySelector(selector: string): { requestVideoFrameCallback(callback: () => void): void } } };
        type Entry = { name: string; startTime: number; responseEnd: number };
        const g = globalThis as unknown as Page;
        const video = g.document.querySelector('video');
        const pressed = performance.now();
        const response = await fetch(`${base}/v1/playback-sessions`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ contentId }) });
        const session = (await response.json()) as { sources: { protocol: string; url: string; drm: { clearkey: { licenseUrl: string } } }[] };
        const sessionDone = performance.now();
        const hls = session.sources.find((s) => s.protocol === 'hls')!;
        const firstFrame = new Promise<number>((resolve) => video.requestVideoFrameCallback(() => resolve(performance.now())));
        await g.play('hls', hls.url, { emeEnabled: true, drmSystems: { 'org.w3.clearkey': { licenseUrl: hls.drm.clearkey.licenseUrl } } });
        const frame = await firstFrame;
        const entries = performance.getEntriesByType('resource') as unknown as Entry[];
        const first = (test: (url: string) => boolean) => entries.find((e) => e.startTime >= pressed && test(e.name));
        const end = (entry: Entry | undefined) => (entry ? Math.round(entry.responseEnd - pressed) : -1);
        return {
          session: Math.round(sessionDone - pressed),
          'multivariant playlist': end(first((u) => u.endsWith('/master.m3u8'))),
          'media playlist': end(first((u) => u.endsWith('/index.m3u8'))),
          'init segment': end(first((u) => u.endsWith('/init.mp4'))),
          'first segment': end(first((u) => /\/seg-\d+\.m4s$/.test(u))),
          license: end(first((u) => u.endsWith('/clearkey'))),
          'first frame': Math.round(frame - pressed),
        };
      },
      [server.url, titleId, token] as const,
    );
  } finally {
    await browser.close();
    await page.close();
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-bench-playback-'));
  const configFile = join(dataDir, 'bench-config.json');
  // Sessions are never stopped here: short heartbeats let them lapse, so no viewer reaches its limit.
  writeFileSync(configFile, JSON.stringify({ playback: { sessionsPerMinutePerAddress: 100_000, heartbeatSeconds: 5 }, log: { level: 'warn' } }));
  console.log(`preparing: ${viewerCount} signed-in viewers and a protected title...`);
  const viewerSecret = randomUUID();
  process.env.WEIR_VIEWER_TOKEN_SECRET = viewerSecret; // the server signs and checks viewer tokens with it
  // Written straight into the catalog: thousands of sign-ins (a memory-hard hash each) would take longer than the benchmark.
  // Many viewers with a few streams each, as a real audience: the limit check counts a handful of leases, not hundreds.
  const tokens = await seedBenchViewers({ dataDir: join(dataDir, 'data'), secret: viewerSecret, count: viewerCount, packages: ['bench'], maxStreams: 20 });
  const server = await startWeirProcess(join(dataDir, 'data'), ['--config', configFile], 'bench-playback');
  const hello = await startHelloWorld();
  try {
    // A protected title in a package only the benchmark plan includes.
    const titleId = await readyBenchTitle(server, benchSource(tools.ffmpeg, { width: 1280, height: 720, seconds: 4 }), { protection: 'cenc', packages: ['bench'] });
    const body = JSON.stringify({ contentId: titleId });

    // Each viewer's first start reads its account, plan, devices and history from the catalog
    // (later ones find them in memory): measured once here, then every level runs warm, as a
    // service that has been up a while does.
    const coldStarted = performance.now();
    let next = 0;
    let coldFailures = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < tokens.length) {
          const status = (await post(`${server.url}/v1/playback-sessions`, body, { authorization: `Bearer ${tokens[next++]!}` })).status;
          if (status !== 201) coldFailures++;
        }
      }),
    );
    const coldSeconds = (performance.now() - coldStarted) / 1000;
    console.log(`first start of each of ${tokens.length} viewers (cold caches, 50 clients): ${(tokens.length / coldSeconds).toFixed(0)}/s${coldFailures > 0 ? ` (failures: ${coldFailures})` : ''}`);
    console.log(`Weir playback benchmark: ${seconds} s per level and server (in 4 alternating slices), 2 cores, client and servers on one machine`);
    console.log('clients | Weir starts/s   p50     p99   | hello-world req/s   p50     p99   | ratio | server CPU per answer: Weir / hello-world');
    for (const clients of levels) {
      const [weirTally, helloTally] = await sideBySide(
        clients,
        seconds,
        {
          pid: server.child.pid!,
          // Each request from the next viewer in turn, as many devices would send them.
          send: async (client, n) => (await post(`${server.url}/v1/playback-sessions`, body, { authorization: `Bearer ${tokens[(client * 7919 + n) % tokens.length]!}` })).status,
        },
        { pid: hello.child.pid!, send: async () => (await post(hello.url, body)).status },
      );
      const [weir, reference] = [weirTally.load(), helloTally.load()];
      const failures = weir.failures + reference.failures > 0 ? ` (failures: Weir ${weir.failures}, hello-world ${reference.failures})` : '';
      // Server CPU per answer is steadier than the rate on a shared machine: their ratio is the check on the rate's.
      const cpu = `${weirTally.cpuPerAnswer().toFixed(0)} / ${helloTally.cpuPerAnswer().toFixed(0)} µs = ${(helloTally.cpuPerAnswer() / weirTally.cpuPerAnswer()).toFixed(2)}`;
      console.log(`${String(clients).padStart(7)} | ${formatLoad(weir)} | ${formatLoad(reference)}       | ${(weir.perSecond / reference.perSecond).toFixed(2)}  | ${cpu}${failures}`);
    }
    if (!values['no-heartbeats']) await heartbeatLoad(server, tokens, body);
    if (values['no-chain']) {
      // asked to skip
    } else if (chromiumMissing) {
      console.log(`(start chain skipped: ${chromiumMissing})`);
    } else {
      const chains: Chain[] = [];
      for (let i = 0; i < 3; i++) chains.push(await startChain(server, titleId, tokens[i]!));
      for (const step of Object.keys(chains[0]!)) {
        console.log(`start chain ${step.padEnd(22)}: ${chains.map((c) => `${c[step]} ms`.padStart(8)).join(' ')}   (ms after pressing play, 3 runs)`);
      }
    }
  } finally {
    hello.child.kill();
    await server.stop();
    await agent.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
