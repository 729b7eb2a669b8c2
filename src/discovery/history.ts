import type { Db } from '../catalog/database.js';
import { bulkInsert } from '../catalog/sql.js';

/** Where a viewer is in one title, from the heartbeats of their sessions. */
export type WatchEntry = {
  contentId: string;
  positionMs: number;
  durationMs: number | null;
  /** Played time, summed over sessions (seeking does not count). */
  watchedMs: number;
  finished: boolean;
  updatedAt: number;
};

/** A player's report: a heartbeat or the end of a session. */
export type ProgressReport = {
  sessionId: string;
  viewerId: string;
  contentId: string;
  positionMs: number | null;
  state: 'playing' | 'paused' | 'buffering' | null;
  /** The title's length; null for live streams (which have no resume point). */
  durationMs: number | null;
  /** The session ended with this report. */
  ended: boolean;
};

/**
 * Near the end counts as finished: the last 5 % (end credits), or the last 10 s of a short
 * title. A finished title leaves continue watching (its next episode takes its place).
 */
export function isFinished(positionMs: number, durationMs: number | null): boolean {
  if (durationMs === null || durationMs <= 0) return false;
  return positionMs >= durationMs - Math.max(durationMs * 0.05, Math.min(10_000, durationMs * 0.5));
}

type Row = { content_id: string; position_ms: number; duration_ms: number | null; watched_ms: number; finished: number; updated_at: number };

const hourOf = (ms: number) => Math.floor(ms / 3_600_000);

/**
 * Resume points and watch time, fed by heartbeats. A heartbeat must never wait for this: reports
 * change memory at once and are written in one transaction every few seconds (flush). Memory is
 * bounded: past `maxPending` viewers' entries waiting to be written, reports are dropped and
 * counted.
 */
export class WatchHistory {
  private readonly s;
  /** Entries changed since the last flush, by viewer and content. */
  private pending = new Map<string, WatchEntry & { viewerId: string }>();
  /** The same entries by viewer, so a home screen finds its viewer's without a scan. */
  private pendingByViewer = new Map<string, Map<string, WatchEntry>>();
  /** Watch time per content and hour not yet written. */
  private pendingTime = new Map<string, number>();
  /** When each running session last reported and in which state, to count played time between reports. */
  private readonly lastReport = new Map<string, { at: number; state: ProgressReport['state'] }>();
  dropped = 0;

  constructor(
    private readonly db: Db,
    private readonly options: { now: () => number; heartbeatSeconds: number; maxPending?: number },
  ) {
    this.s = {
      upsert: bulkInsert(
        db,
        'watch_history',
        { viewer_id: 'text', content_id: 'text', position_ms: 'bigint', duration_ms: 'bigint', watched_ms: 'bigint', finished: 'bigint', updated_at: 'bigint' },
        `ON CONFLICT (viewer_id, content_id) DO UPDATE SET position_ms = excluded.position_ms, duration_ms = excluded.duration_ms,
           watched_ms = excluded.watched_ms, finished = excluded.finished, updated_at = excluded.updated_at`,
      ),
      one: db.prepare(`SELECT * FROM watch_history WHERE viewer_id = ? AND content_id = ?`),
      ofViewer: db.prepare(`SELECT * FROM watch_history WHERE viewer_id = ? ORDER BY updated_at DESC LIMIT ?`),
      addTime: bulkInsert(db, 'watch_time', { content_id: 'text', hour: 'bigint', watched_ms: 'bigint' }, `ON CONFLICT (content_id, hour) DO UPDATE SET watched_ms = watch_time.watched_ms + excluded.watched_ms`),
      trending: db.prepare(`SELECT content_id, sum(watched_ms) AS watched FROM watch_time WHERE hour >= ? GROUP BY content_id ORDER BY watched DESC LIMIT ?`),
      coWatched: db.prepare(
        `SELECT other.content_id AS content_id, count(*) AS viewers FROM watch_history AS mine
           JOIN watch_history AS other ON other.viewer_id = mine.viewer_id AND other.content_id != mine.content_id
          WHERE mine.content_id = @contentId AND (mine.finished = 1 OR mine.watched_ms >= @least) AND (other.finished = 1 OR other.watched_ms >= @least)
          GROUP BY other.content_id ORDER BY viewers DESC, other.content_id LIMIT @limit`,
      ),
      pruneTime: db.prepare(`DELETE FROM watch_time WHERE hour < ?`),
    };
  }

  private key = (viewerId: string, contentId: string) => `${viewerId}\n${contentId}`;

  /** Where this viewer is in this content, reports not yet written included. */
  entry(viewerId: string, contentId: string): WatchEntry | null {
    const pending = this.pending.get(this.key(viewerId, contentId));
    if (pending) return pending;
    // Every session start asks: the viewer's recent entries (cached until their next report) answer
    // most; only a viewer with a longer history than that costs a query.
    const recent = this.recent(viewerId, 100);
    const known = recent.find((entry) => entry.contentId === contentId);
    if (known || recent.length < 100) return known ?? null;
    const row = this.s.one.get(viewerId, contentId) as Row | undefined;
    return row ? entryOf(row) : null;
  }

  /** Viewers' recent entries as last read, until their next report (every home screen asks). */
  private readonly recentCache = new Map<string, Map<number, WatchEntry[]>>();

  /** The viewer's entries, most recent first. */
  recent(viewerId: string, limit = 50): WatchEntry[] {
    const mine = this.recentCache.get(viewerId) ?? new Map<number, WatchEntry[]>();
    const cached = mine.get(limit);
    if (cached) return cached;
    const entries = this.readRecent(viewerId, limit);
    if (this.recentCache.size >= 50_000) this.recentCache.clear();
    mine.set(limit, entries);
    this.recentCache.set(viewerId, mine);
    return entries;
  }

  private readRecent(viewerId: string, limit: number): WatchEntry[] {
    const byContent = new Map<string, WatchEntry>();
    for (const row of this.s.ofViewer.all(viewerId, limit) as Row[]) byContent.set(row.content_id, entryOf(row));
    for (const entry of this.pendingByViewer.get(viewerId)?.values() ?? []) byContent.set(entry.contentId, entry);
    return [...byContent.values()].sort((a, b) => b.updatedAt - a.updatedAt).slice(0, limit);
  }

  /** Records a heartbeat or session end: the resume point, and played time since the last report. */
  report(report: ProgressReport): void {
    const now = this.options.now();
    const previous = this.lastReport.get(report.sessionId);
    if (report.ended) this.lastReport.delete(report.sessionId);
    else this.lastReport.set(report.sessionId, { at: now, state: report.state });
    // Played since the last report if the player said it was playing then; a silent gap counts
    // two intervals at most.
    const played = previous?.state === 'playing' ? Math.min(now - previous.at, 2 * this.options.heartbeatSeconds * 1000) : 0;
    if (played > 0) {
      const timeKey = `${report.contentId}\n${hourOf(now)}`;
      this.pendingTime.set(timeKey, (this.pendingTime.get(timeKey) ?? 0) + played);
    }
    if (report.positionMs === null || report.durationMs === null) return; // live: no resume point
    const key = this.key(report.viewerId, report.contentId);
    const known = this.pending.get(key) ?? this.entry(report.viewerId, report.contentId);
    if (!this.pending.has(key) && this.pending.size >= (this.options.maxPending ?? 100_000)) {
      this.dropped++;
      return;
    }
    const positionMs = Math.min(report.positionMs, report.durationMs);
    this.recentCache.delete(report.viewerId);
    const entry = {
      viewerId: report.viewerId,
      contentId: report.contentId,
      positionMs,
      durationMs: report.durationMs,
      watchedMs: (known?.watchedMs ?? 0) + played,
      finished: isFinished(positionMs, report.durationMs),
      updatedAt: now,
    };
    this.pending.set(key, entry);
    const mine = this.pendingByViewer.get(report.viewerId) ?? new Map<string, WatchEntry>();
    mine.set(report.contentId, entry);
    this.pendingByViewer.set(report.viewerId, mine);
  }

  /** Writes what changed since the last flush, in one transaction. */
  flush(): number {
    if (this.pending.size === 0 && this.pendingTime.size === 0) return 0;
    const entries = [...this.pending.values()];
    const times = [...this.pendingTime];
    this.pending = new Map();
    this.pendingByViewer = new Map();
    this.pendingTime = new Map();
    this.db.transaction(() => {
      this.s.upsert(
        entries.map((entry) => ({
          viewer_id: entry.viewerId,
          content_id: entry.contentId,
          position_ms: entry.positionMs,
          duration_ms: entry.durationMs,
          watched_ms: entry.watchedMs,
          finished: entry.finished ? 1 : 0,
          updated_at: entry.updatedAt,
        })),
      );
      this.s.addTime(
        times.map(([key, watched]) => {
          const [contentId, hour] = key.split('\n');
          return { content_id: contentId, hour: Number(hour), watched_ms: watched };
        }),
      );
    })();
    return entries.length;
  }

  /** Content by played time over the last `hours`, most watched first (written reports only). */
  trending(hours: number, limit: number): { contentId: string; watchedMs: number }[] {
    const since = hourOf(this.options.now()) - hours + 1;
    return (this.s.trending.all(since, limit) as { content_id: string; watched: number }[]).map((row) => ({ contentId: row.content_id, watchedMs: row.watched }));
  }

  /** Content that viewers who watched this one also watched (each finished, or watched at least `leastMs` of, both). */
  coWatched(contentId: string, limit: number, leastMs = 60_000): { contentId: string; viewers: number }[] {
    return (this.s.coWatched.all({ contentId, least: leastMs, limit }) as { content_id: string; viewers: number }[]).map((row) => ({ contentId: row.content_id, viewers: row.viewers }));
  }

  /** Forgets watch time older than `days` (trending looks at recent hours only). */
  prune(days: number): void {
    this.s.pruneTime.run(hourOf(this.options.now()) - days * 24);
  }
}

function entryOf(row: Row): WatchEntry {
  return { contentId: row.content_id, positionMs: row.position_ms, durationMs: row.duration_ms, watchedMs: row.watched_ms, finished: row.finished === 1, updatedAt: row.updated_at };
}
