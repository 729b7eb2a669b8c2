import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import NodeMediaServer from 'node-media-server';

/** A free TCP port on loopback (bound and released: fine for a benchmark on one machine). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * node-media-server as a self-hoster runs it for low latency: RTMP in, HTTP-FLV out. It is the
 * reference Weir's live latency is measured beside (one instance per process: its context is
 * module-level, so the benchmark runs Weir as a child process).
 */
export async function startReferenceFlv(storeDir: string): Promise<{ rtmpUrl(name: string): string; flvUrl(name: string): string; stop(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  const logger = require('node-media-server/src/core/logger.js') as { log: (message: string, level?: string) => void };
  logger.log = () => undefined;
  const [rtmpPort, httpPort] = [await freePort(), await freePort()];
  const nms = new NodeMediaServer({ bind: '127.0.0.1', rtmp: { port: rtmpPort, chunk_size: 60000, gop_cache: true }, http: { port: httpPort }, store: { path: join(storeDir, 'nms-store') } });
  nms.store.options.signals = false;
  await (nms as unknown as { run(): Promise<void> }).run();
  return {
    rtmpUrl: (name) => `rtmp://127.0.0.1:${rtmpPort}/live/${name}`,
    flvUrl: (name) => `http://127.0.0.1:${httpPort}/live/${name}.flv`,
    stop: () => nms.stop(),
  };
}
