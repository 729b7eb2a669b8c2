import t from 'tap';
import { listenForChanges } from '../../../src/catalog/postgres/changes.js';
import { createLogger } from '../../../src/logger.js';
import { openTestCatalog, postgresUnavailable } from '../../helpers/catalog.js';
import { waitUntil } from '../../helpers/wait.js';

t.test('committed changes are announced as table and key; a lost channel reconnects and says everything may be stale', { skip: postgresUnavailable() ?? false }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const applicationName = `weir changes ${catalog.url!.slice(-12)}`; // this test's listener alone
  const heard: string[] = [];
  let resyncs = 0;
  const listener = listenForChanges({ url: catalog.url!, log: createLogger('silent'), onChange: (table, key) => heard.push(`${table}:${key}`), onResync: () => resyncs++, retryMs: 50, applicationName });
  t.teardown(() => listener.stop());
  const db = catalog.db;
  await waitUntil(() => (db.prepare(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = ? AND query LIKE 'LISTEN%'`).get(applicationName) as { n: number }).n > 0, 'the listener listening');

  db.prepare(`INSERT INTO plans (id, name, max_streams, max_devices, max_height, packages, updated_at) VALUES ('gold', 'Gold', 3, 5, 2160, '[]', 1)`).run();
  db.transaction(() => {
    db.prepare(`INSERT INTO viewers (id, email, password_hash, created_at, updated_at) VALUES ('v1', 'a@example.com', 'x', 1, 1)`).run();
    db.prepare(`INSERT INTO viewer_devices (viewer_id, device_id, family, registered_at, last_seen_at) VALUES ('v1', 'tv', 'web', 1, 1)`).run();
    db.prepare(`DELETE FROM plans WHERE id = 'gold'`).run();
  })();
  await waitUntil(() => heard.length >= 4, 'four changes heard');
  t.same(heard, ['plans:gold', 'viewers:v1', 'viewer_devices:v1/tv', 'plans:gold'], 'each row once, keyed as the stores cache it, in commit order');

  const rolledBack = db.transaction(() => {
    db.prepare(`INSERT INTO plans (id, name, max_streams, max_devices, max_height, packages, updated_at) VALUES ('never', 'Never', 1, 1, 720, '[]', 1)`).run();
    throw new Error('rolled back');
  });
  t.throws(() => rolledBack());

  db.prepare(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?`).all(applicationName);
  await waitUntil(() => resyncs === 1, 'a resync after the reconnect');
  db.prepare(`UPDATE viewers SET display_name = 'A' WHERE id = 'v1'`).run();
  await waitUntil(() => heard.length >= 5, 'a change after the reconnect');
  t.same(heard.slice(4), ['viewers:v1'], 'changes are heard again, and the rolled-back insert never was');
});
