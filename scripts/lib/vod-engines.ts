import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresDb, redactDatabaseUrl } from '../../src/catalog/postgres/database.js';
import { benchSource, readyBenchTitle, seedBenchViewers } from './bench-fixtures.js';
import { get, post, sideBySide } from './load.js';
import { startWeirProcess, type WeirProcess } from './weir-process.js';

type Engine = { name: string; url: string | null; dataDir: string; server?: WeirProcess; tokens: string[]; titleId?: string };

/**
 * VOD throughput with the catalog on SQLite and on PostgreSQL, side by side in one run: two Weir
 * processes, each with its own signed-in viewers and title, take turns under the same load. One
 * unit of work is a viewer starting playback as a player does: a session (a counted lease, written
 * before the answer), the multivariant playlist, a media playlist, the init segment and the first
 * segment. Prints starts per second, their p50 and p99, and server CPU per start.
 */
export async function compareCatalogEngines(options: { seconds: number; clients: number; viewers: number; databaseUrl: string; ffmpeg: string }): Promise<void> {
  const probe = (() => {
    try {
      const db = new PostgresDb({ url: options.databaseUrl, statementTimeoutMs: 5_000 });
      db.exec('SELECT 1');
      return db;
    } catch (error) {
      return (error as Error).message;
    }
  })();
  if (typeof probe === 'string') {
    console.log(`VOD throughput by catalog engine: skipped, no PostgreSQL at ${redactDatabaseUrl(options.databaseUrl)} (${probe}); --database-url names one`);
    return;
  }
  const schema = `weir_bench_${randomBytes(4).toString('hex')}`;
  probe.exec(`CREATE SCHEMA ${schema}`);
  const pgUrl = new URL(options.databaseUrl);
  pgUrl.searchParams.set('options', `-c search_path=${schema}`);
  const root = mkdtempSync(join(tmpdir(), 'weir-bench-engines-'));
  const secret = randomUUID();
  process.env.WEIR_VIEWER_TOKEN_SECRET = secret; // both servers sign and check viewer tokens with it
  const configFile = join(root, 'config.json');
  // Sessions are never stopped: short heartbeats let them lapse. One address starts them all.
  writeFileSync(configFile, JSON.stringify({ playback: { sessionsPerMinutePerAddress: 100_000, heartbeatSeconds: 5 }, log: { level: 'warn' } }));
  const engines: Engine[] = [
    { name: 'SQLite', url: null, dataDir: join(root, 'sqlite'), tokens: [] },
    { name: 'PostgreSQL', url: pgUrl.toString(), dataDir: join(root, 'postgres'), tokens: [] },
  ];
  try {
    const file = benchSource(options.ffmpeg, { width: 640, height: 360, seconds: 4 });
    for (const engine of engines) {
      engine.tokens = await seedBenchViewers({ dataDir: engine.dataDir, databaseUrl: engine.url, secret, count: options.viewers, packages: ['free'], maxStreams: 1000 });
      engine.server = await startWeirProcess(engine.dataDir, ['--config', configFile, ...(engine.url ? ['--database-url', engine.url] : [])], `bench-${engine.name.toLowerCase()}`);
      engine.titleId = await readyBenchTitle(engine.server, file);
    }
    const start = (engine: Engine) => async (client: number, n: number) => {
      const token = engine.tokens[(client * 7919 + n) % engine.tokens.length]!;
      const answer = await post(`${engine.server!.url}/v1/playback-sessions`, JSON.stringify({ contentId: engine.titleId }), { authorization: `Bearer ${token}` });
      if (answer.status !== 201) return answer.status;
      const master = (JSON.parse(answer.text) as { sources: { protocol: string; url: string }[] }).sources.find((s) => s.protocol === 'hls')!.url.replace('localhost', '127.0.0.1');
      const multivariant = await get(master);
      const variant = multivariant.text.split('\n').find((line) => line.endsWith('.m3u8'))!;
      const playlistUrl = new URL(variant, master).href;
      const playlist = await get(playlistUrl);
      const init = /URI="([^"]+)"/.exec(playlist.text)![1]!;
      const first = playlist.text.split('\n').find((line) => line.endsWith('.m4s'))!;
      const [initAnswer, segment] = await Promise.all([get(new URL(init, playlistUrl).href), get(new URL(first, playlistUrl).href)]);
      return Math.max(multivariant.status, playlist.status, initAnswer.status, segment.status);
    };
    const [sqlite, postgres] = engines;
    const [a, b] = await sideBySide(options.clients, options.seconds, { pid: sqlite!.server!.child.pid!, send: start(sqlite!) }, { pid: postgres!.server!.child.pid!, send: start(postgres!) });
    console.log(`VOD playback starts by catalog engine (${options.clients} clients, ${options.seconds} s each in alternating slices; session + multivariant + media playlist + init + first segment):`);
    console.log('engine     | starts/s   p50      p99     | server CPU per start | failures');
    for (const [engine, tally] of [
      [sqlite!, a],
      [postgres!, b],
    ] as const) {
      const load = tally.load();
      console.log(`${engine.name.padEnd(10)} | ${load.perSecond.toFixed(0).padStart(8)} ${load.p50.toFixed(1).padStart(6)} ms ${load.p99.toFixed(1).padStart(6)} ms | ${tally.cpuPerAnswer().toFixed(0).padStart(8)} µs          | ${load.failures}`);
    }
    console.log(`ratio PostgreSQL / SQLite: ${(b.load().perSecond / a.load().perSecond).toFixed(2)} (starts/s), ${(a.cpuPerAnswer() / b.cpuPerAnswer()).toFixed(2)} (CPU per start)`);
  } finally {
    for (const engine of engines) await engine.server?.stop();
    probe.exec(`DROP SCHEMA ${schema} CASCADE`);
    probe.close();
    rmSync(root, { recursive: true, force: true });
  }
}
