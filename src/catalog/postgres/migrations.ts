/**
 * The PostgreSQL schema, in versions of its own (recorded in `weir_schema`). The first is the
 * SQLite schema as it stood when PostgreSQL came, with the types PostgreSQL wants (BIGINT for
 * milliseconds, BYTEA for sealed keys), plus what only several nodes need: search as tsvector
 * columns (FTS5 is SQLite's), an index to count a viewer's open sessions across nodes, and the
 * tables that say which nodes are alive and which node runs which actor. A later change to the
 * catalog adds a version to both lists.
 */
export const postgresMigrations: readonly string[] = [
  `CREATE TABLE titles (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     tags TEXT NOT NULL DEFAULT '[]',
     state TEXT NOT NULL,
     progress DOUBLE PRECISION NOT NULL DEFAULT 0,
     error TEXT,
     facts TEXT,
     renditions TEXT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     protection TEXT NOT NULL DEFAULT 'none'
   );
   CREATE INDEX titles_created ON titles (created_at);
   CREATE TABLE actor_snapshots (
     actor_id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     machine_version BIGINT NOT NULL,
     snapshot TEXT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE live_streams (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     mode TEXT NOT NULL,
     reconnect_window_seconds BIGINT NOT NULL,
     archive BIGINT NOT NULL,
     stream_key TEXT NOT NULL UNIQUE,
     state TEXT NOT NULL,
     error TEXT,
     archive_title_ids TEXT NOT NULL DEFAULT '[]',
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     protection TEXT NOT NULL DEFAULT 'none',
     key_rotation_segments BIGINT NOT NULL DEFAULT 0,
     srt_passphrase TEXT,
     stream_key_hash TEXT
   );
   CREATE TABLE content_keys (
     content_id TEXT NOT NULL,
     period BIGINT NOT NULL,
     kid TEXT NOT NULL,
     protection TEXT NOT NULL,
     sealed BYTEA NOT NULL,
     nonce BYTEA NOT NULL,
     tag BYTEA NOT NULL,
     pssh TEXT NOT NULL DEFAULT '[]',
     created_at BIGINT NOT NULL,
     PRIMARY KEY (content_id, period)
   );
   CREATE UNIQUE INDEX live_streams_key_hash ON live_streams (stream_key_hash);
   CREATE TABLE plans (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     max_streams BIGINT NOT NULL,
     max_devices BIGINT NOT NULL,
     max_height BIGINT NOT NULL,
     packages TEXT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE viewers (
     id TEXT PRIMARY KEY,
     email TEXT NOT NULL UNIQUE,
     password_hash TEXT NOT NULL,
     display_name TEXT NOT NULL DEFAULT '',
     max_rating TEXT,
     plan_id TEXT,
     subscription_starts_at BIGINT,
     subscription_ends_at BIGINT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE viewer_devices (
     viewer_id TEXT NOT NULL REFERENCES viewers (id) ON DELETE CASCADE,
     device_id TEXT NOT NULL,
     family TEXT NOT NULL,
     model TEXT,
     app_version TEXT,
     registered_at BIGINT NOT NULL,
     last_seen_at BIGINT NOT NULL,
     PRIMARY KEY (viewer_id, device_id)
   );
   CREATE TABLE refresh_tokens (
     id TEXT PRIMARY KEY,
     family_id TEXT NOT NULL,
     viewer_id TEXT NOT NULL REFERENCES viewers (id) ON DELETE CASCADE,
     device_id TEXT NOT NULL,
     token_hash TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     rotated_at BIGINT,
     revoked_at BIGINT
   );
   CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
   CREATE TABLE rentals (
     id TEXT PRIMARY KEY,
     viewer_id TEXT NOT NULL REFERENCES viewers (id) ON DELETE CASCADE,
     content_id TEXT NOT NULL,
     starts_at BIGINT NOT NULL,
     ends_at BIGINT NOT NULL,
     created_at BIGINT NOT NULL
   );
   CREATE INDEX rentals_viewer ON rentals (viewer_id, content_id);
   CREATE TABLE content_access (
     content_id TEXT PRIMARY KEY,
     packages TEXT NOT NULL,
     available_from BIGINT,
     available_until BIGINT,
     geo_mode TEXT,
     geo_countries TEXT NOT NULL DEFAULT '[]',
     rating TEXT,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE playback_sessions (
     id TEXT PRIMARY KEY,
     content_id TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     viewer_id TEXT,
     device TEXT,
     max_height BIGINT,
     counted BIGINT NOT NULL DEFAULT 0,
     renewed_at BIGINT,
     position_ms BIGINT,
     player_state TEXT,
     ended_at BIGINT
   );
   CREATE INDEX playback_sessions_ended ON playback_sessions (ended_at) WHERE ended_at IS NOT NULL;
   CREATE TABLE series (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     synopsis TEXT NOT NULL DEFAULT '',
     genres TEXT NOT NULL DEFAULT '[]',
     credits TEXT NOT NULL DEFAULT '[]',
     release_year BIGINT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE content_metadata (
     content_id TEXT PRIMARY KEY,
     synopsis TEXT NOT NULL DEFAULT '',
     genres TEXT NOT NULL DEFAULT '[]',
     credits TEXT NOT NULL DEFAULT '[]',
     release_year BIGINT,
     series_id TEXT REFERENCES series (id),
     season BIGINT,
     episode BIGINT,
     updated_at BIGINT NOT NULL
   );
   CREATE UNIQUE INDEX content_metadata_episode ON content_metadata (series_id, season, episode) WHERE series_id IS NOT NULL;
   CREATE TABLE collections (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     position BIGINT NOT NULL,
     items TEXT NOT NULL DEFAULT '[]',
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE watch_history (
     viewer_id TEXT NOT NULL,
     content_id TEXT NOT NULL,
     position_ms BIGINT NOT NULL,
     duration_ms BIGINT,
     watched_ms BIGINT NOT NULL DEFAULT 0,
     finished BIGINT NOT NULL DEFAULT 0,
     updated_at BIGINT NOT NULL,
     PRIMARY KEY (viewer_id, content_id)
   );
   CREATE INDEX watch_history_content ON watch_history (content_id);
   CREATE TABLE watch_time (
     content_id TEXT NOT NULL,
     hour BIGINT NOT NULL,
     watched_ms BIGINT NOT NULL,
     PRIMARY KEY (content_id, hour)
   );
   CREATE TABLE search_docs (
     id BIGSERIAL PRIMARY KEY,
     ref TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     name TEXT NOT NULL,
     people TEXT NOT NULL,
     genres TEXT NOT NULL,
     synopsis TEXT NOT NULL,
     head TSVECTOR NOT NULL,
     doc TSVECTOR NOT NULL
   );
   CREATE INDEX search_docs_head ON search_docs USING GIN (head);
   CREATE INDEX search_docs_doc ON search_docs USING GIN (doc);
   CREATE TABLE qoe_sessions (
     session_id TEXT PRIMARY KEY,
     content_id TEXT NOT NULL,
     viewer_id TEXT,
     family TEXT,
     plan_id TEXT,
     started_at BIGINT NOT NULL,
     ended_at BIGINT,
     startup_ms BIGINT,
     rebuffer_count BIGINT NOT NULL,
     rebuffer_ms BIGINT NOT NULL,
     played_ms BIGINT NOT NULL,
     bits_played DOUBLE PRECISION NOT NULL,
     errors BIGINT NOT NULL,
     start_failed BIGINT NOT NULL,
     playback_failed BIGINT NOT NULL,
     exited_before_start BIGINT NOT NULL,
     cmcd_requests BIGINT NOT NULL,
     cmcd_starved BIGINT NOT NULL,
     last_bitrate BIGINT
   );
   CREATE INDEX qoe_sessions_started ON qoe_sessions (started_at);
   CREATE TABLE artwork (
     content_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     size TEXT NOT NULL,
     format TEXT NOT NULL,
     file TEXT NOT NULL,
     source TEXT NOT NULL,
     PRIMARY KEY (content_id, kind, size, format)
   );
   CREATE TABLE webhook_endpoints (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     event_types TEXT NOT NULL,
     secret TEXT NOT NULL,
     enabled BIGINT NOT NULL,
     disabled_reason TEXT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE webhook_messages (
     id TEXT PRIMARY KEY,
     endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
     event_type TEXT NOT NULL,
     payload TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts BIGINT NOT NULL DEFAULT 0,
     next_attempt_at BIGINT,
     created_at BIGINT NOT NULL,
     finished_at BIGINT
   );
   CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE state = 'pending';
   CREATE INDEX webhook_messages_log ON webhook_messages (endpoint_id, created_at);
   CREATE INDEX webhook_messages_finished ON webhook_messages (finished_at) WHERE state <> 'pending';
   CREATE TABLE webhook_attempts (
     message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
     attempt BIGINT NOT NULL,
     at BIGINT NOT NULL,
     duration_ms BIGINT NOT NULL,
     status BIGINT,
     error TEXT,
     detail TEXT,
     PRIMARY KEY (message_id, attempt)
   );
   CREATE TABLE encode_jobs (
     title_id TEXT PRIMARY KEY,
     input TEXT NOT NULL,
     state TEXT NOT NULL,
     worker TEXT,
     lease_until BIGINT,
     progress DOUBLE PRECISION NOT NULL DEFAULT 0,
     error TEXT,
     attempts BIGINT NOT NULL DEFAULT 0,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE INDEX encode_jobs_claimable ON encode_jobs (state, created_at);
   CREATE INDEX playback_sessions_open ON playback_sessions (viewer_id) WHERE ended_at IS NULL;
   CREATE TABLE weir_nodes (
     node_id TEXT PRIMARY KEY,
     lease_until BIGINT NOT NULL
   );
   CREATE TABLE actor_owners (
     actor_id TEXT PRIMARY KEY,
     node_id TEXT NOT NULL
   );
   CREATE INDEX actor_owners_node ON actor_owners (node_id);`,
  // Nodes keep what they read often in memory; each committed change to those tables is announced
  // on one channel as "table:key", so every node drops what it holds of that key (changes.ts).
  `CREATE FUNCTION weir_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
   DECLARE
     changed jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
     key text := changed ->> TG_ARGV[0];
   BEGIN
     IF TG_NARGS > 1 THEN key := key || '/' || (changed ->> TG_ARGV[1]); END IF;
     PERFORM pg_notify('weir_changes', TG_TABLE_NAME || ':' || key);
     RETURN NULL;
   END $$;
   CREATE TRIGGER titles_announced AFTER INSERT OR UPDATE OR DELETE ON titles FOR EACH ROW EXECUTE FUNCTION weir_announce_change('id');
   CREATE TRIGGER live_streams_announced AFTER INSERT OR UPDATE OR DELETE ON live_streams FOR EACH ROW EXECUTE FUNCTION weir_announce_change('id');
   CREATE TRIGGER content_access_announced AFTER INSERT OR UPDATE OR DELETE ON content_access FOR EACH ROW EXECUTE FUNCTION weir_announce_change('content_id');
   CREATE TRIGGER content_metadata_announced AFTER INSERT OR UPDATE OR DELETE ON content_metadata FOR EACH ROW EXECUTE FUNCTION weir_announce_change('content_id');
   CREATE TRIGGER series_announced AFTER INSERT OR UPDATE OR DELETE ON series FOR EACH ROW EXECUTE FUNCTION weir_announce_change('id');
   CREATE TRIGGER collections_announced AFTER INSERT OR UPDATE OR DELETE ON collections FOR EACH ROW EXECUTE FUNCTION weir_announce_change('id');
   CREATE TRIGGER viewers_announced AFTER INSERT OR UPDATE OR DELETE ON viewers FOR EACH ROW EXECUTE FUNCTION weir_announce_change('id');
   CREATE TRIGGER viewer_devices_announced AFTER INSERT OR UPDATE OR DELETE ON viewer_devices FOR EACH ROW EXECUTE FUNCTION weir_announce_change('viewer_id', 'device_id');
   CREATE TRIGGER rentals_announced AFTER INSERT OR UPDATE OR DELETE ON rentals FOR EACH ROW EXECUTE FUNCTION weir_announce_change('viewer_id');
   CREATE TRIGGER plans_announced AFTER INSERT OR UPDATE OR DELETE ON plans FOR EACH ROW EXECUTE FUNCTION weir_announce_change('id');`,
  // Catalog art is cut by one node and listed by all: a node that read a title's art before it was
  // cut must read it again. (A cut writes a dozen rows; PostgreSQL sends one notice per transaction.)
  `CREATE TRIGGER artwork_announced AFTER INSERT OR UPDATE OR DELETE ON artwork FOR EACH ROW EXECUTE FUNCTION weir_announce_change('content_id');`,
  // A counted session start in one round trip (it is on the playback-start path): the viewer's
  // lock, then the count (a function's statements each see what committed before them, so the
  // count sees every start that held the lock before), then the insert. Returns the viewer's
  // running sessions when they are at the limit, and nothing when the new one was recorded.
  `CREATE FUNCTION weir_start_counted(p_id text, p_content_id text, p_now bigint, p_expires_at bigint, p_viewer_id text, p_device text, p_max_height bigint, p_limit bigint)
   RETURNS SETOF playback_sessions LANGUAGE plpgsql VOLATILE AS $$
   DECLARE
     held bigint;
   BEGIN
     PERFORM pg_advisory_xact_lock(hashtext(p_viewer_id));
     SELECT count(*) INTO held FROM playback_sessions
      WHERE viewer_id = p_viewer_id AND counted = 1 AND ended_at IS NULL AND expires_at > p_now;
     IF held >= p_limit THEN
       RETURN QUERY SELECT * FROM playback_sessions
        WHERE viewer_id = p_viewer_id AND counted = 1 AND ended_at IS NULL AND expires_at > p_now;
       RETURN;
     END IF;
     INSERT INTO playback_sessions (id, content_id, created_at, expires_at, viewer_id, device, max_height, counted, renewed_at)
     VALUES (p_id, p_content_id, p_now, p_expires_at, p_viewer_id, p_device, p_max_height, 1, p_now);
   END $$;`,
];
