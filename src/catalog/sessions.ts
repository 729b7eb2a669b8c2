import type { Db } from './database.js';

export type PlaybackSession = { id: string; contentId: string; createdAt: number; expiresAt: number };

/** Playback sessions: the record behind each token, for audit now and entitlements later. */
export class SessionStore {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      insert: db.prepare(`INSERT INTO playback_sessions (id, content_id, created_at, expires_at) VALUES (@id, @contentId, @createdAt, @expiresAt)`),
      prune: db.prepare(`DELETE FROM playback_sessions WHERE expires_at < ?`),
    };
  }

  create(session: PlaybackSession): void {
    this.statements.insert.run(session);
  }

  pruneExpired(now = Date.now()): number {
    return this.statements.prune.run(now).changes;
  }
}
