import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { EncodeJobStore, type EncodeJob } from './catalog/encode-jobs.js';
import { databaseSecrets, openDatabase } from './catalog/database.js';
import type { Config } from './config.js';
import { logSecrets, type Logger } from './logger.js';
import { encodeFailure, encodeTitle, type EncodeJobInput } from './pipeline/encode/encode-title.js';
import { killOrphan, locateMediaTools } from './pipeline/encode/ffmpeg.js';
import { readdir, rm } from 'node:fs/promises';
import { titlePaths } from './layout.js';
import { join } from 'node:path';

export type RunningWorker = { id: string; stop(): Promise<void> };

/**
 * `weir worker`: encodes title jobs the server queued (encode.workers = external), one at a time.
 * It claims the oldest job with a lease and renews it while ffmpeg runs; if it dies, the lease
 * lapses and another worker takes the job over from the start. The title's actor, in the server,
 * stays the owner of the title: the worker only turns a source into encoded renditions.
 */
export function startWorker(options: { config: Config; log: Logger; env?: NodeJS.ProcessEnv }): RunningWorker {
  const { config } = options;
  const id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const log = options.log.child({ worker: id });
  const secrets = logSecrets(options.log);
  for (const value of databaseSecrets(config.database.url)) secrets.add(value);
  const db = openDatabase(config.dataDir, { url: config.database.url, applicationName: 'weir worker' });
  const jobs = new EncodeJobStore(db);
  const tools = locateMediaTools(options.env);
  const leaseMs = config.encode.leaseSeconds * 1000;
  let stopping = false;
  let current: AbortController | null = null;
  let wake: (() => void) | null = null;

  const run = async (job: EncodeJob) => {
    const input = JSON.parse(job.input) as EncodeJobInput;
    const paths = titlePaths(config.dataDir, job.titleId);
    const jobLog = log.child({ titleId: job.titleId, attempt: job.attempts });
    const controller = new AbortController();
    current = controller;
    let progress = 0;
    // The lease is renewed a few times per lease; losing it (taken over, title deleted) stops ffmpeg.
    const renew = setInterval(() => {
      if (!jobs.renew(job.titleId, id, leaseMs, progress, Date.now())) {
        jobLog.warn('the job is no longer this worker\'s: stopping its encode');
        controller.abort(new Error('lease lost'));
      }
    }, Math.max(200, leaseMs / 3));
    let released = false;
    try {
      // An earlier owner of this job on this machine may have left ffmpeg running: stop it.
      for (const entry of await readdir(paths.work).catch(() => [] as string[])) {
        if (/^ffmpeg\..+\.pid$/.test(entry)) await killOrphan(join(paths.work, entry), jobLog);
        if (/^encoding\..+\.tmp$/.test(entry)) await rm(join(paths.work, entry), { recursive: true, force: true });
      }
      // Each worker's output goes to a dir of its own, so two never write the same files.
      await encodeTitle({
        tools,
        settings: { preset: config.encode.preset, segmentSeconds: config.packaging.segmentSeconds, threads: config.encode.threads },
        input,
        paths: { work: paths.work, tmp: join(paths.work, `encoding.${id}.tmp`), encoded: paths.encoded, pidFile: join(paths.work, `ffmpeg.${id}.pid`) },
        log: jobLog,
        signal: controller.signal,
        onProgress: (fraction) => (progress = fraction),
        // The job is marked done only while it is still this worker's; then the output is moved in.
        commit: () => jobs.finish(job.titleId, id, { state: 'done' }, Date.now()),
      });
      jobLog.info('encode job done');
    } catch (error) {
      if (controller.signal.aborted) {
        // Stopping: the job goes back to the queue for the next worker, without waiting for the lease.
        if (stopping) {
          jobs.release(job.titleId, id, Date.now());
          released = true;
        }
        return;
      }
      const failure = encodeFailure(error);
      jobLog.warn({ err: failure.error.message }, 'encode job failed');
      jobs.finish(job.titleId, id, { state: 'failed', error: JSON.stringify(failure) }, Date.now());
    } finally {
      clearInterval(renew);
      current = null;
      if (released) jobLog.info('encode job given back to the queue');
    }
  };

  const loop = (async () => {
    log.info({ dataDir: config.dataDir }, 'encode worker started');
    while (!stopping) {
      const job = jobs.claim(id, leaseMs, Date.now());
      if (job) {
        log.info({ titleId: job.titleId, attempt: job.attempts }, 'claimed an encode job');
        await run(job);
        continue;
      }
      // Nothing to do: look again shortly (SQLite tells other processes nothing).
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, config.encode.workerPollMs); // kept referenced: it is what keeps an idle worker alive
      });
      wake = null;
    }
  })();

  return {
    id,
    async stop() {
      stopping = true;
      (current as AbortController | null)?.abort(new Error('worker stopping'));
      (wake as (() => void) | null)?.();
      await loop;
      db.close();
      log.info('encode worker stopped');
    },
  };
}
