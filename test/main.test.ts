import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnWeir } from './helpers/process.js';

const mainScript = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
const env = { ...process.env, WEIR_ADMIN_TOKEN: '' };

t.test('an invalid setting stops the start with exit code 2 and names the key', async (t) => {
  const result = spawnSync(process.execPath, [mainScript, '--http-port=-5'], { env, encoding: 'utf8' });
  t.equal(result.status, 2);
  t.match(result.stderr, /Invalid configuration: http\.port \(from --http-port\): Too small: expected number to be >=0, received -5/);
});

t.test('a port already in use is a clear startup error, not a crash', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-main-'));
  t.teardown(() => {
    blocker.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const result = spawnSync(process.execPath, [mainScript, '--http-port', String(port), '--rtmp-port', '0', '--srt-port', '0', '--http-host', '127.0.0.1', '--data-dir', dataDir], { env, encoding: 'utf8' });
  t.equal(result.status, 1);
  t.match(result.stdout, new RegExp(`HTTP port ${port} on 127.0.0.1 is already in use`));
  const rtmp = spawnSync(process.execPath, [mainScript, '--http-port', '0', '--rtmp-port', String(port), '--srt-port', '0', '--http-host', '127.0.0.1', '--data-dir', dataDir], { env, encoding: 'utf8' });
  t.equal(rtmp.status, 1, 'the RTMP listener too: node-media-server does not exit the process itself');
  t.match(rtmp.stdout, new RegExp(`RTMP port ${port} on 127.0.0.1 is already in use`));
});

t.test('the first start generates an admin token (mode 0600) and prints it once; it then guards admin routes', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-main-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await spawnWeir(['--data-dir', dataDir], { WEIR_ADMIN_TOKEN: '' });
  const tokenFile = join(dataDir, 'admin-token');
  const token = readFileSync(tokenFile, 'utf8').trim();
  t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'only the owner can read it');
  await first.waitForStderr(/It will not be shown again/);
  t.match(first.stderr(), new RegExp(`generated an admin token[\\s\\S]*${token}`), 'the first start prints the token once, on stderr');
  t.equal((await fetch(`${first.url}/v1/titles`)).status, 401);
  t.equal((await fetch(`${first.url}/v1/titles`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  first.child.kill('SIGTERM');
  t.equal((await first.exited).code, 0);
  t.notOk(first.lines.some((l) => JSON.stringify(l).includes(token)), 'the token is not in the structured log');

  const second = await spawnWeir(['--data-dir', dataDir], { WEIR_ADMIN_TOKEN: '' });
  second.child.kill('SIGTERM');
  await second.exited;
  t.notMatch(second.stderr(), /generated an admin token/, 'a later start does not print it again');
});

t.test('SIGTERM stops the server even after the reader of its log pipe has gone away', { timeout: 30_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-main-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // As with `weir | head -3`: the reader takes a few lines and exits, closing the pipe.
  const child = spawn(process.execPath, [mainScript, '--data-dir', dataDir, '--http-port', '0', '--rtmp-port', '0', '--srt-port', '0', '--http-host', '127.0.0.1', '--log-level', 'debug'], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let seen = '';
  await new Promise<void>((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('weir is listening')) resolve();
    });
  });
  child.stdout!.destroy();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'it exits, cleanly, whatever became of its log');
});

t.test('a second server on the same data dir is refused before it touches anything, naming the holder', { timeout: 60_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-main-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await spawnWeir(['--data-dir', dataDir], { WEIR_ADMIN_TOKEN: 'a-token-for-the-lock-test' });
  t.teardown(() => first.child.kill('SIGKILL'));
  const second = spawnSync(process.execPath, [mainScript, '--data-dir', dataDir, '--http-port', '0', '--rtmp-port', '0', '--srt-port', '0', '--http-host', '127.0.0.1'], { env: { ...env, WEIR_ADMIN_TOKEN: 'x-token' }, encoding: 'utf8' });
  t.equal(second.status, 1);
  t.match(second.stdout, new RegExp(`in use by another Weir \\(process ${first.child.pid} on `), 'the message names the holding process');
  t.notMatch(second.stdout, /restored|listening/, 'it restored nothing and listened nowhere');
  t.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first one carries on');

  // The lock rests on the kernel: a server that died without cleaning up does not block the next.
  first.child.kill('SIGKILL');
  await first.exited;
  const third = await spawnWeir(['--data-dir', dataDir], { WEIR_ADMIN_TOKEN: 'a-token-for-the-lock-test' });
  t.equal((await fetch(`${third.url}/healthz`)).status, 200, 'after the holder died, the next start takes the data dir');
  third.child.kill('SIGTERM');
  t.equal((await third.exited).code, 0);
});
