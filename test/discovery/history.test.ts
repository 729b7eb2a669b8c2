import t, { type Test } from 'tap';
import { isFinished, WatchHistory, type ProgressReport } from '../../src/discovery/history.js';
import { onEachEngine, type TestCatalog } from '../helpers/catalog.js';

function fresh(t: Test, catalog: TestCatalog, maxPending?: number) {
  const db = catalog.db;
  let now = Date.parse('2026-12-02T12:00:00Z');
  const history = new WatchHistory(db, { now: () => now, heartbeatSeconds: 30, ...(maxPending === undefined ? {} : { maxPending }) });
  const rows = () => (db.prepare('SELECT count(*) AS n FROM watch_history').get() as { n: number }).n;
  return { history, rows, advance: (ms: number) => (now += ms) };
}

const report = (extra: Partial<ProgressReport>): ProgressReport => ({ sessionId: 's1', viewerId: 'v1', contentId: 'film', positionMs: 0, state: 'playing', durationMs: 600_000, ended: false, ...extra });

t.test('near the end counts as finished: the last 5 %, or the last 10 s of a short title', async (t) => {
  t.notOk(isFinished(5_600_000, 6_000_000));
  t.ok(isFinished(5_700_000, 6_000_000), '95 % of 100 minutes');
  t.ok(isFinished(50_000, 60_000), 'the last 10 s of a minute');
  t.notOk(isFinished(49_000, 60_000));
  t.ok(isFinished(3_900, 4_000), 'the second half of a clip shorter than 20 s');
  t.notOk(isFinished(10_000, null), 'live has no end');
});

onEachEngine(t, 'a report changes memory at once and reaches the database on flush, many in one write', async (t, catalog) => {
  const { history, rows, advance } = fresh(t, catalog);
  history.report(report({ positionMs: 1000 }));
  advance(30_000);
  history.report(report({ positionMs: 31_000 }));
  history.report(report({ sessionId: 's2', viewerId: 'v2', positionMs: 5000 }));
  t.equal(rows(), 0, 'nothing written while heartbeats arrive');
  t.match(history.entry('v1', 'film'), { positionMs: 31_000, watchedMs: 30_000, finished: false }, 'but the resume point is known at once');
  t.equal(history.flush(), 2);
  t.equal(rows(), 2);
  t.match(history.entry('v1', 'film'), { positionMs: 31_000, watchedMs: 30_000 }, 'and read back after');
});

onEachEngine(t, 'played time counts only while playing, at most two intervals between reports; live has none to resume', async (t, catalog) => {
  const { history, advance } = fresh(t, catalog);
  history.report(report({ positionMs: 0 }));
  advance(30_000);
  history.report(report({ positionMs: 30_000, state: 'paused' }));
  t.equal(history.entry('v1', 'film')?.watchedMs, 30_000, 'played until the pause');
  advance(600_000);
  history.report(report({ positionMs: 30_000 }));
  t.equal(history.entry('v1', 'film')?.watchedMs, 30_000, 'ten minutes paused are not watching');
  advance(10 * 60_000);
  history.report(report({ positionMs: 90_000 }));
  t.equal(history.entry('v1', 'film')?.watchedMs, 90_000, 'a silent gap after playing counts for two intervals at most');
  history.report(report({ sessionId: 'live', contentId: 'channel', durationMs: null, positionMs: 12_000 }));
  t.equal(history.entry('v1', 'channel'), null);
});

onEachEngine(t, 'a burst past the bound is dropped and counted, never held', async (t, catalog) => {
  const { history } = fresh(t, catalog, 2);
  for (const viewerId of ['a', 'b', 'c', 'd']) history.report(report({ viewerId, sessionId: viewerId, positionMs: 1000 }));
  t.equal(history.dropped, 2);
  t.equal(history.flush(), 2);
  history.report(report({ viewerId: 'c', sessionId: 'c', positionMs: 1000 }));
  t.equal(history.flush(), 1, 'after a flush there is room again');
});

onEachEngine(t, 'a flush writes every viewer that reported and every hour of watch time, however many', async (t, catalog) => {
  const { history, rows, advance } = fresh(t, catalog);
  const viewers = 2500; // more than one batch of a thousand
  for (let i = 0; i < viewers; i++) history.report(report({ sessionId: `s${i}`, viewerId: `v${i}`, contentId: `film-${i % 3}`, positionMs: 1000 }));
  advance(20_000);
  for (let i = 0; i < viewers; i++) history.report(report({ sessionId: `s${i}`, viewerId: `v${i}`, contentId: `film-${i % 3}`, positionMs: 21_000 + i }));
  t.equal(history.flush(), viewers);
  t.equal(rows(), viewers, 'a row per viewer');
  t.same(history.entry('v2499', 'film-0'), { contentId: 'film-0', positionMs: 23_499, durationMs: 600_000, watchedMs: 20_000, finished: false, updatedAt: Date.parse('2026-12-02T12:00:20Z') }, 'each with its own position');
  t.same(history.trending(1, 5).map((entry) => entry.watchedMs), [834 * 20_000, 833 * 20_000, 833 * 20_000], 'and the watch time of each title summed over its viewers');
});
