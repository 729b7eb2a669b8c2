import t from 'tap';
import { createMachine } from 'xstate';
import { ActorRegistry } from '../../src/actors/actor-registry.js';
import { ActorOwners } from '../../src/catalog/actor-owners.js';
import { SnapshotStore } from '../../src/catalog/snapshots.js';
import { createLogger } from '../../src/logger.js';
import { openTestCatalog, postgresUnavailable } from '../helpers/catalog.js';

const skip = postgresUnavailable() ?? false;

t.test('an actor is held by one node at a time; a node that stops renewing loses it to the next claim, and cannot take it back', { skip }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const nodeA = new ActorOwners(catalog.db, 'node-a', 1000);
  const nodeB = new ActorOwners(catalog.reopen(), 'node-b', 1000);
  nodeA.renew(0);
  nodeB.renew(0);
  t.ok(nodeA.claim('title-1', 0), 'A takes a free actor');
  t.notOk(nodeB.claim('title-1', 500), 'B cannot while A is alive');
  t.equal(nodeB.owner('title-1', 500), 'node-a');
  nodeA.renew(900); // alive until 1900
  nodeB.renew(900);
  t.notOk(nodeB.claim('title-1', 1500), 'so B still cannot at 1500');
  t.notOk(nodeB.anyLapsed(1500));
  nodeB.renew(1800); // B goes on renewing; A goes silent
  t.ok(nodeB.anyLapsed(2000), "A's lease lapsed at 1900");
  t.equal(nodeB.owner('title-1', 2000), null, 'and nobody holds its actor');
  t.ok(nodeB.claim('title-1', 2000), 'B takes it over');
  nodeA.renew(2100);
  t.notOk(nodeA.claim('title-1', 2100), 'A, back, cannot take it back');
  t.equal(nodeA.owner('title-1', 2100), 'node-b');
  nodeB.release('title-1');
  t.ok(nodeA.claim('title-1', 2200), 'a released actor is free at once');
  nodeA.claim('title-2', 2200);
  nodeA.releaseAll();
  t.equal(nodeB.owner('title-1', 2300), null, 'a clean stop releases everything');
  t.equal(nodeB.owner('title-2', 2300), null);
  t.ok(nodeB.anyLapsed(2300), 'as lapsed, so the other nodes take them over on their next pass');
  t.ok(nodeB.claim('title-2', 2300));
  t.equal(nodeB.purgeLapsed(2300), 1, 'what nobody took over is purged after that pass');
  t.notOk(nodeB.anyLapsed(2300));
  t.same(catalog.db.prepare('SELECT node_id FROM weir_nodes ORDER BY node_id').all(), [{ node_id: 'node-b' }], 'and so is the lapsed node, now that it runs nothing');
  t.equal((catalog.db.prepare('SELECT count(*) AS n FROM weir_nodes').get() as { n: number }).n, 1, 'renewing is one row per node, however many actors it runs');
});

t.test('a registry refuses to change an actor another live node runs, naming that node', { skip }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const machine = createMachine({ id: 'idle', initial: 'idle', states: { idle: { on: { DELETE: '.gone' }, initial: 'on', states: { on: {}, gone: {} } } } });
  const owners = { a: new ActorOwners(catalog.db, 'node-a', 60_000), b: new ActorOwners(catalog.reopen(), 'node-b', 60_000) };
  owners.a.renew(Date.now());
  owners.b.renew(Date.now());
  const registryOn = (node: 'a' | 'b') =>
    new ActorRegistry({ kind: 'thing', machine, machineVersion: 1, viewOf: () => ({ state: 'idle' }), saveView: () => undefined }, new SnapshotStore(catalog.db), createLogger('silent'), owners[node]);
  const onA = registryOn('a');
  const onB = registryOn('b');
  onA.start('thing-1', { input: undefined });
  t.ok(onA.claim('thing-1'), 'the node that started it holds it');
  t.notOk(onB.claim('thing-1'), 'the other cannot restore it');
  t.throws(() => onB.assertOwnHere('thing-1'), { code: 'OWNED_BY_ANOTHER_NODE', details: { node: 'node-a' } });
  t.doesNotThrow(() => onA.assertOwnHere('thing-1'), 'its own node may change it');
  t.doesNotThrow(() => onB.assertOwnHere('nobody-runs-this'), 'an actor nobody runs may be handled anywhere');
  onA.remove('thing-1', () => undefined);
  t.ok(onB.claim('thing-1'), 'a removed actor is released');
});

t.test('claiming many actors at once takes the free and the lapsed ones, never those of a live node, over chunks of a thousand', { skip }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const nodeA = new ActorOwners(catalog.db, 'node-a', 1000);
  const nodeB = new ActorOwners(catalog.reopen(), 'node-b', 1000);
  const nodeC = new ActorOwners(catalog.reopen(), 'node-c', 1000);
  nodeA.renew(0);
  nodeB.renew(0);
  nodeC.renew(0);
  const ids = Array.from({ length: 2500 }, (_, i) => `title-${i}`);
  t.equal(nodeA.claimAll(ids.slice(0, 1000), 0).size, 1000, 'A takes a thousand free actors');
  t.ok(nodeB.claim('title-1500', 0), 'B takes one more');
  nodeB.renew(900); // B alive until 1900; A lapses at 1000
  nodeC.renew(900);
  const held = nodeC.claimAll([...ids, 'title-7'], 1500);
  t.equal(held.size, 2499, 'C holds every actor but the one live B runs (a repeated id is claimed once)');
  t.notOk(held.has('title-1500'));
  t.equal(nodeC.owner('title-7', 1500), 'node-c', "including A's, lapsed");
  t.same(nodeA.claimAll(['title-7', 'title-2600'], 1500), new Set(['title-2600']), 'and A, back, gets only what is free');
});
