import t, { type Test } from 'tap';
import { LeaseTable, type Lease } from '../../src/playback/leases.js';
import { spawn } from 'node:child_process';
import { onEachEngine, openTestCatalog, postgresUnavailable, type TestCatalog } from '../helpers/catalog.js';
import { waitUntil } from '../helpers/wait.js';

/** A clock the test moves by hand. */
const manualClock = (start = Date.parse('2026-12-02T12:00:00Z')) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

function openFresh(t: Test, catalog: TestCatalog): TestCatalog {
  // Before the catalog closes: the starts of the last turn are written.
  t.teardown(() => new Promise((resolve) => setImmediate(resolve)));
  return catalog;
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

onEachEngine(t, 'a viewer at the limit is refused with the sessions that hold the slots, and a stopped session frees its slot at once', async (t, catalog) => {
  const { db } = openFresh(t, catalog);
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

onEachEngine(t, 'a lease that misses two heartbeat intervals expires and frees its slot; a heartbeat or media request in time keeps it', async (t, catalog) => {
  const { db } = openFresh(t, catalog);
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

onEachEngine(t, 'a restart neither frees nor loses slots: open leases come back with their heartbeats, stopped ones stay stopped', async (t, catalog) => {
  const { db } = openFresh(t, catalog);
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
  const reopened = catalog.reopen();
  const after = new LeaseTable(reopened, { clock, heartbeatSeconds: 30 });
  t.equal(after.restore(), 3, 'the three open leases are back');
  t.same(after.active('viewer-1').map((l) => l.id).sort(), ['a', 'b'], 'holding their slots');
  t.match(after.alive('a'), { positionMs: 12_500, state: 'paused', device: device('a-device'), maxHeight: 720 }, 'with what the last heartbeat said');
  t.equal(after.alive('gone'), null, 'a stopped session stays stopped');
  t.ok('holders' in after.start(leaseFor('c', 'viewer-1', clock.now()), 2), 'the limit still counts them');
  clock.advance(61_000);
  t.same(after.active('viewer-1'), [], 'players that do not come back lose their slots one window after the restart');
});

onEachEngine(t, 'a flush writes every heartbeat since the last and a sweep every lapse, however many there are', async (t, catalog) => {
  const { db } = openFresh(t, catalog);
  const clock = manualClock();
  const leases = new LeaseTable(db, { clock, heartbeatSeconds: 30 });
  const count = 2500; // more than one batch of a thousand
  let last: Promise<void> = Promise.resolve();
  for (let i = 0; i < count; i++) {
    const started = leases.start(leaseFor(`s${i}`, null, clock.now()), null);
    if ('persisted' in started) last = started.persisted;
  }
  await last;
  clock.advance(10_000);
  for (let i = 0; i < count; i++) leases.heartbeat(`s${i}`, null, { positionMs: i, state: 'playing' });
  t.equal(leases.flush(), count);
  const written = db.prepare(`SELECT count(*) AS n FROM playback_sessions WHERE renewed_at = ? AND player_state = 'playing' AND position_ms = CAST(substr(id, 2) AS INTEGER)`).get(clock.now()) as { n: number };
  t.equal(written.n, count, 'each row with its own position');
  clock.advance(60_001);
  leases.sweep();
  const ended = db.prepare('SELECT count(*) AS n FROM playback_sessions WHERE ended_at = ?').get(clock.now() - 60_001 + 60_000) as { n: number };
  t.equal(ended.n, count, 'and each lapse recorded at its last renewal plus two intervals');
});

onEachEngine(t, 'starts in one turn of the event loop are written together, and a start that cannot be written is not granted', async (t, catalog) => {
  const { db } = catalog;
  const clock = manualClock();
  const leases = new LeaseTable(db, { clock, heartbeatSeconds: 30 });
  // Anonymous starts: on PostgreSQL a counted start is a transaction of its own (it locks its viewer across nodes).
  const first = leases.start(leaseFor('a', null, clock.now()), null);
  const second = leases.start(leaseFor('b', null, clock.now()), null);
  t.ok('persisted' in first && 'persisted' in second);
  if (!('persisted' in first) || !('persisted' in second)) return;
  t.equal(first.persisted, second.persisted, 'one commit for both');
  await first.persisted;
  t.equal((db.prepare('SELECT count(*) AS n FROM playback_sessions').get() as { n: number }).n, 2, 'both are written');

  db.close(); // the write will fail
  const doomed = leases.start(leaseFor('c', 'viewer-2', clock.now()), 1);
  if (!('persisted' in doomed)) return t.fail('the slot was free');
  await t.rejects(doomed.persisted, /could not be recorded/);
  t.equal(leases.alive('c'), null, 'the lease is not running');
  t.same(leases.active('viewer-2'), [], 'and its slot is free again');
});

onEachEngine(t, 'sessions that ended more than 30 days ago are pruned from history; recent and running ones stay', async (t, catalog) => {
  const { db } = openFresh(t, catalog);
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

t.test('with several nodes on PostgreSQL, starts racing from separate processes for the last slots admit exactly the limit', { skip: postgresUnavailable() ?? false }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const holder = catalog.reopen();
  // The gate: every process waits on this advisory lock, so all of them start at once when it opens.
  holder.exec('SELECT pg_advisory_lock(424242)');
  const processes = 4;
  const attemptsEach = 5;
  const limit = 3;
  const leasesModule = new URL('../../dist/src/playback/leases.js', import.meta.url).href;
  const databaseModule = new URL('../../dist/src/catalog/database.js', import.meta.url).href;
  const script = `
    const { LeaseTable } = await import(${JSON.stringify(leasesModule)});
    const { openDatabase } = await import(${JSON.stringify(databaseModule)});
    const db = openDatabase('/nonexistent', { url: process.env.URL });
    const leases = new LeaseTable(db, { clock: { now: Date.now }, heartbeatSeconds: 30 });
    db.exec('SELECT pg_advisory_lock_shared(424242)');
    let admitted = 0;
    for (let i = 0; i < ${attemptsEach}; i++) {
      const outcome = leases.start({ id: process.env.NODE_NAME + '-' + i, contentId: 'film', viewerId: 'viewer-1', device: { id: 'd', family: 'web', model: null }, maxHeight: null, counted: true, startedAt: Date.now() }, ${limit});
      if ('lease' in outcome) { await outcome.persisted; admitted++; }
    }
    db.close();
    process.stdout.write(String(admitted));
  `;
  const runs = Array.from({ length: processes }, (_, i) =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH, URL: catalog.url!, NODE_NAME: `node-${i}` }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk));
      child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`node-${i} exited ${code}: ${err}`))));
    }),
  );
  // Open the gate once every process waits at it.
  await waitUntil(() => (holder.prepare(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242 AND NOT granted`).get() as { n: number }).n === processes, 'every process at the gate');
  holder.exec('SELECT pg_advisory_unlock(424242)');
  const admitted = await Promise.all(runs);
  t.equal(admitted.reduce((sum, n) => sum + n, 0), limit, `${processes * attemptsEach} starts from ${processes} processes, exactly ${limit} admitted (${admitted.join(' + ')})`);
  t.equal((holder.prepare(`SELECT count(*) AS n FROM playback_sessions WHERE viewer_id = 'viewer-1' AND ended_at IS NULL`).get() as { n: number }).n, limit, 'and exactly that many are recorded');
});

t.test('with several nodes on PostgreSQL, a start waits for a start of the same viewer under way elsewhere, then counts what that one wrote', { skip: postgresUnavailable() ?? false }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const elsewhere = catalog.reopen();
  const name = `weir lease wait ${Math.random().toString(36).slice(2)}`;
  // Another node's start, half done: it holds the viewer's lock and has written its session, not yet committed.
  elsewhere.exec('BEGIN');
  elsewhere.prepare('SELECT pg_advisory_xact_lock(hashtext(?)) IS NULL AS locked').get('viewer-2');
  elsewhere.prepare(`INSERT INTO playback_sessions (id, content_id, created_at, expires_at, viewer_id, counted, renewed_at) VALUES ('elsewhere', 'film', 1, ?, 'viewer-2', 1, 1)`).run(Date.now() + 3_600_000);
  const leasesModule = new URL('../../dist/src/playback/leases.js', import.meta.url).href;
  const databaseModule = new URL('../../dist/src/catalog/database.js', import.meta.url).href;
  const script = `
    const { LeaseTable } = await import(${JSON.stringify(leasesModule)});
    const { openDatabase } = await import(${JSON.stringify(databaseModule)});
    const db = openDatabase('/nonexistent', { url: process.env.URL, applicationName: process.env.NAME });
    const leases = new LeaseTable(db, { clock: { now: Date.now }, heartbeatSeconds: 30 });
    const outcome = leases.start({ id: 'here', contentId: 'film', viewerId: 'viewer-2', device: null, maxHeight: null, counted: true, startedAt: Date.now() }, 1);
    db.close();
    process.stdout.write('holders' in outcome ? outcome.holders.map((lease) => lease.id).join(',') : 'admitted');
  `;
  const answer = new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH, URL: catalog.url!, NAME: name }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`the start exited ${code}: ${err}`))));
  });
  // Asked on a connection of its own: inside a transaction, PostgreSQL keeps showing the activity it first read.
  await waitUntil(() => (catalog.db.prepare(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = ? AND wait_event_type = 'Lock' AND query LIKE '%weir_start_counted%'`).get(name) as { n: number }).n === 1, 'the start waiting for the viewer');
  elsewhere.exec('COMMIT');
  t.equal(await answer, 'elsewhere', 'then, at a limit of one, it is refused, naming the session the other node recorded');
});

t.test('with several nodes on PostgreSQL, a session started on one is served by another, and a stop on either reaches the other at its next sweep', { skip: postgresUnavailable() ?? false }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const clock = manualClock();
  const nodeA = new LeaseTable(catalog.db, { clock, heartbeatSeconds: 30 });
  const nodeB = new LeaseTable(catalog.reopen(), { clock, heartbeatSeconds: 30 });
  const started = nodeA.start(leaseFor('s1', 'viewer-1', clock.now()), 1);
  if (!('persisted' in started)) return t.fail('the slot was free');
  await started.persisted;
  t.match(nodeB.alive('s1'), { id: 's1', viewerId: 'viewer-1', device: device('s1-device') }, 'node B reads the session the first time it sees it');
  t.ok('holders' in nodeB.start(leaseFor('s2', 'viewer-1', clock.now()), 1), "node B counts node A's session against the limit");

  // The player now talks to node B only: its heartbeats keep the session alive on A too.
  clock.advance(45_000);
  nodeB.heartbeat('s1', 'viewer-1', { positionMs: 45_000, state: 'playing' });
  clock.advance(20_000);
  nodeB.sweep();
  nodeA.sweep();
  t.ok(nodeA.alive('s1'), "A does not end a session B renewed: the sweep reads B's renewal first");

  nodeB.end('s1', 'viewer-1');
  t.ok(nodeA.alive('s1'), 'A still serves it until its next sweep');
  nodeA.sweep();
  t.equal(nodeA.alive('s1'), null, 'then refuses it');
  t.ok('lease' in nodeA.start(leaseFor('s3', 'viewer-1', clock.now()), 1), 'and the slot is free on both');
  t.equal(nodeB.alive('never-started'), null, 'an id nobody started is refused');
});
