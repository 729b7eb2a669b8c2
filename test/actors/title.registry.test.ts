import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSource } from '../helpers/media.js';
import { spawnWeir, type LogLine, type WeirProcess } from '../helpers/process.js';

const adminToken = 'restart-test-admin-token';
const env = { WEIR_ADMIN_TOKEN: adminToken, WEIR_LOG_LEVEL: 'debug' };

const stateLines = (proc: WeirProcess, titleId: string) =>
  proc.lines.filter((l: LogLine) => l.msg === 'title state' && l.titleId === titleId).map((l) => String(l.state));

async function api(proc: WeirProcess, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${proc.url}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, ...(init.headers ?? {}) } });
}

t.test('a server killed with SIGKILL mid-encode resumes the title on restart without redoing finished stages', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-restart-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // Long enough at this preset that the kill lands while ffmpeg is encoding.
  const source = makeSource({ width: 1280, height: 720, seconds: 20 });
  const args = ['--data-dir', dataDir, '--encode-preset', 'medium', '--segment-seconds', '2'];

  const first = await spawnWeir(args, env);
  const created = await api(first, '/v1/titles', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'resumable' }) });
  const { id } = (await created.json()) as { id: string };
  t.equal((await api(first, `/v1/titles/${id}/source`, { method: 'PUT', body: readFileSync(source) })).status, 202);
  await first.waitForLog((l) => l.msg === 'title state' && l.titleId === id && l.state === 'encoding');
  // Progress is persisted as it goes; wait until some has been made.
  await first.waitForLog((l) => l.msg === 'running' && String(l.binary).includes('ffmpeg') && !String(l.binary).includes('ffprobe'));
  const pidFile = join(dataDir, 'titles', id, 'work', 'ffmpeg.pid');
  t.ok(existsSync(pidFile), 'the running encode is recorded');
  const orphanPid = Number(readFileSync(pidFile, 'utf8'));
  first.child.kill('SIGKILL');
  await first.exited;
  t.ok(isRunning(orphanPid), 'SIGKILL left the ffmpeg child orphaned, as a real crash would');

  const second = await spawnWeir(args, env);
  // Stopped (and gone) before its data dir is removed: a server still stopping writes into it.
  t.teardown(async () => {
    second.child.kill('SIGTERM');
    await second.exited;
  });
  await second.waitForLog((l) => l.msg === 'stopped an ffmpeg left over from before a restart');
  t.notOk(isRunning(orphanPid), 'the orphaned encode was stopped before encoding again');
  await second.waitForLog((l) => l.msg === 'title state' && l.titleId === id && (l.state === 'ready' || l.state === 'failed'), 180_000);
  t.same(stateLines(second, id), ['encoding', 'keying', 'packaging', 'publishing', 'ready'], 'probing was not repeated; the title carried on from encoding');

  const title = (await (await api(second, `/v1/titles/${id}`)).json()) as { state: string; renditions: unknown[]; source: { durationMs: number } };
  t.equal(title.state, 'ready');
  t.equal(title.source.durationMs, 20_000);
  const list = (await (await api(second, '/v1/titles')).json()) as { total: number };
  t.equal(list.total, 1, 'nothing was duplicated');
  const media = join(dataDir, 'titles', id, 'media');
  t.same(readdirSync(join(media, 'v0')).filter((f) => f.endsWith('.m4s')).length, 10, 'one segment per 2 s, no leftovers');
  t.notOk(existsSync(join(dataDir, 'titles', id, 'work')), 'intermediate work is cleaned up');

  // A clean stop and start: the ready title is restored as it was, and nothing is encoded again.
  second.child.kill('SIGTERM');
  t.equal((await second.exited).code, 0, 'SIGTERM stops the server cleanly');
  const third = await spawnWeir(args, env);
  // Stopped (and gone) before its data dir is removed: a server still stopping writes into it.
  t.teardown(async () => {
    third.child.kill('SIGTERM');
    await third.exited;
  });
  const session = await fetch(`${third.url}/v1/playback-sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contentId: id }) });
  t.equal(session.status, 201, 'the ready title plays after the restart');
  const { sources } = (await session.json()) as { sources: { url: string }[] };
  t.equal((await fetch(sources[0]!.url.replace('localhost', '127.0.0.1'))).status, 200);
  t.same(stateLines(third, id), ['ready'], 'a ready title is restored as ready and not re-run');
  third.child.kill('SIGTERM');
  await third.exited;
});

/** Re-checks a condition until it holds (the API has no push channel for titles yet). */
async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

t.test('SIGTERM mid-encode reports progress first, then stops ffmpeg, exits 0, and the next start finishes the title', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-sigterm-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const source = makeSource({ width: 1280, height: 720, seconds: 20 });
  const args = ['--data-dir', dataDir, '--encode-preset', 'medium', '--segment-seconds', '2'];
  const first = await spawnWeir(args, env);
  const created = await api(first, '/v1/titles', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'graceful' }) });
  const { id } = (await created.json()) as { id: string };
  await api(first, `/v1/titles/${id}/source`, { method: 'PUT', body: readFileSync(source) });

  const seen: number[] = [];
  const midway = await until(
    async () => {
      const title = (await (await api(first, `/v1/titles/${id}`)).json()) as { state: string; progress: number };
      if (title.state === 'encoding') seen.push(title.progress);
      return title.state === 'encoding' && title.progress > 0.05 ? title : undefined;
    },
    60_000,
    'encoding progress',
  );
  t.ok(midway.progress > 0 && midway.progress < 1, `progress is a fraction while encoding (${midway.progress})`);
  t.same(seen, [...seen].sort((a, b) => a - b), 'progress only moves forward');
  const pid = Number(readFileSync(join(dataDir, 'titles', id, 'work', 'ffmpeg.pid'), 'utf8'));

  first.child.kill('SIGTERM');
  t.equal((await first.exited).code, 0, 'the server exits cleanly');
  t.notOk(isRunning(pid), 'its ffmpeg was stopped with it');

  const second = await spawnWeir(args, env);
  // Stopped (and gone) before its data dir is removed: a server still stopping writes into it.
  t.teardown(async () => {
    second.child.kill('SIGTERM');
    await second.exited;
  });
  await second.waitForLog((l) => l.msg === 'title state' && l.titleId === id && (l.state === 'ready' || l.state === 'failed'), 180_000);
  t.same(stateLines(second, id), ['encoding', 'keying', 'packaging', 'publishing', 'ready']);
  second.child.kill('SIGTERM');
  await second.exited;
});

function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
