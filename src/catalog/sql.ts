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

/**
 * A list in runs of `size` (the last one shorter): how many rows one PostgreSQL statement carries
 * as arrays, so a flush of 100 000 is a hundred round trips, not one unbounded parameter.
 */
export function chunksOf<T>(items: readonly T[], size = 1000): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** The types a bulk write's columns are sent as on PostgreSQL (one array per column). */
export type BulkColumnType = 'text' | 'bigint' | 'double precision';

/**
 * An INSERT of many rows at once, ending in `tail` (an ON CONFLICT clause, say), for the flushes
 * that write what memory gathered. On PostgreSQL a statement per thousand rows, each column sent
 * as one array (every statement there is a round trip that holds the event loop); on SQLite the
 * one-row statement for each row, in one transaction. Rows are keyed by column name, and must not
 * repeat a conflict key within one call.
 */
export function bulkInsert(db: SqlDb, table: string, columns: Record<string, BulkColumnType>, tail: string): (rows: readonly Record<string, unknown>[]) => void {
  const names = Object.keys(columns);
  if (db.engine === 'postgres') {
    const arrays = names.map((name) => `CAST(@${name} AS ${columns[name]}[])`).join(', ');
    const statement = db.prepare(`INSERT INTO ${table} (${names.join(', ')}) SELECT * FROM unnest(${arrays}) ${tail}`);
    return (rows) => {
      for (const chunk of chunksOf(rows)) statement.run(Object.fromEntries(names.map((name) => [name, chunk.map((row) => row[name] ?? null)])));
    };
  }
  const statement = db.prepare(`INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map((name) => `@${name}`).join(', ')}) ${tail}`);
  const all = db.transaction((rows: readonly Record<string, unknown>[]) => {
    for (const row of rows) statement.run(Object.fromEntries(names.map((name) => [name, row[name] ?? null])));
  });
  return (rows) => {
    if (rows.length > 0) all(rows);
  };
}
