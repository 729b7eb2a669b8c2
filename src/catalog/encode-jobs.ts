import type { Db } from './database.js';

export const encodeJobStates = ['queued', 'running', 'done', 'failed'] as const;
export type EncodeJobState = (typeof encodeJobStates)[number];

export type EncodeJob = {
  titleId: string;
  /** What the encode needs (the title stage's input), as JSON. */
  input: string;
  state: EncodeJobState;
  worker: string | null;
  leaseUntil: number | null;
  progress: number;
  /** A coded error (JSON) when failed. */
  error: string | null;
  attempts: number;
};

type Row = { title_id: string; input: string; state: EncodeJobState; worker: string | null; lease_until: number | null; progress: number; error: string | null; attempts: number };
const jobOf = (row: Row): EncodeJob => ({ titleId: row.title_id, input: row.input, state: row.state, worker: row.worker, leaseUntil: row.lease_until, progress: row.progress, error: row.error, attempts: row.attempts });

/**
 * The encode queue in the catalog database, shared by the server and `weir worker` processes.
 * A worker owns a job while its lease runs; every write a worker makes names itself, so one
 * whose lease was taken over changes nothing.
 */
export class EncodeJobStore {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      enqueue: db.prepare(
        `INSERT INTO encode_jobs (title_id, input, state, progress, attempts, created_at, updated_at) VALUES (?, ?, 'queued', 0, 0, ?, ?)
         ON CONFLICT (title_id) DO UPDATE SET input = excluded.input, state = 'queued', worker = NULL, lease_until = NULL, progress = 0, error = NULL, updated_at = excluded.updated_at
         WHERE encode_jobs.state IN ('done', 'failed')`,
      ),
      get: db.prepare(`SELECT * FROM encode_jobs WHERE title_id = ?`),
      claim: db.prepare(
        `UPDATE encode_jobs SET state = 'running', worker = @worker, lease_until = @until, attempts = attempts + 1, progress = 0, updated_at = @now
         WHERE title_id = (SELECT title_id FROM encode_jobs WHERE state = 'queued' OR (state = 'running' AND lease_until < @now) ORDER BY created_at LIMIT 1)
         RETURNING *`,
      ),
      renew: db.prepare(`UPDATE encode_jobs SET lease_until = @until, progress = @progress, updated_at = @now WHERE title_id = @titleId AND worker = @worker AND state = 'running'`),
      finish: db.prepare(`UPDATE encode_jobs SET state = @state, error = @error, lease_until = NULL, progress = @progress, updated_at = @now WHERE title_id = @titleId AND worker = @worker AND state = 'running'`),
      release: db.prepare(`UPDATE encode_jobs SET state = 'queued', worker = NULL, lease_until = NULL, progress = 0, updated_at = @now WHERE title_id = @titleId AND worker = @worker AND state = 'running'`),
      remove: db.prepare(`DELETE FROM encode_jobs WHERE title_id = ?`),
      counts: db.prepare(`SELECT state, COUNT(*) AS count FROM encode_jobs GROUP BY state`),
    };
  }

  /** Queues a title's encode (again, after a finished or failed one); a job already queued or running is left alone. */
  enqueue(titleId: string, input: string, now: number): void {
    this.s.enqueue.run(titleId, input, now, now);
  }

  get(titleId: string): EncodeJob | null {
    const row = this.s.get.get(titleId) as Row | undefined;
    return row ? jobOf(row) : null;
  }

  /** The oldest queued job, or a running one whose lease lapsed (its worker died), now this worker's. */
  claim(worker: string, leaseMs: number, now: number): EncodeJob | null {
    const row = this.s.claim.get({ worker, until: now + leaseMs, now }) as Row | undefined;
    return row ? jobOf(row) : null;
  }

  /** Extends the lease and records progress; false when the job is no longer this worker's. */
  renew(titleId: string, worker: string, leaseMs: number, progress: number, now: number): boolean {
    return this.s.renew.run({ titleId, worker, until: now + leaseMs, progress, now }).changes > 0;
  }

  /** Ends this worker's job; false when it was no longer its own (taken over: nothing is written). */
  finish(titleId: string, worker: string, outcome: { state: 'done' } | { state: 'failed'; error: string }, now: number): boolean {
    return this.s.finish.run({ titleId, worker, state: outcome.state, error: outcome.state === 'failed' ? outcome.error : null, progress: outcome.state === 'done' ? 1 : 0, now }).changes > 0;
  }

  /** Gives a job back to the queue (a worker stopping): the next worker starts it at once. */
  release(titleId: string, worker: string, now: number): void {
    this.s.release.run({ titleId, worker, now });
  }

  remove(titleId: string): void {
    this.s.remove.run(titleId);
  }

  countsByState(): Map<string, number> {
    return new Map((this.s.counts.all() as { state: string; count: number }[]).map((row) => [row.state, row.count]));
  }
}
