import t from 'tap';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSource } from '../helpers/media.js';
import { spawnWeir, spawnWorker } from '../helpers/process.js';
import { waitUntil } from '../helpers/wait.js';

t.test('with external encode workers, a worker killed mid-encode loses its job to the other, and the title becomes ready once', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-workers-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const configFile = join(dataDir, 'config.json');
  // Slow enough to be killed part-way (one thread, a slower preset); a short lease so the takeover is quick.
  writeFileSync(configFile, JSON.stringify({ encode: { workers: 'external', leaseSeconds: 2, workerPollMs: 100, preset: 'medium', threads: 1 } }));
  const args = ['--data-dir', dataDir, '--config', configFile];
  const server = await spawnWeir(args, { WEIR_ADMIN_TOKEN: 'workers', WEIR_LOG_LEVEL: 'info' });
  // Stopped (and gone) before its data dir is removed: a server still stopping writes into it.
  t.teardown(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  const workers = [spawnWorker(args), spawnWorker(args)];
  t.teardown(() => workers.forEach((w) => w.child.kill('SIGKILL')));
  const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: { authorization: 'Bearer workers', ...(init.headers ?? {}) } });

  const { id } = (await (await api('/v1/titles', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Encoded elsewhere' }) })).json()) as { id: string };
  t.equal((await api(`/v1/titles/${id}/source`, { method: 'PUT', body: await readFile(makeSource({ width: 640, height: 360, seconds: 12 })) })).status, 202);

  // The job's owner, read from the shared catalog as it encodes.
  const db = new Database(join(dataDir, 'weir.db'), { readonly: true, fileMustExist: true });
  t.teardown(() => db.close());
  const job = () => db.prepare('SELECT worker, state, progress, attempts FROM encode_jobs WHERE title_id = ?').get(id) as { worker: string; state: string; progress: number; attempts: number } | undefined;
  await waitUntil(() => (job()?.state === 'running' && job()!.progress > 0) || false, 'a worker encoding with progress', 60_000);
  const owner = job()!.worker;
  const victim = workers.find((w) => w.lines.some((l) => l.msg === 'claimed an encode job' && String(l.worker) === owner))!;
  t.ok(victim, `worker ${owner} holds the job`);
  let titleView = { state: '', progress: 0 };
  await waitUntil(async () => {
    titleView = (await (await api(`/v1/titles/${id}`)).json()) as typeof titleView;
    return titleView.progress > 0;
  }, "the worker's progress on the title", 10_000);
  t.match(titleView, { state: 'encoding' }, "the title shows the worker's progress");
  victim.child.kill('SIGKILL');
  await victim.exited;

  await server.waitForLog((l) => l.msg === 'title state' && l.titleId === id && (l.state === 'ready' || l.state === 'failed'), 120_000).catch((error: unknown) => {
    t.comment(JSON.stringify(job()), JSON.stringify(workers.map((w) => w.lines.slice(-8))));
    throw error;
  });
  const done = job()!;
  t.match(done, { state: 'done', attempts: 2 }, 'the other worker took it over and finished it');
  t.not(done.worker, owner);
  const title = (await (await api(`/v1/titles/${id}`)).json()) as { state: string; renditions: { id: string }[] };
  t.equal(title.state, 'ready');
  t.equal(new Set(title.renditions.map((r) => r.id)).size, title.renditions.length, 'no rendition twice');
  t.equal(server.lines.filter((l) => l.msg === 'title state' && l.titleId === id && l.state === 'ready').length, 1, 'ready once');
  const work = existsSync(join(dataDir, 'titles', id, 'work')) ? readdirSync(join(dataDir, 'titles', id, 'work')) : [];
  t.notOk(work.some((entry) => /^encoding\..+\.tmp$/.test(entry)), "no worker's partial output left behind");
  const stray = spawnSync('pgrep', ['-af', 'ffmpeg'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes(dataDir) && line.includes('/work/encoding.')); // encodes only (the server cuts artwork meanwhile)
  t.same(stray, [], "the killed worker's ffmpeg was stopped by the worker that took over");
  const session = await api('/v1/playback-sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contentId: id }) });
  t.equal(session.status, 201, 'and it plays');
});
