import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseFileName, databaseSecrets, migrations, openDatabase } from '../../src/catalog/database.js';
import { redactDatabaseUrl } from '../../src/catalog/postgres/database.js';
import { postgresMigrations } from '../../src/catalog/postgres/migrations.js';
import { openTestCatalog, postgresUnavailable } from '../helpers/catalog.js';

/** A data dir whose catalog stops at schema `version`, as an older Weir left it. */
function olderCatalog(t: Test, version: number) {
  const dir = mkdtempSync(join(tmpdir(), 'weir-db-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = new Database(join(dir, databaseFileName));
  for (const migration of migrations.slice(0, version)) db.exec(migration);
  db.pragma(`user_version = ${version}`);
  return { dir, db };
}

t.test('playback sessions written before the keyed session table are kept by the upgrade', async (t) => {
  const { dir, db } = olderCatalog(t, migrations.findIndex((sql) => sql.includes('playback_sessions_keyed')));
  db.prepare(`INSERT INTO playback_sessions (id, content_id, created_at, expires_at, viewer_id, device, max_height, counted, renewed_at, position_ms, player_state, ended_at) VALUES ('s1', 'title-1', 1, 60001, 'viewer-1', '{"id":"tv"}', 720, 1, 1, 5000, 'playing', NULL)`).run();
  db.close();
  const upgraded = openDatabase(dir);
  t.teardown(() => upgraded.close());
  t.same(upgraded.prepare('SELECT * FROM playback_sessions').all(), [
    { id: 's1', content_id: 'title-1', created_at: 1, expires_at: 60001, viewer_id: 'viewer-1', device: '{"id":"tv"}', max_height: 720, counted: 1, renewed_at: 1, position_ms: 5000, player_state: 'playing', ended_at: null },
  ]);
  const schema = upgraded.prepare(`SELECT sql FROM sqlite_master WHERE tbl_name = 'playback_sessions'`).all() as { sql: string | null }[];
  t.ok(schema.some((row) => row.sql?.includes('WITHOUT ROWID')), 'one b-tree keyed by the session id');
  t.notOk(schema.some((row) => row.sql?.includes('viewer_id, ended_at')), 'no index by viewer');
});

t.test('a catalog from a newer Weir is refused, not rewritten', async (t) => {
  const { dir, db } = olderCatalog(t, migrations.length);
  db.pragma(`user_version = ${migrations.length + 1}`);
  db.close();
  t.throws(() => openDatabase(dir), { message: new RegExp(`schema version ${migrations.length + 1}, newer than this Weir knows`) });
});

t.test('a PostgreSQL catalog from a newer Weir is refused, not rewritten; one at the current version opens as it is', { skip: postgresUnavailable() ?? false }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  catalog.db.prepare(`INSERT INTO titles (id, title, state, created_at, updated_at) VALUES ('kept', 'Kept', 'ready', 1, 1)`).run();
  t.same(catalog.reopen().prepare('SELECT id FROM titles').all(), [{ id: 'kept' }], 'reopening changes nothing');
  catalog.db.exec(`UPDATE weir_schema SET version = ${postgresMigrations.length + 1}`);
  t.throws(() => catalog.reopen(), { message: new RegExp(`schema version ${postgresMigrations.length + 1}, newer than this Weir knows`) });
  t.same(catalog.db.prepare('SELECT version FROM weir_schema').all(), [{ version: postgresMigrations.length + 1 }], 'and its version is left as it was');
});

t.test('the database URL and its password are what a log must never show', async (t) => {
  t.same(databaseSecrets('postgres://weir:s%40cret@db.example:5432/weir'), ['postgres://weir:s%40cret@db.example:5432/weir', 's@cret']);
  t.same(databaseSecrets(null), []);
  t.equal(redactDatabaseUrl('postgres://weir:s%40cret@db.example:5432/weir'), 'postgres://weir:***@db.example:5432/weir');
});
