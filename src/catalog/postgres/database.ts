import type { RunResult, SqlDb, SqlStatement } from '../sql.js';
import { PostgresBridge } from './bridge.js';
import { postgresMigrations } from './migrations.js';

/** A statement's text for PostgreSQL (`$1…`) and how its parameters are bound. */
export type Translated = { text: string; names: string[] | null; positional: number };

/**
 * Rewrites better-sqlite3 parameters (`?`, `@name`) as PostgreSQL's `$n`. Quoted strings,
 * quoted identifiers and comments are left alone, so `'$.durationMs'` or `'?'` stay text.
 */
export function translateParameters(sql: string): Translated {
  let text = '';
  const names: string[] = [];
  let positional = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = closing(sql, i, c);
      text += sql.slice(i, end);
      i = end - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      text += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      text += `$${++positional}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))![0];
      let index = names.indexOf(name);
      if (index === -1) index = names.push(name) - 1;
      text += `$${index + 1}`;
      i += name.length;
    } else {
      text += c;
    }
  }
  if (positional > 0 && names.length > 0) throw new Error('A statement mixes ? and @name parameters.');
  return { text, names: names.length > 0 ? names : null, positional };
}

function closing(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2; // a doubled quote inside the literal
      else return i + 1;
    } else i++;
  }
  return sql.length;
}

function bind(translated: Translated, params: unknown[]): unknown[] {
  if (translated.names) {
    const values = (params[0] ?? {}) as Record<string, unknown>;
    return translated.names.map((name) => {
      if (!(name in values)) throw new RangeError(`Missing named parameter "${name}"`);
      return values[name];
    });
  }
  if (params.length !== translated.positional) throw new RangeError(`The statement takes ${translated.positional} parameters, not ${params.length}.`);
  return params;
}

export type PostgresOptions = { url: string; statementTimeoutMs?: number; applicationName?: string };

/** The catalog on PostgreSQL, with the stores' synchronous shape (see bridge.ts for how). */
export class PostgresDb implements SqlDb {
  readonly engine = 'postgres' as const;
  private readonly bridge: PostgresBridge;
  private depth = 0;

  constructor(options: PostgresOptions) {
    this.bridge = new PostgresBridge({ url: options.url, statementTimeoutMs: options.statementTimeoutMs ?? 15_000, applicationName: options.applicationName ?? 'weir' });
  }

  prepare(sql: string): SqlStatement {
    const translated = translateParameters(sql);
    const query = (params: unknown[]) => this.bridge.query(translated.text, bind(translated, params), true);
    return {
      run: (...params): RunResult => ({ changes: query(params).rowCount }),
      get: (...params) => query(params).rows[0],
      all: (...params) => query(params).rows,
    };
  }

  transaction<A extends unknown[], R>(work: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      const savepoint = this.depth > 0 ? `weir_${this.depth}` : null;
      this.bridge.query(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
      this.depth++;
      let result: R;
      try {
        result = work(...args);
      } catch (error) {
        this.depth--;
        try {
          this.bridge.query(savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` : 'ROLLBACK');
        } catch {
          // The connection broke: the server rolled back already, and the work's error is the one to report.
        }
        throw error;
      }
      this.depth--;
      this.bridge.query(savepoint ? `RELEASE SAVEPOINT ${savepoint}` : 'COMMIT');
      return result;
    };
  }

  exec(sql: string): void {
    this.bridge.query(sql);
  }

  close(): void {
    this.bridge.close();
  }
}

// Any fixed number: the lock only keeps two nodes from migrating the same database at once.
const migrationLock = 0x7765_6972;

/**
 * Connects and brings the schema up to date. Nodes starting together take turns (an advisory
 * lock), and a database already on a newer schema than this Weir knows is refused untouched.
 */
export function openPostgres(options: PostgresOptions): PostgresDb {
  const db = new PostgresDb(options);
  try {
    db.exec(`SELECT pg_advisory_lock(${migrationLock})`);
    try {
      db.exec(`CREATE TABLE IF NOT EXISTS weir_schema (version INTEGER NOT NULL)`);
      let row = db.prepare(`SELECT version FROM weir_schema`).get() as { version: number } | undefined;
      if (!row) {
        db.exec(`INSERT INTO weir_schema (version) VALUES (0)`);
        row = { version: 0 };
      }
      if (row.version > postgresMigrations.length) {
        throw new Error(`The PostgreSQL database has schema version ${row.version}, newer than this Weir knows (${postgresMigrations.length}); upgrade Weir.`);
      }
      for (let version = row.version; version < postgresMigrations.length; version++) {
        db.transaction(() => {
          db.exec(postgresMigrations[version]!);
          db.exec(`UPDATE weir_schema SET version = ${version + 1}`);
        })();
      }
    } finally {
      try {
        db.exec(`SELECT pg_advisory_unlock(${migrationLock})`);
      } catch {
        // The connection broke: the server released the lock with it, and the first error is the one to report.
      }
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** The URL with its password replaced, for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}
