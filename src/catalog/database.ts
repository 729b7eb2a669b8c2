import Database from 'better-sqlite3';
import { join } from 'node:path';
import { createPrivate } from './data-dir.js';
import { openPostgres, redactDatabaseUrl } from './postgres/database.js';
import type { SqlDb } from './sql.js';

/** The catalog database: SQLite in the data dir, or PostgreSQL when `database.url` names one. */
export type Db = SqlDb;

/** Schema changes, in order; `PRAGMA user_version` records how many have run. */
export const migrations: readonly string[] = [
  `CREATE TABLE titles (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     tags TEXT NOT NULL DEFAULT '[]',
     state TEXT NOT NULL,
     progress REAL NOT NULL DEFAULT 0,
     error TEXT,
     facts TEXT,
     renditions TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX titles_created ON titles (created_at);
   CREATE TABLE actor_snapshots (
     actor_id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     machine_version INTEGER NOT NULL,
     snapshot TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE playback_sessions (
     id TEXT PRIMARY KEY,
     content_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  `CREATE TABLE live_streams (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     mode TEXT NOT NULL,
     reconnect_window_seconds INTEGER NOT NULL,
     archive INTEGER NOT NULL,
     stream_key TEXT NOT NULL UNIQUE,
     state TEXT NOT NULL,
     error TEXT,
     archive_title_ids TEXT NOT NULL DEFAULT '[]',
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );`,
  `ALTER TABLE titles ADD COLUMN protection TEXT NOT NULL DEFAULT 'none';
   CREATE TABLE content_keys (
     content_id TEXT NOT NULL,
     period INTEGER NOT NULL,
     kid TEXT NOT NULL,
     protection TEXT NOT NULL,
     sealed BLOB NOT NULL,
     nonce BLOB NOT NULL,
     tag BLOB NOT NULL,
     pssh TEXT NOT NULL DEFAULT '[]',
     created_at INTEGER NOT NULL,
     PRIMARY KEY (content_id, period)
   );`,
  `ALTER TABLE live_streams ADD COLUMN protection TEXT NOT NULL DEFAULT 'none';
   ALTER TABLE live_streams ADD COLUMN key_rotation_segments INTEGER NOT NULL DEFAULT 0;`,
  `ALTER TABLE live_streams ADD COLUMN srt_passphrase TEXT;`,
  // Stream keys are sealed at rest from here on; the fingerprint keeps them unique.
  `ALTER TABLE live_streams ADD COLUMN stream_key_hash TEXT;
   CREATE UNIQUE INDEX live_streams_key_hash ON live_streams (stream_key_hash);`,
  // The playback service: viewers and what they may watch (viewers/), access rules of content
  // (catalog/), and playback sessions as leases (playback/).
  `CREATE TABLE plans (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     max_streams INTEGER NOT NULL,
     max_devices INTEGER NOT NULL,
     max_height INTEGER NOT NULL,
     packages TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE viewers (
     id TEXT PRIMARY KEY,
     email TEXT NOT NULL UNIQUE,
     password_hash TEXT NOT NULL,
     display_name TEXT NOT NULL DEFAULT '',
     max_rating TEXT,
     plan_id TEXT,
     subscription_starts_at INTEGER,
     subscription_ends_at INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE viewer_devices (
     viewer_id TEXT NOT NULL REFERENCES viewers (id) ON DELETE CASCADE,
     device_id TEXT NOT NULL,
     family TEXT NOT NULL,
     model TEXT,
     app_version TEXT,
     registered_at INTEGER NOT NULL,
     last_seen_at INTEGER NOT NULL,
     PRIMARY KEY (viewer_id, device_id)
   );
   CREATE TABLE refresh_tokens (
     id TEXT PRIMARY KEY,
     family_id TEXT NOT NULL,
     viewer_id TEXT NOT NULL REFERENCES viewers (id) ON DELETE CASCADE,
     device_id TEXT NOT NULL,
     token_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     rotated_at INTEGER,
     revoked_at INTEGER
   );
   CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
   CREATE TABLE rentals (
     id TEXT PRIMARY KEY,
     viewer_id TEXT NOT NULL REFERENCES viewers (id) ON DELETE CASCADE,
     content_id TEXT NOT NULL,
     starts_at INTEGER NOT NULL,
     ends_at INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX rentals_viewer ON rentals (viewer_id, content_id);
   CREATE TABLE content_access (
     content_id TEXT PRIMARY KEY,
     packages TEXT NOT NULL,
     available_from INTEGER,
     available_until INTEGER,
     geo_mode TEXT,
     geo_countries TEXT NOT NULL DEFAULT '[]',
     rating TEXT,
     updated_at INTEGER NOT NULL
   );
   ALTER TABLE playback_sessions ADD COLUMN viewer_id TEXT;
   ALTER TABLE playback_sessions ADD COLUMN device TEXT;
   ALTER TABLE playback_sessions ADD COLUMN max_height INTEGER;
   ALTER TABLE playback_sessions ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE playback_sessions ADD COLUMN renewed_at INTEGER;
   ALTER TABLE playback_sessions ADD COLUMN position_ms INTEGER;
   ALTER TABLE playback_sessions ADD COLUMN player_state TEXT;
   ALTER TABLE playback_sessions ADD COLUMN ended_at INTEGER;
   CREATE INDEX playback_sessions_viewer ON playback_sessions (viewer_id, ended_at);`,
  // Every session start commits one row before it answers, so the row costs as few page writes as
  // it can: one b-tree keyed by the session id (time-ordered, so new rows land on the same page),
  // and no index by viewer (leases are looked up in memory). Pruning finds old sessions by end
  // time; running sessions stay out of that index.
  `CREATE TABLE playback_sessions_keyed (
     id TEXT PRIMARY KEY,
     content_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     viewer_id TEXT,
     device TEXT,
     max_height INTEGER,
     counted INTEGER NOT NULL DEFAULT 0,
     renewed_at INTEGER,
     position_ms INTEGER,
     player_state TEXT,
     ended_at INTEGER
   ) WITHOUT ROWID;
   INSERT INTO playback_sessions_keyed (id, content_id, created_at, expires_at, viewer_id, device, max_height, counted, renewed_at, position_ms, player_state, ended_at)
     SELECT id, content_id, created_at, expires_at, viewer_id, device, max_height, counted, renewed_at, position_ms, player_state, ended_at FROM playback_sessions;
   DROP TABLE playback_sessions;
   ALTER TABLE playback_sessions_keyed RENAME TO playback_sessions;
   CREATE INDEX playback_sessions_ended ON playback_sessions (ended_at) WHERE ended_at IS NOT NULL;`,
  // Discovery: descriptive metadata, series, curated collections, watch history and the search index.
  `CREATE TABLE series (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     synopsis TEXT NOT NULL DEFAULT '',
     genres TEXT NOT NULL DEFAULT '[]',
     credits TEXT NOT NULL DEFAULT '[]',
     release_year INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE content_metadata (
     content_id TEXT PRIMARY KEY,
     synopsis TEXT NOT NULL DEFAULT '',
     genres TEXT NOT NULL DEFAULT '[]',
     credits TEXT NOT NULL DEFAULT '[]',
     release_year INTEGER,
     series_id TEXT REFERENCES series (id),
     season INTEGER,
     episode INTEGER,
     updated_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX content_metadata_episode ON content_metadata (series_id, season, episode) WHERE series_id IS NOT NULL;
   CREATE TABLE collections (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     position INTEGER NOT NULL,
     items TEXT NOT NULL DEFAULT '[]',
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE watch_history (
     viewer_id TEXT NOT NULL,
     content_id TEXT NOT NULL,
     position_ms INTEGER NOT NULL,
     duration_ms INTEGER,
     watched_ms INTEGER NOT NULL DEFAULT 0,
     finished INTEGER NOT NULL DEFAULT 0,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (viewer_id, content_id)
   ) WITHOUT ROWID;
   CREATE INDEX watch_history_content ON watch_history (content_id);
   CREATE TABLE watch_time (
     content_id TEXT NOT NULL,
     hour INTEGER NOT NULL,
     watched_ms INTEGER NOT NULL,
     PRIMARY KEY (content_id, hour)
   ) WITHOUT ROWID;
   CREATE TABLE search_docs (
     id INTEGER PRIMARY KEY,
     ref TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     name TEXT NOT NULL,
     people TEXT NOT NULL,
     genres TEXT NOT NULL,
     synopsis TEXT NOT NULL
   );
   CREATE VIRTUAL TABLE search_fts USING fts5 (name, people, genres, synopsis, content = 'search_docs', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3');
   CREATE TRIGGER search_docs_inserted AFTER INSERT ON search_docs BEGIN
     INSERT INTO search_fts (rowid, name, people, genres, synopsis) VALUES (new.id, new.name, new.people, new.genres, new.synopsis);
   END;
   CREATE TRIGGER search_docs_deleted AFTER DELETE ON search_docs BEGIN
     INSERT INTO search_fts (search_fts, rowid, name, people, genres, synopsis) VALUES ('delete', old.id, old.name, old.people, old.genres, old.synopsis);
   END;
   CREATE TRIGGER search_docs_updated AFTER UPDATE ON search_docs BEGIN
     INSERT INTO search_fts (search_fts, rowid, name, people, genres, synopsis) VALUES ('delete', old.id, old.name, old.people, old.genres, old.synopsis);
     INSERT INTO search_fts (rowid, name, people, genres, synopsis) VALUES (new.id, new.name, new.people, new.genres, new.synopsis);
   END;`,
  // Quality of experience: one row per playback session, written behind in batches.
  `CREATE TABLE qoe_sessions (
     session_id TEXT PRIMARY KEY,
     content_id TEXT NOT NULL,
     viewer_id TEXT,
     family TEXT,
     plan_id TEXT,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     startup_ms INTEGER,
     rebuffer_count INTEGER NOT NULL,
     rebuffer_ms INTEGER NOT NULL,
     played_ms INTEGER NOT NULL,
     bits_played REAL NOT NULL,
     errors INTEGER NOT NULL,
     start_failed INTEGER NOT NULL,
     playback_failed INTEGER NOT NULL,
     exited_before_start INTEGER NOT NULL,
     cmcd_requests INTEGER NOT NULL,
     cmcd_starved INTEGER NOT NULL,
     last_bitrate INTEGER
   ) WITHOUT ROWID;
   CREATE INDEX qoe_sessions_started ON qoe_sessions (started_at);`,
  // Catalog art: which content-addressed image file each content uses, per kind, size and format.
  `CREATE TABLE artwork (
     content_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     size TEXT NOT NULL,
     format TEXT NOT NULL,
     file TEXT NOT NULL,
     source TEXT NOT NULL,
     PRIMARY KEY (content_id, kind, size, format)
   ) WITHOUT ROWID;`,
  // Webhooks (operator/webhooks): endpoints with sealed secrets; the outbox, one message per event
  // and endpoint, written in the same moment the event happens so a restart loses none; and each
  // attempt to deliver one, the endpoint's delivery log.
  `CREATE TABLE webhook_endpoints (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     event_types TEXT NOT NULL,
     secret TEXT NOT NULL,
     enabled INTEGER NOT NULL,
     disabled_reason TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE webhook_messages (
     id TEXT PRIMARY KEY,
     endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
     event_type TEXT NOT NULL,
     payload TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER,
     created_at INTEGER NOT NULL,
     finished_at INTEGER
   );
   CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE state = 'pending';
   CREATE INDEX webhook_messages_log ON webhook_messages (endpoint_id, created_at);
   CREATE INDEX webhook_messages_finished ON webhook_messages (finished_at) WHERE state <> 'pending';
   CREATE TABLE webhook_attempts (
     message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
     attempt INTEGER NOT NULL,
     at INTEGER NOT NULL,
     duration_ms INTEGER NOT NULL,
     status INTEGER,
     error TEXT,
     detail TEXT,
     PRIMARY KEY (message_id, attempt)
   );`,
  // Encode jobs for `weir worker` processes (encode.workers = external): the title actor queues
  // a job, a worker claims it with a lease it renews, and another takes it over when it lapses.
  `CREATE TABLE encode_jobs (
     title_id TEXT PRIMARY KEY,
     input TEXT NOT NULL,
     state TEXT NOT NULL,
     worker TEXT,
     lease_until INTEGER,
     progress REAL NOT NULL DEFAULT 0,
     error TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX encode_jobs_claimable ON encode_jobs (state, created_at);`,
];

export const databaseFileName = 'weir.db';

export type DatabaseOptions = {
  /** postgres://… to keep the catalog on PostgreSQL; null for SQLite in the data dir. */
  url?: string | null;
  applicationName?: string;
};

/** Opens the catalog database and brings its schema up to date. */
export function openDatabase(dataDir: string, options: DatabaseOptions = {}): Db {
  if (options.url) {
    try {
      return openPostgres({ url: options.url, applicationName: options.applicationName });
    } catch (error) {
      throw new Error(`Could not open the catalog on PostgreSQL at ${redactDatabaseUrl(options.url)}: ${(error as Error).message}`, { cause: error });
    }
  }
  return sqliteDb(openSqlite(dataDir));
}

/** What a log must never show of the database URL: its password, and the URL itself. */
export function databaseSecrets(url: string | null): string[] {
  if (!url) return [];
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password ? [url, password] : [url];
  } catch {
    return [url];
  }
}

/** better-sqlite3 already has the stores' shape; this only names the engine. */
function sqliteDb(db: Database.Database): Db {
  return {
    engine: 'sqlite',
    prepare: (sql) => db.prepare(sql),
    transaction: (work) => db.transaction(work) as unknown as typeof work,
    exec: (sql) => {
      db.exec(sql);
    },
    close: () => db.close(),
  };
}

/** Opens (creating if needed) the SQLite catalog in the data dir. */
function openSqlite(dataDir: string): Database.Database {
  // It holds sealed keys and credentials: owner-only, like every secret in the data dir.
  const path = join(dataDir, databaseFileName);
  createPrivate(path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // WAL with NORMAL sync survives a process crash (SIGKILL); only power loss can cost the last commits.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`The database at ${dataDir} has schema version ${current}, newer than this Weir knows (${migrations.length}); upgrade Weir.`);
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return db;
}
