import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type Config } from '../../src/config.js';
import type { TitleProgressView } from '../../src/catalog/titles.js';
import type { StreamView } from '../../src/catalog/streams.js';
import { createLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { responseChecker } from './openapi.js';

export type TestServer = RunningServer & {
  dataDir: string;
  logFile: string;
  config: Config;
  /** fetch against the server, with the admin token unless `admin: false`. */
  api(path: string, init?: RequestInit & { admin?: boolean; json?: unknown }): Promise<Response>;
  /** Resolves when the title's persisted view satisfies the predicate (woken by transitions, not polling). */
  waitForTitle(id: string, predicate: (view: TitleProgressView) => boolean, timeoutMs?: number): Promise<TitleProgressView>;
  /** Resolves when the stream's persisted view satisfies the predicate. */
  waitForStream(id: string, predicate: (view: StreamView) => boolean, timeoutMs?: number): Promise<StreamView>;
  /** Creates a live stream and returns its resource. */
  createStream(body?: Record<string, unknown>): Promise<{ id: string; streamKey: string; ingest: { rtmp: string; srt: string } }>;
  /** Creates a title, uploads a file, and waits for ready (or failed). */
  ingest(path: string, title?: string, extra?: Record<string, unknown>): Promise<{ id: string; view: TitleProgressView }>;
  /** Stops this server (keeping its data dir) and starts a new one on the same data dir and settings. */
  restart(): Promise<TestServer>;
};

/** A real Weir on port 0 with its own data dir; logs go to a file in that dir. */
export async function startTestServer(overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}, reuseDataDir?: string): Promise<TestServer> {
  const dataDir = reuseDataDir ?? mkdtempSync(join(tmpdir(), 'weir-test-'));
  const config = defaultConfig({
    http: { host: '127.0.0.1', port: 0 },
    rtmp: { port: 0 },
    srt: { port: 0, latencyMs: 120 },
    dataDir,
    encode: { preset: 'ultrafast', retryBaseMs: 50 },
    log: { level: 'debug' },
    // Suites start many sessions from one address; the limit itself has its own test.
    playback: { sessionsPerMinutePerAddress: 100_000 },
    ...overrides,
  });
  const logFile = join(dataDir, reuseDataDir ? `server-${Date.now()}.log` : 'server.log');
  const log = createLogger(config.log.level, createWriteStream(logFile));
  const server = await startServer({ config, log, env: { ...process.env, WEIR_ADMIN_TOKEN: '', ...env } });
  const current = new Map<string, TitleProgressView>();
  server.titleEvents.on('change', (id: string, view: TitleProgressView | null) => {
    if (view) current.set(id, view);
  });

  // Every answer the helpers get is checked against the published OpenAPI document.
  const check = responseChecker((await (await fetch(`${server.url}/openapi.json`)).json()) as Parameters<typeof responseChecker>[0]);
  const api: TestServer['api'] = async (path, init = {}) => {
    const headers = new Headers(init.headers);
    if (init.admin !== false) headers.set('authorization', `Bearer ${server.adminToken}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const response = await fetch(`${server.url}${path}`, { ...init, headers, body });
    if (!path.startsWith('/media/') && !path.startsWith('/images/')) {
      check(init.method ?? 'GET', path, response.status, response.headers.get('content-type'), await response.clone().text());
    }
    return response;
  };

  /** Resolves with the first view (the last seen, or a later change) that satisfies the predicate. */
  const waitForView = <View>(kind: string, events: NodeJS.EventEmitter, seen: Map<string, View>, id: string, predicate: (view: View) => boolean, timeoutMs: number) =>
    new Promise<View>((resolve, reject) => {
      const last = seen.get(id);
      if (last && predicate(last)) return resolve(last);
      const timer = setTimeout(() => {
        events.off('change', onChange);
        reject(new Error(`${kind} ${id} did not reach the expected condition in ${timeoutMs} ms; last view ${JSON.stringify(seen.get(id))}`));
      }, timeoutMs);
      const onChange = (changed: string, view: View | null) => {
        if (changed !== id || !view || !predicate(view)) return;
        clearTimeout(timer);
        events.off('change', onChange);
        resolve(view);
      };
      events.on('change', onChange);
    });
  const waitForTitle: TestServer['waitForTitle'] = (id, predicate, timeoutMs = 120_000) => waitForView('title', server.titleEvents, current, id, predicate, timeoutMs);

  const streamViews = new Map<string, StreamView>();
  server.streamEvents.on('change', (id: string, view: StreamView) => streamViews.set(id, view));
  const waitForStream: TestServer['waitForStream'] = (id, predicate, timeoutMs = 60_000) => waitForView('stream', server.streamEvents, streamViews, id, predicate, timeoutMs);

  const createStream: TestServer['createStream'] = async (body = {}) => {
    const response = await api('/v1/live-streams', { method: 'POST', json: { name: 'test stream', ...body } });
    if (response.status !== 201) throw new Error(`create stream answered ${response.status}: ${await response.text()}`);
    const stream = (await response.json()) as { id: string; streamKey: string; ingest: { rtmp: string; srt: string } };
    // Publishers dial IPv4 like the listeners bind, whatever name the request used.
    stream.ingest.rtmp = stream.ingest.rtmp.replace('localhost', '127.0.0.1');
    stream.ingest.srt = stream.ingest.srt.replace('localhost', '127.0.0.1');
    return stream;
  };

  const ingest: TestServer['ingest'] = async (path, title = 'Test title', extra = {}) => {
    const created = await api('/v1/titles', { method: 'POST', json: { title, ...extra } });
    if (created.status !== 201) throw new Error(`create title answered ${created.status}: ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    const { readFile } = await import('node:fs/promises');
    const put = await api(`/v1/titles/${id}/source`, { method: 'PUT', body: await readFile(path) });
    if (put.status !== 202) throw new Error(`upload answered ${put.status}: ${await put.text()}`);
    const view = await waitForTitle(id, (v) => v.state === 'ready' || v.state === 'failed');
    return { id, view };
  };

  return {
    ...server,
    dataDir,
    logFile,
    config,
    api,
    waitForTitle,
    waitForStream,
    createStream,
    ingest,
    async restart() {
      await server.stop();
      return startTestServer(overrides, env, dataDir);
    },
    async stop() {
      await server.stop();
      if (!process.env.WEIR_KEEP_TEST_DATA) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
