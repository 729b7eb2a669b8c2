import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSource } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const main = join(process.cwd(), 'dist', 'src', 'main.js');
let server: TestServer;

t.before(async () => {
  server = await startTestServer();
});
t.teardown(() => server?.stop());

/** The CLI as an operator runs it, against the running server. */
function weir(args: string[], env: Record<string, string> = { WEIR_ADMIN_TOKEN: server.adminToken }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args, '--server', server.url], { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('weir upload sends a file, follows the encode and exits 0 once the title is ready', async (t) => {
  const result = await weir(['upload', makeSource({ width: 320, height: 180, seconds: 2 }), '--title', 'From the CLI', '--json']);
  t.equal(result.code, 0, result.stderr);
  const title = JSON.parse(result.stdout) as { id: string; title: string; state: string };
  t.match(title, { title: 'From the CLI', state: 'ready' });
  t.match(result.stderr, new RegExp(`uploaded \\d+ bytes as title ${title.id}`));
  const listed = await weir(['titles', '--json']);
  t.equal(listed.code, 0);
  t.ok((JSON.parse(listed.stdout) as { id: string }[]).some((item) => item.id === title.id), 'weir titles lists it');
  const plain = await weir(['titles']);
  t.match(plain.stdout, new RegExp(`${title.id}\\s+ready\\s+From the CLI`));
});

t.test('an upload that fails exits non-zero with the coded error', async (t) => {
  const garbage = join(server.dataDir, 'not-a-video.mp4');
  writeFileSync(garbage, Buffer.alloc(200_000, 7));
  const result = await weir(['upload', garbage]);
  t.equal(result.code, 1);
  t.match(result.stderr, /^weir: SOURCE_UNREADABLE: /m);
});

t.test('weir streams create prints where to publish; misuse exits 2 and says why', async (t) => {
  const created = await weir(['streams', 'create', '--name', 'CLI live', '--json']);
  t.equal(created.code, 0, created.stderr);
  t.match(JSON.parse(created.stdout), { name: 'CLI live', ingest: { rtmp: /^rtmp:\/\// } });
  const noToken = await weir(['titles'], {});
  t.equal(noToken.code, 2);
  t.match(noToken.stderr, /No admin token: set WEIR_ADMIN_TOKEN/);
  const wrongToken = await weir(['titles'], { WEIR_ADMIN_TOKEN: 'not the token' });
  t.equal(wrongToken.code, 1);
  t.match(wrongToken.stderr, /^weir: ADMIN_AUTH_REQUIRED: /m);
  t.equal((await weir(['upload', '/no/such/file.mp4'])).code, 2);
  t.equal((await weir(['streams', 'create'])).code, 2, 'a required option missing');
});
