import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assign, setup } from 'xstate';
import { ActorRegistry } from '../../src/actors/actor-registry.js';
import { openDatabase } from '../../src/catalog/database.js';
import { SnapshotStore } from '../../src/catalog/snapshots.js';
import { createLogger } from '../../src/logger.js';
import { onEachEngine, type TestCatalog } from '../helpers/catalog.js';

/** A counter machine: COUNT changes the snapshot, PING changes nothing. */
const counter = setup({ types: { context: {} as { count: number }, events: {} as { type: 'COUNT' } | { type: 'PING' } | { type: 'DELETE' }, input: {} as { from: number } } }).createMachine({
  context: ({ input }) => ({ count: input.from }),
  initial: 'counting',
  on: { DELETE: '.deleted' },
  states: { counting: { on: { COUNT: { actions: assign({ count: ({ context }) => context.count + 1 }) }, PING: {} } }, deleted: { type: 'final' } },
});

/** A registry over a real SQLite file, its views in a table of their own; the view write can be made to fail. */
function setupRegistry(t: Test, catalog: TestCatalog) {
  const db = catalog.db;
  db.exec('CREATE TABLE counter_views (id TEXT PRIMARY KEY, count INTEGER)');
  const writeView = db.prepare('INSERT INTO counter_views (id, count) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET count = excluded.count');
  const control = { failViews: false, viewWrites: 0 };
  const snapshots = new SnapshotStore(db);
  const newRegistry = () => new ActorRegistry(
    {
      kind: 'counter',
      machine: counter,
      machineVersion: 1,
      viewOf: (snapshot) => ({ state: String(snapshot.value), count: snapshot.context.count }),
      saveView: (id, view) => {
        writeView.run(id, view.count);
        control.viewWrites++;
        if (control.failViews) throw new Error('the catalog refused the view');
      },
    },
    snapshots,
    createLogger('silent'),
  );
  const registry = newRegistry();
  const storedCount = (id: string) => (snapshots.listKind('counter').find((s) => s.actorId === id)?.snapshot as { context: { count: number } } | undefined)?.context.count;
  const viewCount = (id: string) => (db.prepare('SELECT count FROM counter_views WHERE id = ?').get(id) as { count: number } | undefined)?.count;
  return { registry, newRegistry, control, storedCount, viewCount, snapshots };
}

onEachEngine(t, 'a snapshot and its catalog view are written in one transaction: when the view fails, neither changes', async (t, catalog) => {
  const { registry, control, storedCount, viewCount } = setupRegistry(t, catalog);
  const actor = registry.start('a', { input: { from: 0 } });
  registry.send('a', { type: 'COUNT' });
  t.same([storedCount('a'), viewCount('a')], [1, 1], 'both hold the first count');
  control.failViews = true;
  registry.send('a', { type: 'COUNT' });
  t.same([storedCount('a'), viewCount('a')], [1, 1], 'the snapshot was rolled back with the failed view');
  t.equal(actor.getSnapshot().status, 'active', 'the actor goes on');
  control.failViews = false;
  registry.send('a', { type: 'COUNT' });
  t.same([storedCount('a'), viewCount('a')], [3, 3], 'the next change writes both again');
});

onEachEngine(t, 'events that change nothing are not written again; a restored actor carries on from its snapshot without writing it again', async (t, catalog) => {
  const { registry, newRegistry, control, storedCount } = setupRegistry(t, catalog);
  registry.start('b', { input: { from: 10 } });
  registry.send('b', { type: 'COUNT' });
  const writes = control.viewWrites;
  for (let i = 0; i < 5; i++) registry.send('b', { type: 'PING' });
  t.equal(control.viewWrites, writes, 'five heartbeats, no writes');
  registry.stopAll();
  const restarted = newRegistry();
  const [stored] = restarted.stored();
  t.equal(stored?.id, 'b', 'the stored snapshot names its actor');
  const beforeRestore = control.viewWrites;
  restarted.start('b', { input: { from: 0 }, snapshot: stored!.snapshot });
  t.equal(control.viewWrites, beforeRestore, 'bringing it back writes nothing: what is stored is what it has');
  restarted.send('b', { type: 'COUNT' });
  t.equal(storedCount('b'), 12, 'counting went on from 11, not from the input');
  restarted.stopAll();
});

onEachEngine(t, 'removing an actor deletes its snapshot and what goes with it together, and announces it', async (t, catalog) => {
  const { registry, snapshots } = setupRegistry(t, catalog);
  registry.start('c', { input: { from: 0 } });
  const announced: unknown[] = [];
  registry.events.on('change', (id: string, view: unknown) => announced.push([id, view]));
  let removedAlongside = false;
  registry.remove('c', () => (removedAlongside = true));
  t.ok(removedAlongside);
  t.same(snapshots.listKind('counter'), [], 'no snapshot is left');
  t.same(announced, [['c', null]]);
  t.notOk(registry.has('c'));
});
