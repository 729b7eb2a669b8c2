import Database from 'better-sqlite3';
import { join } from 'node:path';
import { createPrivate } from './data-dir.js';

export type Db = Database.Database;

/** Schema changes, in order; `PRAGMA user_version` records how many have run. */
const migrations: readonly string[] = [
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
];

export const databaseFileName = 'weir.db';

/** Opens (creating if needed) the catalog database in the data dir and brings its schema up to date. */
export function openDatabase(dataDir: string): Db {
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
