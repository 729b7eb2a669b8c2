/**
 * npm run bench:catalog — the discovery read path, the hottest API of a streaming service:
 *  1. with 10 000 and 100 000 titles: the first home screen after start (cold: the read model and
 *     the search index are built), the first of a second audience, then home rails and search
 *     requests per second and p50/p99 at 50 clients (warm), side by side with a bare Express
 *     hello-world answering GET in the same run;
 *  2. heartbeats carrying QoE events at 50 clients while 20 more clients load home screens.
 *
 *   --titles 10000,100000   --seconds N (per measurement, default 8)
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/catalog/database.js';
import { hs256Tokens } from '../src/hs256.js';
import { locateMediaTools } from '../src/pipeline/encode/ffmpeg.js';
import { hashPassword } from '../src/viewers/passwords.js';
import { ViewerStore } from '../src/viewers/store.js';
import { agent, driveAlone, formatLoad, get, post, sideBySide, startHelloWorld, type Load } from './lib/load.js';
import { residentBytes, startWeirProcess, type WeirProcess } from './lib/weir-process.js';
import { benchSource, readyBenchTitle } from './lib/bench-fixtures.js';

const { values } = parseArgs({ options: { titles: { type: 'string', default: '10000,100000' }, seconds: { type: 'string', default: '8' } } });
const sizes = values.titles.split(',').map(Number);
const seconds = Number(values.seconds);
const viewerCount = 200;

/** Deterministic words and names: the same catalog every run. */
function vocabulary() {
  const syllables = ['ka', 'lo', 'mi', 'ra', 'ten', 'vor', 'sel', 'an', 'du', 'bri', 'ol', 'mar', 'ex', 'fin', 'gal', 'hu', 'ir', 'jo', 'ne', 'pas', 'qu', 'ro', 'sta', 'ul'];
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const word = () => {
    const text = Array.from({ length: 2 + Math.floor(random() * 2) }, () => pick(syllables)).join('');
    return text[0]!.toUpperCase() + text.slice(1);
  };
  const words = Array.from({ length: 3000 }, word);
  const people = Array.from({ length: 5000 }, () => `${pick(words)} ${pick(words)}`);
  const genres = ['Drama', 'Comedy', 'Thriller', 'Documentary', 'Action', 'Romance', 'Horror', 'Animation', 'Crime', 'Fantasy', 'Mystery', 'Sci-Fi', 'Family', 'History', 'Music', 'Sport', 'War', 'Western', 'Biography', 'Adventure'];
  return { random, pick, words, people, genres };
}

/** Titles, their metadata and access rules, series, and signed-in viewers, written straight into a fresh catalog. */
async function seedCatalog(dataDir: string, count: number, secret: string): Promise<{ tokens: string[]; queries: string[]; someTitle: string }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(dataDir);
  const { random, pick, words, people, genres } = vocabulary();
  const now = Date.now();
  const insertTitle = db.prepare(`INSERT INTO titles (id, title, description, tags, protection, state, progress, facts, created_at, updated_at) VALUES (?, ?, '', '[]', 'none', 'ready', 1, ?, ?, ?)`);
  const insertAccess = db.prepare(`INSERT INTO content_access (content_id, packages, available_from, available_until, geo_mode, geo_countries, rating, updated_at) VALUES (?, ?, NULL, NULL, ?, ?, NULL, ?)`);
  const insertMetadata = db.prepare(`INSERT INTO content_metadata (content_id, synopsis, genres, credits, release_year, series_id, season, episode, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertSeries = db.prepare(`INSERT INTO series (id, name, synopsis, genres, credits, release_year, created_at, updated_at) VALUES (?, ?, '', ?, '[]', 2020, ?, ?)`);
  const store = new ViewerStore(db);
  store.putPlan({ id: 'bench', name: 'Bench', maxStreams: 10, maxDevices: 10, maxHeight: 1080, packages: ['bench'] }, now);
  store.putPlan({ id: 'bench-plus', name: 'Bench plus', maxStreams: 10, maxDevices: 10, maxHeight: 1080, packages: ['bench', 'plus'] }, now);
  const passwordHash = await hashPassword('a benchmark viewer password');
  const viewerIds: string[] = [];
  let someTitle = '';
  db.transaction(() => {
    const seriesIds = Array.from({ length: Math.ceil(count / 40) }, (_, i) => {
      const id = `series-${i}`;
      insertSeries.run(id, `${pick(words)} ${pick(words)}`, JSON.stringify([pick(genres)]), now, now);
      return id;
    });
    const episodes = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const id = randomUUID();
      someTitle ||= id;
      insertTitle.run(id, `${pick(words)} ${pick(words)} ${pick(words)}`, JSON.stringify({ durationMs: 600_000 + Math.floor(random() * 6_000_000) }), now - i * 1000, now);
      // A tenth is in the plus package, a twentieth only in a few countries.
      const geo = random() < 0.05 ? ['allow', JSON.stringify(['DE', 'FR'])] : [null, '[]'];
      insertAccess.run(id, JSON.stringify(random() < 0.1 ? ['plus'] : ['bench']), geo[0], geo[1], now);
      // A tenth are episodes of a series.
      const seriesId = random() < 0.1 ? pick(seriesIds) : null;
      const episode = seriesId ? (episodes.get(seriesId) ?? 0) + 1 : null;
      if (seriesId) episodes.set(seriesId, episode!);
      const credits = Array.from({ length: 3 }, () => ({ name: pick(people), role: 'actor' }));
      const synopsis = Array.from({ length: 12 }, () => pick(words).toLowerCase()).join(' ');
      insertMetadata.run(id, synopsis, JSON.stringify([pick(genres), pick(genres)].filter((g, j, all) => all.indexOf(g) === j)), JSON.stringify(credits), 1950 + Math.floor(random() * 75), seriesId, seriesId ? 1 : null, episode, now);
    }
    for (let i = 0; i < viewerCount; i++) {
      const id = randomUUID();
      store.createViewer({ id, email: `viewer${i}@bench.example`, passwordHash, displayName: '', maxRating: null, planId: i % 2 === 0 ? 'bench' : 'bench-plus', subscriptionStartsAt: now, subscriptionEndsAt: null, createdAt: now });
      store.registerDevice(id, { id: 'tv', family: 'androidtv', model: null, appVersion: null }, 10, now);
      viewerIds.push(id);
    }
  })();
  db.close();
  const signer = hs256Tokens(secret, { issuer: 'weir', audience: 'weir-viewer' });
  const issuedAt = Math.floor(now / 1000);
  const tokens = viewerIds.map((viewerId) => signer.sign({ did: 'tv', fam: 'androidtv', sub: viewerId, iat: issuedAt, exp: issuedAt + 7200 }));
  // What viewers type: the first letters of one or two words, names and people.
  const queries = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? pick(words).slice(0, 3) : i % 3 === 1 ? `${pick(words).slice(0, 4)} ${pick(words).slice(0, 2)}` : pick(people).split(' ')[0]!.slice(0, 5)));
  return { tokens, queries, someTitle };
}

async function playableTitle(server: WeirProcess, ffmpeg: string): Promise<string> {
  return readyBenchTitle(server, benchSource(ffmpeg, { width: 640, height: 360, seconds: 4 }), { packages: ['bench'] });
}

const timed = async (what: () => Promise<{ status: number }>) => {
  const started = performance.now();
  const { status } = await what();
  if (status !== 200) throw new Error(`answered ${status}`);
  return performance.now() - started;
};

async function main(): Promise<void> {
  const tools = locateMediaTools();
  const hello = await startHelloWorld();
  console.log(`Weir catalog benchmark: ${seconds} s per measurement (in 4 turns beside hello-world), 50 clients, 2 cores, client and servers on one machine`);
  try {
    for (const count of sizes) {
      const dir = mkdtempSync(join(tmpdir(), 'weir-bench-catalog-'));
      const secret = randomUUID();
      process.env.WEIR_VIEWER_TOKEN_SECRET = secret;
      const seedStarted = performance.now();
      const { tokens, queries, someTitle } = await seedCatalog(join(dir, 'data'), count, secret);
      const configFile = join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify({ log: { level: 'warn' }, playback: { sessionsPerMinutePerAddress: 100_000, geo: { countryHeader: 'CloudFront-Viewer-Country', trustedProxies: ['127.0.0.1'], ranges: [], unknownCountry: 'allow' } } }));
      const server = await startWeirProcess(join(dir, 'data'), ['--config', configFile], 'bench-catalog');
      try {
        console.log(`\n${count} titles (seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s)`);
        const as = (i: number, country = 'DE') => ({ authorization: `Bearer ${tokens[i % tokens.length]!}`, 'cloudfront-viewer-country': country });
        const coldHome = await timed(() => get(`${server.url}/v1/home`, as(0)));
        const coldSearch = await timed(() => get(`${server.url}/v1/catalog/search?q=${encodeURIComponent(queries[0]!)}`, as(0)));
        const secondAudience = await timed(() => get(`${server.url}/v1/home`, as(1, 'US')));
        const warmHome = await timed(() => get(`${server.url}/v1/home`, as(0)));
        console.log(`  cold: first home screen ${coldHome.toFixed(0)} ms (read model and search index built), first search ${coldSearch.toFixed(0)} ms, first home of a second audience ${secondAudience.toFixed(0)} ms; warm home ${warmHome.toFixed(1)} ms`);
        console.log(`  resident memory after: ${(residentBytes(server.child.pid!) / 2 ** 20).toFixed(0)} MiB`);
        console.log('  route      | Weir req/s     p50     p99   | hello-world req/s   p50     p99   | ratio | server CPU per answer: Weir / hello-world');
        const routes: [string, (client: number, n: number) => string, Record<string, string> | null][] = [
          ['home', () => '/v1/home', null],
          ['search', (client, n) => `/v1/catalog/search?q=${encodeURIComponent(queries[(client * 31 + n) % queries.length]!)}`, null],
          ['home 304', () => '/v1/home', { 'if-none-match': '' }],
        ];
        for (const [name, path, conditional] of routes) {
          let etag = '';
          if (conditional) etag = (await agentRequest(`${server.url}/v1/home`, as(0))).etag;
          const [weirTally, helloTally] = await sideBySide(
            50,
            seconds,
            {
              pid: server.child.pid!,
              send: async (client, n) => {
                const answer = await get(`${server.url}${path(client, n)}`, { ...as(client * 7 + n, client % 2 === 0 ? 'DE' : 'US'), ...(conditional ? { 'if-none-match': etag } : {}) });
                return answer.status === 304 ? 200 : answer.status;
              },
            },
            { pid: hello.child.pid!, send: async () => (await get(hello.url)).status },
          );
          const [weir, reference] = [weirTally.load(), helloTally.load()];
          const cpu = `${weirTally.cpuPerAnswer().toFixed(0)} / ${helloTally.cpuPerAnswer().toFixed(0)} µs = ${(helloTally.cpuPerAnswer() / weirTally.cpuPerAnswer()).toFixed(2)}`;
          console.log(`  ${name.padEnd(10)} | ${formatLoad(weir)} | ${formatLoad(reference)}       | ${(weir.perSecond / reference.perSecond).toFixed(2)}  | ${cpu}${weir.failures > 0 ? ` (failures: ${weir.failures})` : ''}`);
        }
        // A catalog change (one title's metadata), then the next home screens of two audiences.
        const changed = await timed(() => fetch(`${server.url}/v1/titles/${someTitle}/metadata`, { method: 'PUT', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ synopsis: 'changed', genres: ['Drama'] }) }));
        const afterChange = await timed(() => get(`${server.url}/v1/home`, as(0)));
        const otherAfterChange = await timed(() => get(`${server.url}/v1/home`, as(1, 'US')));
        console.log(`  after one title's metadata changed (PUT ${changed.toFixed(0)} ms): next home screen ${afterChange.toFixed(0)} ms, another audience's ${otherAfterChange.toFixed(0)} ms`);
        if (count === sizes[0]) await heartbeatsWhileBrowsing(server, tokens, tools.ffmpeg);
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    hello.child.kill();
    await agent.close();
  }
}

async function agentRequest(url: string, headers: Record<string, string>): Promise<{ etag: string }> {
  const response = await fetch(url, { headers });
  await response.text();
  return { etag: response.headers.get('etag') ?? '' };
}

/** Heartbeats with QoE events from 1000 running sessions (50 clients) while 20 clients load home screens. */
async function heartbeatsWhileBrowsing(server: WeirProcess, tokens: string[], ffmpeg: string): Promise<void> {
  const titleId = await playableTitle(server, ffmpeg);
  const sessions: { id: string; token: string }[] = [];
  for (let i = 0; i < 1000; i++) {
    const token = tokens[i % tokens.length]!;
    const answer = await post(`${server.url}/v1/playback-sessions`, JSON.stringify({ contentId: titleId }), { authorization: `Bearer ${token}` });
    if (answer.status !== 201) throw new Error(`session answered ${answer.status}: ${answer.text}`);
    sessions.push({ id: (JSON.parse(answer.text) as { id: string }).id, token });
  }
  const events = [{ type: 'bitrate', bitrate: 1_400_000 }, { type: 'rebuffer_start', t: 1000 }, { type: 'rebuffer_end', t: 1400 }];
  const [beats, browsing] = (await Promise.all([
    driveAlone(50, seconds, async (client, n) => {
      const session = sessions[(client * 97 + n) % sessions.length]!;
      return (await post(`${server.url}/v1/playback-sessions/${session.id}/heartbeat`, JSON.stringify({ position: n, state: 'playing', events }), { authorization: `Bearer ${session.token}` })).status;
    }),
    driveAlone(20, seconds, async (client, n) => (await get(`${server.url}/v1/home`, { authorization: `Bearer ${tokens[(client + n) % tokens.length]!}` })).status),
  ])) as [Load, Load];
  if (beats.failures > 0) {
    const session = sessions[0]!;
    const sample = await post(`${server.url}/v1/playback-sessions/${session.id}/heartbeat`, JSON.stringify({ position: 1, state: 'playing', events }), { authorization: `Bearer ${session.token}` });
    console.log(`  (a heartbeat answered ${sample.status}: ${sample.text.slice(0, 300)})`);
  }
  console.log(`\nheartbeats with QoE events (50 clients, 1000 sessions): ${beats.perSecond.toFixed(0)}/s, p50 ${beats.p50.toFixed(1)} ms, p99 ${beats.p99.toFixed(1)} ms${beats.failures ? ` (failures ${beats.failures})` : ''}`);
  console.log(`  while home screens (20 clients): ${browsing.perSecond.toFixed(0)}/s, p50 ${browsing.p50.toFixed(1)} ms, p99 ${browsing.p99.toFixed(1)} ms`);
}

await main();
