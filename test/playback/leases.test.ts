import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/catalog/database.js';
import { LeaseTable, type Lease } from '../../src/playback/leases.js';

/** A clock the test moves by hand. */
const manualClock = (start = Date.parse('2026-12-02T12:00:00Z')) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

function openFresh(t: Test): { dir: string; db: Db } {
  const dir = mkdtempSync(join(tmpdir(), 'weir-leases-'));
  const db = openDatabase(dir);
  t.teardown(async () => {
    await new Promise((resolve) => setImmediate(resolve)); // the starts of the last turn are written
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, db };
}

const device = (id: string) => ({ id, family: 'web', model: null });
const leaseFor = (id: string, viewerId: string | null, startedAt: number): Omit<Lease, 'renewedAt' | 'endedAt' | 'positionMs' | 'state'> => ({
  id,
  contentId: 'title-1',
  viewerId,
  device: viewerId ? device(`${id}-device`) : null,
  maxHeight: 720,
  counted: viewerId !== null,
  startedAt,
});

t.test('a viewer at the limit is refused with the sessions that hold the slots, and a stopped session frees its slot at once', async (t) => {
  const { db } = openFresh(t);
  const clock = manualClock();
  const leases = new LeaseTable(db, { clock, heartbeatSeconds: 30 });
  t.ok('lease' in leases.start(leaseFor('a', 'viewer-1', clock.now()), 2));
  t.ok('lease' in leases.start(leaseFor('b', 'viewer-1', clock.now()), 2));
  const third = leases.start(leaseFor('c', 'viewer-1', clock.now()), 2);
  t.ok('holders' in third && third.holders.map((l) => l.id).sort().join() === 'a,b', 'refused, naming the two holders');
  t.ok('lease' in leases.start(leaseFor('x', 'viewer-2', clock.now()), 2), "another viewer's slots are their own");
  t.ok('lease' in leases.start(leaseFor('anon', null, clock.now()), 2), 'anonymous sessions take no slot');
  leases.end('a', 'viewer-1');
  t.equal(leases.alive('a'), null, 'a stopped session is not alive');
  t.ok('lease' in leases.start(leaseFor('c', 'viewer-1', clock.now()), 2), 'its slot is free');
});

t.test('a lease that misses two heartbeat intervals expires and frees its slot; a heartbeat or media request in time keeps it', async (t) => {
  const { db } = openFresh(t);
  const clock = manualClock();
  const leases = new LeaseTable(db, { clock, heartbeatSeconds: 30 });
  leases.start(leaseFor('kept', 'viewer-1', clock.now()), 3);
  leases.start(leaseFor('touched', 'viewer-1', clock.now()), 3);
  const dropped = leases.start(leaseFor('dropped', 'viewer-1', clock.now()), 3);
  if ('persisted' in dropped) await dropped.persisted;
  clock.advance(45_000);
  leases.heartbeat('kept', 'viewer-1', { positionMs: 45_000, state: 'playing' });
  leases.touch(leases.alive('touched')!);
  clock.advance(20_000); // 65 s after the start: past two intervals for the silent one
  t.ok(leases.alive('kept'), 'the heartbeating lease lives');
  t.ok(leases.alive('touched'), 'so does the one whose player fetched media');
  t.equal(leases.alive('dropped'), null, 'the silent one expired');
  t.same(leases.active('viewer-1').map((l) => l.id).sort(), ['kept', 'touched'], 'and holds no slot');
  t.throws(() => leases.heartbeat('dropped', 'viewer-1', { positionMs: 0, state: 'playing' }), { code: 'PLAYBACK_SESSION_ENDED' }, 'a late heartbeat cannot revive it');
  t.throws(() => leases.heartbeat('kept', 'viewer-2', { positionMs: 0, state: 'playing' }), { code: 'PLAYBACK_SESSION_NOT_FOUND' }, "nobody heartbeats another viewer's session");
  leases.sweep();
  const row = db.prepare('SELECT ended_at FROM playback_sessions WHERE id = ?').get('dropped') as { ended_at: number };
  t.equal(row.ended_at, clock.now() - 5_000, 'the sweep records when it lapsed (its last renewal plus two intervals)');
});

t.test('a restart neither frees nor loses slots: open leases come back with their heartbeats, stopped ones stay stopped', async (t) => {
  const { dir, db } = openFresh(t);
  const clock = manualClock();
  const before = new LeaseTable(db, { clock, heartbeatSeconds: 30 });
  before.start(leaseFor('a', 'viewer-1', clock.now()), 2);
  before.start(leaseFor('b', 'viewer-1', clock.now()), 2);
  before.start(leaseFor('gone', 'viewer-1', clock.now()), 3);
  before.end('gone', 'viewer-1'); // stopped before its start was even written
  const last = before.start(leaseFor('d', 'viewer-2', clock.now()), 2);
  if ('persisted' in last) await last.persisted; // starts of one turn share one commit
  clock.advance(10_000);
  before.heartbeat('a', 'viewer-1', { positionMs: 12_500, state: 'paused' });
  before.flush();

  // The server was down for a minute: longer than the expiry window.
  clock.advance(60_000);
  const reopened = openDatabase(dir);
  t.teardown(() => reopened.close());
  const after = new LeaseTable(reopened, { clock, heartbeatSeconds: 30 });
  t.equal(after.restore(), 3, 'the three open leases are back');
  t.same(after.active('viewer-1').map((l) => l.id).sort(), ['a', 'b'], 'holding their slots');
  t.match(after.alive('a'), { positionMs: 12_500, state: 'paused', device: device('a-device'), maxHeight: 720 }, 'with what the last heartbeat said');
  t.equal(after.alive('gone'), null, 'a stopped session stays stopped');
  t.ok('holders' in after.start(leaseFor('c', 'viewer-1', clock.now()), 2), 'the limit still counts them');
  clock.advance(61_000);
  t.same(after.active('viewer-1'), [], 'players that do not come back lose their slots one window after the restart');
});

t.test('starts in one turn of the event loop are written together, and a start that cannot be written is not granted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-leases-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(dir);
  const clock = manualClock();
  const leases = new LeaseTable(db, { clock, heartbeatSeconds: 30 });
  const first = leases.start(leaseFor('a', 'viewer-1', clock.now()), 2);
  const second = leases.start(leaseFor('b', 'viewer-1', clock.now()), 2);
  t.ok('persisted' in first && 'persisted' in second);
  if (!('persisted' in first) || !('persisted' in second)) return;
  t.equal(first.persisted, second.persisted, 'one commit for both');
  await first.persisted;
  t.equal((db.prepare('SELECT count(*) AS n FROM playback_sessions').get() as { n: number }).n, 2, 'both are written');

  const doomed = leases.start(leaseFor('c', 'viewer-2', clock.now()), 1);
  db.close(); // the write will fail
  if (!('persisted' in doomed)) return t.fail('the slot was free');
  await t.rejects(doomed.persisted, /could not be recorded/);
  t.equal(leases.alive('c'), null, 'the lease is not running');
  t.same(leases.active('viewer-2'), [], 'and its slot is free again');
});

t.test('sessions that ended more than 30 days ago are pruned from history; recent and running ones stay', async (t) => {
  const { db } = openFresh(t);
  const clock = manualClock();
  const leases = new LeaseTable(db, { clock, heartbeatSeconds: 30 });
  const started = (id: string) => {
    const taken = leases.start(leaseFor(id, null, clock.now()), null);
    if (!('lease' in taken)) throw new Error('refused');
    return taken.persisted;
  };
  await started('old');
  leases.end('old', null);
  clock.advance(20 * 86_400_000);
  await Promise.all([started('recent'), started('running')]);
  leases.end('recent', null);
  clock.advance(11 * 86_400_000);
  t.equal(leases.prune(), 1, 'one session ended 31 days ago');
  const ids = (db.prepare('SELECT id FROM playback_sessions ORDER BY id').all() as { id: string }[]).map((row) => row.id);
  t.same(ids, ['recent', 'running'], 'a session never ended (not yet swept) is not history');
});
