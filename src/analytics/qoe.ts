import type { Db } from '../catalog/database.js';
import { bulkInsert } from '../catalog/sql.js';

/**
 * What a player reports with its heartbeats. `t` is the player's own clock in ms (any origin):
 * only differences between its reports are used.
 */
export type PlayerEvent =
  | { type: 'startup'; ms: number }
  | { type: 'rebuffer_start'; t: number }
  | { type: 'rebuffer_end'; t: number }
  | { type: 'bitrate'; bitrate: number }
  | { type: 'error'; code: string; fatal: boolean }
  | { type: 'exit_before_start' };

export const playerEventTypes = ['startup', 'rebuffer_start', 'rebuffer_end', 'bitrate', 'error', 'exit_before_start'] as const;

/** What Common Media Client Data (CTA-5004) on a media request tells, as far as QoE needs. */
export type CmcdReport = { bitrateKbps: number | null; objectType: string | null; bufferStarved: boolean };

/** One playback session's quality of experience. */
export type QoeSession = {
  sessionId: string;
  contentId: string;
  viewerId: string | null;
  family: string | null;
  planId: string | null;
  startedAt: number;
  endedAt: number | null;
  /** Play intent to first frame, as the player measured it; null until it played. */
  startupMs: number | null;
  rebufferCount: number;
  rebufferMs: number;
  playedMs: number;
  /** Bits played: bitrate × time played, summed between reports. */
  bitsPlayed: number;
  errors: number;
  /** A fatal error before the first frame (a video start failure). */
  startFailed: boolean;
  /** A fatal error after the first frame (a playback failure). */
  playbackFailed: boolean;
  /** The viewer left before the first frame without a fatal error. */
  exitedBeforeStart: boolean;
  cmcdRequests: number;
  cmcdStarved: number;
  lastBitrate: number | null;
};

type Live = QoeSession & { lastReportAt: number; lastSeenAt: number; lastState: string | null; rebufferSince: { t: number; at: number } | null; bitrateFromPlayer: boolean; writtenAt: number | null };

export type QoeGroupBy = 'title' | 'family' | 'plan' | 'none';

export type QoeFigures = {
  attempts: number;
  startupMs: { p50: number | null; p95: number | null };
  rebufferingRatio: number | null;
  averageBitrate: number | null;
  videoStartFailures: number;
  exitsBeforeVideoStart: number;
  playbackFailures: number;
  /** The most sessions running at one moment within the group's time span. */
  peakConcurrentViewers: number;
};

type Row = {
  session_id: string;
  content_id: string;
  viewer_id: string | null;
  family: string | null;
  plan_id: string | null;
  started_at: number;
  ended_at: number | null;
  startup_ms: number | null;
  rebuffer_count: number;
  rebuffer_ms: number;
  played_ms: number;
  bits_played: number;
  errors: number;
  start_failed: number;
  playback_failed: number;
  exited_before_start: number;
  cmcd_requests: number;
  cmcd_starved: number;
  last_bitrate: number | null;
};

const maxStallMs = 600_000;

const percentile = (sorted: number[], p: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);

/**
 * Quality of experience per playback session, from player events, heartbeats and CMCD. The write
 * path never slows playback: everything lands in memory, and changed sessions are written in one
 * transaction every few seconds: ended ones at once, running ones at most every
 * `progressEveryMs` (30 s), so a session is written once when it ends within that time (most
 * short sessions; a start costs no write of its own) and a long one twice a minute, not at every
 * heartbeat. Reading figures, and stopping, write everything first. Memory is bounded: past
 * `maxSessions` running sessions (or `maxEventsPerReport` events in one report) the excess is
 * dropped and counted.
 */
export class QoeRecorder {
  private readonly s;
  private readonly live = new Map<string, Live>();
  private readonly dirty = new Set<string>();
  dropped = 0;

  constructor(
    private readonly db: Db,
    private readonly options: { now: () => number; heartbeatSeconds: number; maxSessions?: number; maxEventsPerReport?: number; progressEveryMs?: number },
  ) {
    this.s = {
      upsert: bulkInsert(
        db,
        'qoe_sessions',
        {
          session_id: 'text',
          content_id: 'text',
          viewer_id: 'text',
          family: 'text',
          plan_id: 'text',
          started_at: 'bigint',
          ended_at: 'bigint',
          startup_ms: 'bigint',
          rebuffer_count: 'bigint',
          rebuffer_ms: 'bigint',
          played_ms: 'bigint',
          bits_played: 'double precision',
          errors: 'bigint',
          start_failed: 'bigint',
          playback_failed: 'bigint',
          exited_before_start: 'bigint',
          cmcd_requests: 'bigint',
          cmcd_starved: 'bigint',
          last_bitrate: 'bigint',
        },
        `ON CONFLICT (session_id) DO UPDATE SET ended_at = excluded.ended_at, startup_ms = excluded.startup_ms, rebuffer_count = excluded.rebuffer_count,
           rebuffer_ms = excluded.rebuffer_ms, played_ms = excluded.played_ms, bits_played = excluded.bits_played, errors = excluded.errors,
           start_failed = excluded.start_failed, playback_failed = excluded.playback_failed, exited_before_start = excluded.exited_before_start,
           cmcd_requests = excluded.cmcd_requests, cmcd_starved = excluded.cmcd_starved, last_bitrate = excluded.last_bitrate`,
      ),
      one: db.prepare(`SELECT * FROM qoe_sessions WHERE session_id = ?`),
      between: db.prepare(`SELECT * FROM qoe_sessions WHERE started_at < @to AND (ended_at IS NULL OR ended_at >= @from) ORDER BY started_at`),
      prune: db.prepare(`DELETE FROM qoe_sessions WHERE started_at < ?`),
    };
  }

  /** A session started (an attempt to play). */
  started(session: { id: string; contentId: string; viewerId: string | null; family: string | null; planId: string | null; startedAt: number }): void {
    if (this.live.size >= (this.options.maxSessions ?? 200_000)) {
      this.dropped++;
      return;
    }
    this.live.set(session.id, {
      sessionId: session.id,
      contentId: session.contentId,
      viewerId: session.viewerId,
      family: session.family,
      planId: session.planId,
      startedAt: session.startedAt,
      endedAt: null,
      startupMs: null,
      rebufferCount: 0,
      rebufferMs: 0,
      playedMs: 0,
      bitsPlayed: 0,
      errors: 0,
      startFailed: false,
      playbackFailed: false,
      exitedBeforeStart: false,
      cmcdRequests: 0,
      cmcdStarved: 0,
      lastBitrate: null,
      lastReportAt: session.startedAt,
      lastSeenAt: session.startedAt,
      writtenAt: null,
      lastState: null,
      rebufferSince: null,
      bitrateFromPlayer: false,
    });
    this.dirty.add(session.id);
  }

  /** A heartbeat: played time since the last one (at the bitrate then), the player's state and events. */
  heartbeat(sessionId: string, report: { state: string; bitrate?: number | undefined; events?: readonly PlayerEvent[] | undefined }): void {
    const session = this.live.get(sessionId);
    if (!session) return;
    const now = this.options.now();
    if (session.lastState === 'playing') this.play(session, Math.min(now - session.lastReportAt, 2 * this.options.heartbeatSeconds * 1000));
    session.lastReportAt = now;
    session.lastSeenAt = now;
    session.lastState = report.state;
    if (report.bitrate !== undefined) this.setBitrate(session, report.bitrate, true);
    const events = report.events ?? [];
    const limit = this.options.maxEventsPerReport ?? 100;
    if (events.length > limit) this.dropped += events.length - limit;
    for (const event of events.slice(0, limit)) this.apply(session, event, now);
    this.dirty.add(sessionId);
  }

  /** CMCD on a media request of this session. */
  cmcd(sessionId: string, report: CmcdReport): void {
    const session = this.live.get(sessionId);
    if (!session) return;
    session.cmcdRequests++;
    session.lastSeenAt = this.options.now();
    if (report.bufferStarved) session.cmcdStarved++;
    // The encoded bitrate of video objects, unless the player reports its own.
    if (report.bitrateKbps !== null && (report.objectType === 'v' || report.objectType === 'av') && !session.bitrateFromPlayer) this.setBitrate(session, report.bitrateKbps * 1000, false);
    this.dirty.add(sessionId);
  }

  /** The session stopped (or lapsed): what has not started by now exited before it started. */
  ended(sessionId: string, at = this.options.now()): void {
    const session = this.live.get(sessionId);
    if (!session || session.endedAt !== null) return;
    if (session.lastState === 'playing') this.play(session, Math.min(at - session.lastReportAt, 2 * this.options.heartbeatSeconds * 1000));
    if (session.rebufferSince) this.stall(session, Math.min(at - session.rebufferSince.at, maxStallMs));
    if (session.startupMs === null && !session.startFailed) session.exitedBeforeStart = true;
    session.endedAt = at;
    this.dirty.add(sessionId);
  }

  private play(session: Live, ms: number): void {
    if (ms <= 0) return;
    session.playedMs += ms;
    if (session.lastBitrate !== null) session.bitsPlayed += (session.lastBitrate * ms) / 1000;
  }

  private stall(session: Live, ms: number): void {
    session.rebufferCount++;
    session.rebufferMs += Math.max(0, ms);
    session.rebufferSince = null;
  }

  private setBitrate(session: Live, bitrate: number, fromPlayer: boolean): void {
    session.lastBitrate = bitrate;
    if (fromPlayer) session.bitrateFromPlayer = true;
  }

  private apply(session: Live, event: PlayerEvent, now: number): void {
    switch (event.type) {
      case 'startup':
        session.startupMs ??= event.ms;
        break;
      case 'rebuffer_start':
        session.rebufferSince ??= { t: event.t, at: now };
        break;
      case 'rebuffer_end':
        if (session.rebufferSince) this.stall(session, Math.min(event.t - session.rebufferSince.t, maxStallMs));
        break;
      case 'bitrate':
        this.setBitrate(session, event.bitrate, true);
        break;
      case 'error':
        session.errors++;
        if (event.fatal && session.startupMs === null) session.startFailed = true;
        else if (event.fatal) session.playbackFailed = true;
        break;
      case 'exit_before_start':
        if (session.startupMs === null && !session.startFailed) session.exitedBeforeStart = true;
        break;
    }
  }

  /**
   * Writes the sessions that changed, in one transaction: ended ones, and running ones not
   * written for `progressEveryMs` (every one when `all`); forgets ended ones and lapsed ones.
   */
  flush(all = false): number {
    const now = this.options.now();
    const lapse = 2 * this.options.heartbeatSeconds * 1000;
    const progressEveryMs = this.options.progressEveryMs ?? 30_000;
    // A session neither heartbeating nor fetching media for two intervals has lapsed (as its lease).
    for (const session of this.live.values()) if (session.endedAt === null && now - session.lastSeenAt > lapse) this.ended(session.sessionId, session.lastSeenAt + lapse);
    if (this.dirty.size === 0) return 0;
    const written: Live[] = [];
    for (const id of this.dirty) {
      const session = this.live.get(id);
      if (!session) {
        this.dirty.delete(id);
        continue;
      }
      if (!all && session.endedAt === null && now - (session.writtenAt ?? session.startedAt) < progressEveryMs) continue;
      written.push(session);
      session.writtenAt = now;
      this.dirty.delete(id);
    }
    this.s.upsert(
      written.map((session) => ({
        session_id: session.sessionId,
        content_id: session.contentId,
        viewer_id: session.viewerId,
        family: session.family,
        plan_id: session.planId,
        started_at: session.startedAt,
        ended_at: session.endedAt,
        startup_ms: session.startupMs,
        rebuffer_count: session.rebufferCount,
        rebuffer_ms: session.rebufferMs,
        played_ms: session.playedMs,
        bits_played: session.bitsPlayed,
        errors: session.errors,
        start_failed: session.startFailed ? 1 : 0,
        playback_failed: session.playbackFailed ? 1 : 0,
        exited_before_start: session.exitedBeforeStart ? 1 : 0,
        cmcd_requests: session.cmcdRequests,
        cmcd_starved: session.cmcdStarved,
        last_bitrate: session.lastBitrate,
      })),
    );
    for (const session of written) if (session.endedAt !== null) this.live.delete(session.sessionId);
    return written.length;
  }

  session(sessionId: string): QoeSession | null {
    this.flush(true);
    const row = this.s.one.get(sessionId) as Row | undefined;
    return row ? sessionOf(row) : null;
  }

  /** QoE figures of the sessions running within [from, to), grouped, and by time bucket if asked. */
  figures(from: number, to: number, by: QoeGroupBy, bucketMs: number | null): { group: string | null; bucketStart: number | null; figures: QoeFigures }[] {
    this.flush(true);
    const sessions = (this.s.between.all({ from, to }) as Row[]).map(sessionOf);
    const groups = new Map<string, { group: string | null; bucketStart: number | null; sessions: QoeSession[] }>();
    for (const session of sessions) {
      const group = by === 'title' ? session.contentId : by === 'family' ? session.family : by === 'plan' ? session.planId : null;
      const bucketStart = bucketMs === null ? null : Math.floor(Math.max(session.startedAt, from) / bucketMs) * bucketMs;
      const key = `${group ?? ''}\n${bucketStart ?? ''}`;
      const entry = groups.get(key) ?? { group: by === 'none' ? null : (group ?? 'unknown'), bucketStart, sessions: [] };
      entry.sessions.push(session);
      groups.set(key, entry);
    }
    return [...groups.values()].map(({ group, bucketStart, sessions: list }) => ({ group, bucketStart, figures: figuresOf(list) }));
  }

  /** Forgets sessions that started more than `days` ago. */
  prune(days: number): void {
    this.s.prune.run(this.options.now() - days * 86_400_000);
  }
}

function figuresOf(sessions: QoeSession[]): QoeFigures {
  const startups = sessions.flatMap((s) => (s.startupMs === null ? [] : [s.startupMs])).sort((a, b) => a - b);
  const played = sessions.reduce((sum, s) => sum + s.playedMs, 0);
  const stalled = sessions.reduce((sum, s) => sum + s.rebufferMs, 0);
  const bits = sessions.reduce((sum, s) => sum + s.bitsPlayed, 0);
  const playedWithBitrate = sessions.filter((s) => s.bitsPlayed > 0).reduce((sum, s) => sum + s.playedMs, 0);
  // Peak concurrency: sweep the starts and ends in time order.
  const moments = sessions.flatMap((s) => [
    { at: s.startedAt, step: 1 },
    { at: s.endedAt ?? Infinity, step: -1 },
  ]);
  moments.sort((a, b) => a.at - b.at || a.step - b.step);
  let running = 0;
  let peak = 0;
  for (const moment of moments) peak = Math.max(peak, (running += moment.step));
  return {
    attempts: sessions.length,
    startupMs: { p50: percentile(startups, 50), p95: percentile(startups, 95) },
    rebufferingRatio: played + stalled > 0 ? stalled / (played + stalled) : null,
    averageBitrate: playedWithBitrate > 0 ? Math.round((bits * 1000) / playedWithBitrate) : null,
    videoStartFailures: sessions.filter((s) => s.startFailed).length,
    exitsBeforeVideoStart: sessions.filter((s) => s.exitedBeforeStart).length,
    playbackFailures: sessions.filter((s) => s.playbackFailed).length,
    peakConcurrentViewers: peak,
  };
}

function sessionOf(row: Row): QoeSession {
  return {
    sessionId: row.session_id,
    contentId: row.content_id,
    viewerId: row.viewer_id,
    family: row.family,
    planId: row.plan_id,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    startupMs: row.startup_ms,
    rebufferCount: row.rebuffer_count,
    rebufferMs: row.rebuffer_ms,
    playedMs: row.played_ms,
    bitsPlayed: row.bits_played,
    errors: row.errors,
    startFailed: row.start_failed === 1,
    playbackFailed: row.playback_failed === 1,
    exitedBeforeStart: row.exited_before_start === 1,
    cmcdRequests: row.cmcd_requests,
    cmcdStarved: row.cmcd_starved,
    lastBitrate: row.last_bitrate,
  };
}
