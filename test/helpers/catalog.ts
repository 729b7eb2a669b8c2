import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/catalog/database.js';
import { PostgresDb, redactDatabaseUrl } from '../../src/catalog/postgres/database.js';

export type CatalogEngine = 'sqlite' | 'postgres';
export const catalogEngines: readonly CatalogEngine[] = ['sqlite', 'postgres'];

/** The PostgreSQL the tests use; each test gets a schema of its own in it. */
export const postgresTestUrl = process.env.WEIR_TEST_DATABASE_URL ?? 'postgres://weir:weir@127.0.0.1:5432/weir_test';

const postgresInstall =
  `apt-get install -y postgresql && pg_ctlcluster 15 main start && su postgres -c "psql -c \\"CREATE ROLE weir LOGIN PASSWORD 'weir'\\" -c 'CREATE DATABASE weir_test OWNER weir'" ` +
  '(.ci/run does this; or point WEIR_TEST_DATABASE_URL at another server)';

let probed: string | null | undefined;

/** Why the PostgreSQL tests cannot run here, with the command that fixes it; null when they can. */
export function postgresUnavailable(): string | null {
  if (probed !== undefined) return probed;
  let db: PostgresDb | null = null;
  try {
    db = new PostgresDb({ url: postgresTestUrl, statementTimeoutMs: 5_000 });
    db.exec('SELECT 1');
    probed = null;
  } catch (error) {
    probed = `no PostgreSQL answers at ${redactDatabaseUrl(postgresTestUrl)} (${(error as Error).message}); install and start one: ${postgresInstall}`;
  } finally {
    db?.close();
  }
  return probed;
}

/** The test database's URL with every connection's search path set to one schema. */
export function postgresSchemaUrl(schema: string): string {
  const url = new URL(postgresTestUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/** A schema of its own in the test database: its URL, and how to drop it once nothing uses it. */
export function freshPostgresSchema(): { url: string; drop(): void } {
  const schema = `weir_t_${randomBytes(6).toString('hex')}`;
  const admin = new PostgresDb({ url: postgresTestUrl });
  admin.exec(`CREATE SCHEMA ${schema}`);
  return {
    url: postgresSchemaUrl(schema),
    drop: () => {
      admin.exec(`DROP SCHEMA ${schema} CASCADE`);
      admin.close();
    },
  };
}

export type TestCatalog = {
  engine: CatalogEngine;
  db: Db;
  /** Another connection to the same catalog, as a restarted server (or a second node) opens it. */
  reopen(): Db;
  /** The data dir (the SQLite file's home; unused by PostgreSQL but still the server's). */
  dir: string;
  /** The PostgreSQL URL, or null on SQLite. */
  url: string | null;
};

/** A fresh catalog on this engine; every connection opened through it is closed, and its data removed, when the test ends. */
export function openTestCatalog(t: Test, engine: CatalogEngine = 'sqlite'): TestCatalog {
  const dir = mkdtempSync(join(tmpdir(), 'weir-catalog-'));
  const opened: Db[] = [];
  const schema = engine === 'postgres' ? freshPostgresSchema() : null;
  const url = schema?.url ?? null;
  t.teardown(() => {
    for (const db of opened) db.close();
    schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  const reopen = () => {
    const db = openDatabase(dir, { url });
    opened.push(db);
    return db;
  };
  return { engine, db: reopen(), reopen, dir, url };
}

/**
 * Runs `body` once on SQLite and once on PostgreSQL, each as a subtest with a fresh catalog. The
 * PostgreSQL run is skipped, naming the command that installs it, when no server answers.
 */
export function onEachEngine(t: Test, name: string, body: (t: Test, catalog: TestCatalog) => unknown): void {
  for (const engine of catalogEngines) {
    const skip = engine === 'postgres' ? (postgresUnavailable() ?? false) : false;
    void t.test(engine === 'sqlite' ? `${name} (SQLite)` : `${name} (PostgreSQL)`, { skip }, async (t) => body(t, openTestCatalog(t, engine)));
  }
}
