import t, { type Test } from 'tap';
import { QoeRecorder } from '../../src/analytics/qoe.js';
import { onEachEngine, type TestCatalog } from '../helpers/catalog.js';

function fresh(t: Test, catalog: TestCatalog, limits: { maxSessions?: number; maxEventsPerReport?: number } = {}) {
  const db = catalog.db;
  const start = Date.parse('2026-12-02T12:00:00Z');
  let now = start;
  const qoe = new QoeRecorder(db, { now: () => now, heartbeatSeconds: 10, ...limits });
  const begin = (id: string, extra: { contentId?: string; family?: string; planId?: string } = {}) =>
    qoe.started({ id, contentId: extra.contentId ?? 'film', viewerId: 'v', family: extra.family ?? 'web', planId: extra.planId ?? 'standard', startedAt: now });
  return { qoe, begin, start, db, advance: (ms: number) => (now += ms) };
}

onEachEngine(t, 'a session records its startup, stalls from start and end events, and bits played at each bitrate', async (t, catalog) => {
  const { qoe, begin, advance } = fresh(t, catalog);
  begin('s1');
  qoe.heartbeat('s1', { state: 'playing', bitrate: 1_000_000, events: [{ type: 'startup', ms: 850 }] });
  advance(10_000);
  qoe.heartbeat('s1', { state: 'playing', events: [{ type: 'rebuffer_start', t: 5000 }, { type: 'rebuffer_end', t: 6500 }, { type: 'bitrate', bitrate: 3_000_000 }] });
  advance(10_000);
  qoe.heartbeat('s1', { state: 'paused' });
  advance(30_000);
  qoe.ended('s1');
  t.match(qoe.session('s1'), { startupMs: 850, rebufferCount: 1, rebufferMs: 1500, playedMs: 20_000, bitsPlayed: 40_000_000, exitedBeforeStart: false, startFailed: false });
  const [all] = qoe.figures(Date.parse('2026-12-02T00:00:00Z'), Date.parse('2026-12-03T00:00:00Z'), 'none', null);
  t.match(all!.figures, { attempts: 1, startupMs: { p50: 850, p95: 850 }, averageBitrate: 2_000_000, videoStartFailures: 0, exitsBeforeVideoStart: 0, playbackFailures: 0, peakConcurrentViewers: 1 });
  t.equal(all!.figures.rebufferingRatio, 1500 / 21_500, 'stall time over watch time plus stall time');
});

onEachEngine(t, 'failures are told apart: before the first frame, after it, and leaving before it', async (t, catalog) => {
  const { qoe, begin } = fresh(t, catalog);
  begin('vsf');
  qoe.heartbeat('vsf', { state: 'buffering', events: [{ type: 'error', code: 'manifestLoadError', fatal: true }] });
  begin('failed-later');
  qoe.heartbeat('failed-later', { state: 'playing', events: [{ type: 'startup', ms: 500 }, { type: 'error', code: 'bufferStalledError', fatal: false }, { type: 'error', code: 'fragLoadError', fatal: true }] });
  begin('ebvs');
  qoe.ended('ebvs');
  for (const id of ['vsf', 'failed-later']) qoe.ended(id);
  const [all] = qoe.figures(0, Date.parse('2027-01-01T00:00:00Z'), 'none', null);
  t.match(all!.figures, { attempts: 3, videoStartFailures: 1, playbackFailures: 1, exitsBeforeVideoStart: 1 });
  t.equal(qoe.session('failed-later')?.errors, 2);
});

onEachEngine(t, 'figures group by title, family and plan, in time buckets; peak concurrency counts overlaps', async (t, catalog) => {
  const { qoe, begin, advance, start } = fresh(t, catalog);
  begin('a', { contentId: 'film', family: 'web' });
  begin('b', { contentId: 'film', family: 'roku' });
  advance(3_600_000);
  begin('c', { contentId: 'show', family: 'roku' });
  for (const id of ['a', 'b', 'c']) qoe.heartbeat(id, { state: 'playing', events: [{ type: 'startup', ms: id === 'c' ? 2000 : 1000 }] });
  const range = [start - 1, start + 7_200_000] as const;
  const byTitle = qoe.figures(...range, 'title', null);
  t.same(byTitle.map((g) => [g.group, g.figures.attempts]).sort(), [['film', 2], ['show', 1]]);
  t.same(qoe.figures(...range, 'family', null).map((g) => [g.group, g.figures.attempts]).sort(), [['roku', 2], ['web', 1]]);
  const hourly = qoe.figures(...range, 'none', 3_600_000);
  t.same(hourly.map((g) => [new Date(g.bucketStart!).toISOString(), g.figures.attempts]), [['2026-12-02T12:00:00.000Z', 2], ['2026-12-02T13:00:00.000Z', 1]]);
  t.equal(qoe.figures(...range, 'none', null)[0]!.figures.peakConcurrentViewers, 3, 'all three still running');
});

onEachEngine(t, 'a session that stops reporting lapses after two intervals; CMCD keeps it seen and gives the bitrate when the player does not', async (t, catalog) => {
  const { qoe, begin, advance } = fresh(t, catalog);
  begin('quiet');
  begin('cmcd-only');
  qoe.heartbeat('cmcd-only', { state: 'playing', events: [{ type: 'startup', ms: 700 }] });
  for (let i = 0; i < 5; i++) {
    advance(10_000);
    qoe.cmcd('cmcd-only', { bitrateKbps: 1200, objectType: 'v', bufferStarved: i === 2 });
    qoe.cmcd('cmcd-only', { bitrateKbps: 128, objectType: 'a', bufferStarved: false });
  }
  qoe.flush();
  t.match(qoe.session('quiet'), { exitedBeforeStart: true }, 'silent for two intervals: ended, never started');
  t.not(qoe.session('quiet')?.endedAt, null);
  t.match(qoe.session('cmcd-only'), { endedAt: null, cmcdRequests: 10, cmcdStarved: 1, lastBitrate: 1_200_000 }, 'video objects give the bitrate; audio does not');
});

onEachEngine(t, 'bursts are bounded: sessions past the limit and events past the per-report limit are dropped and counted', async (t, catalog) => {
  const { qoe, begin } = fresh(t, catalog, { maxSessions: 2, maxEventsPerReport: 3 });
  for (const id of ['a', 'b', 'c']) begin(id);
  t.equal(qoe.dropped, 1);
  qoe.heartbeat('a', { state: 'playing', events: Array.from({ length: 5 }, () => ({ type: 'bitrate' as const, bitrate: 1000 })) });
  t.equal(qoe.dropped, 3);
  qoe.heartbeat('c', { state: 'playing' });
  t.equal(qoe.session('c'), null, 'a dropped session is not recorded');
});

onEachEngine(t, 'a session is written when it ends, a running one at most every 30 s, and everything when figures are read', async (t, catalog) => {
  const { qoe, begin, db, advance } = fresh(t, catalog);
  const stored = (id: string) => db.prepare('SELECT played_ms, ended_at FROM qoe_sessions WHERE session_id = ?').get(id) as { played_ms: number; ended_at: number | null } | undefined;
  begin('short');
  begin('long');
  for (const id of ['short', 'long']) qoe.heartbeat(id, { state: 'playing', events: [{ type: 'startup', ms: 500 }] });
  /** Heartbeats of the long session every 5 s, with the 5 s flush after each: how many sessions each flush wrote. */
  const play = (seconds: number) =>
    Array.from({ length: seconds / 5 }, () => {
      advance(5_000);
      qoe.heartbeat('long', { state: 'playing' });
      return qoe.flush();
    });
  advance(5_000);
  qoe.ended('short');
  t.equal(qoe.flush(), 1, 'the 5 s flush writes the ended session only');
  t.match(stored('short'), { played_ms: 5_000 });
  t.equal(stored('long'), undefined, 'a running session 5 s old waits');
  t.same(play(60), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0], 'a running session is written every 30 s of its life (at 30 and 60 s), not at every heartbeat');
  t.match(stored('long'), { played_ms: 60_000, ended_at: null });
  play(10);
  t.match(stored('long'), { played_ms: 60_000 }, 'the last 15 s are in memory');
  qoe.figures(0, Number.MAX_SAFE_INTEGER, 'none', null);
  t.match(stored('long'), { played_ms: 75_000 }, 'reading figures writes what is pending first');
  play(5);
  t.equal(qoe.flush(true), 1, 'a flush of everything (at stop) writes it at once');
  t.match(stored('long'), { played_ms: 80_000 });
});

onEachEngine(t, 'a flush writes every session that changed, however many', async (t, catalog) => {
  const { qoe, begin, db, advance } = fresh(t, catalog);
  const sessions = 2500; // more than one batch of a thousand
  for (let i = 0; i < sessions; i++) begin(`s${i}`);
  for (let i = 0; i < sessions; i++) qoe.heartbeat(`s${i}`, { state: 'playing', bitrate: 1_000_000 + i, events: [{ type: 'startup', ms: i }] });
  advance(5_000);
  for (let i = 0; i < sessions; i++) qoe.ended(`s${i}`);
  t.equal(qoe.flush(), sessions);
  const row = db.prepare('SELECT count(*) AS n, sum(startup_ms) AS startups, min(ended_at) AS first, max(ended_at) AS last FROM qoe_sessions').get() as { n: number; startups: number; first: number; last: number };
  t.same(row, { n: sessions, startups: (sessions * (sessions - 1)) / 2, first: row.last, last: Date.parse('2026-12-02T12:00:05Z') }, 'each with its own startup, all ended');
  t.match(qoe.session('s2499'), { startupMs: 2499, lastBitrate: 1_002_499, playedMs: 5_000 });
});
