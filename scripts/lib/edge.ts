import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nginxPath = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));
export const nginxMissing = nginxPath ? false : 'nginx is not installed: apt-get update && apt-get install -y nginx-light';
/** The shipped configuration: two levels up from this file's source, three from its build in dist/. */
function shippedConfig(): string {
  const candidates = ['../../deploy/nginx/weir-edge.conf', '../../../deploy/nginx/weir-edge.conf'].map((path) => fileURLToPath(new URL(path, import.meta.url)));
  return candidates.find((path) => existsSync(path)) ?? candidates[0]!;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type Edge = { url: string; dir: string; /** nginx's access log, in the shipped format. */ accessLog: string; process: ChildProcess; stop(): Promise<void> };

/** Debian's nginx running the shipped edge configuration (deploy/nginx/weir-edge.conf) in front of the given origins. */
export async function startEdge(origins: string[]): Promise<Edge> {
  if (!nginxPath) throw new Error(String(nginxMissing));
  const dir = mkdtempSync(join(tmpdir(), 'weir-edge-'));
  const port = await freePort();
  for (const sub of ['cache', 'temp']) mkdirSync(join(dir, sub));
  const edge = readFileSync(shippedConfig(), 'utf8').replaceAll('${WEIR_EDGE_LISTEN}', `127.0.0.1:${port}`).replaceAll('${WEIR_EDGE_CACHE}', join(dir, 'cache')).replaceAll('${WEIR_EDGE_ACCESS_LOG}', join(dir, 'access.log'));
  writeFileSync(join(dir, 'weir-edge.conf'), edge);
  const temp = (name: string) => `${name}_temp_path ${join(dir, 'temp', name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 8192; }
http {
  access_log off;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  upstream weir_origin { ${origins.map((origin) => `server ${origin.replace(/^https?:\/\//, '')};`).join(' ')} keepalive 64; }
  include ${join(dir, 'weir-edge.conf')};
}
`,
  );
  const child = spawn(nginxPath, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready once it answers (a health check through it to the origin).
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer within 10 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    dir,
    accessLog: join(dir, 'access.log'),
    process: child,
    async stop() {
      child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
