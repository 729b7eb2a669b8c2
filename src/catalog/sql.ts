/**
 * What the stores ask of a database: prepared statements run synchronously, and transactions.
 * better-sqlite3 has exactly this shape; PostgreSQL is reached through a bridge that gives it the
 * same one (catalog/postgres), so every store runs unchanged on either engine.
 *
 * Parameters are `?` (positional) or `@name` (one object), as better-sqlite3 takes them.
 */
export type SqlEngine = 'sqlite' | 'postgres';

export type RunResult = { changes: number };

export interface SqlStatement {
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqlDb {
  readonly engine: SqlEngine;
  prepare(sql: string): SqlStatement;
  /** Wraps `work` so that each call runs in one transaction (nested calls become savepoints). */
  transaction<A extends unknown[], R>(work: (...args: A) => R): (...args: A) => R;
  exec(sql: string): void;
  close(): void;
}

/** Whether a write failed on a unique key, on either engine. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // SQLite's extended code; PostgreSQL's SQLSTATE unique_violation.
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
