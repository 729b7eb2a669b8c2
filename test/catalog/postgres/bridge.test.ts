import t, { type Test } from 'tap';
import { PostgresDb } from '../../../src/catalog/postgres/database.js';
import { openTestCatalog, postgresUnavailable } from '../../helpers/catalog.js';
import { waitUntil } from '../../helpers/wait.js';

const skip = postgresUnavailable() ?? false;

/** A connection of its own to the test catalog, named so the test can cut exactly it. */
function connectionTo(t: Test, url: string, name: string) {
  const db = new PostgresDb({ url, applicationName: name });
  t.teardown(() => db.close());
  return db;
}

const backendOf = (db: PostgresDb) => (db.prepare('SELECT pg_backend_pid() AS pid').get() as { pid: number }).pid;
const answers = (db: PostgresDb) => {
  try {
    backendOf(db);
    return true;
  } catch {
    return false;
  }
};

t.test('a connection the server drops is made again for the next statements', { skip }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const name = `weir bridge ${Math.random().toString(36).slice(2)}`;
  const db = connectionTo(t, catalog.url!, name);
  const before = backendOf(db);
  catalog.db.prepare('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?').all(name);
  await waitUntil(() => answers(db), 'the bridge answering again');
  t.not(backendOf(db), before, 'on a new server connection');
  db.prepare(`INSERT INTO plans (id, name, max_streams, max_devices, max_height, packages, updated_at) VALUES ('after', 'After', 1, 1, 720, '[]', 1)`).run();
  t.same(catalog.db.prepare(`SELECT id FROM plans`).all(), [{ id: 'after' }], 'which writes as before');
});

t.test('a connection lost inside a transaction takes the transaction with it: nothing of it is written, nor run outside it', { skip }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const name = `weir bridge ${Math.random().toString(36).slice(2)}`;
  const db = connectionTo(t, catalog.url!, name);
  const insert = db.prepare(`INSERT INTO plans (id, name, max_streams, max_devices, max_height, packages, updated_at) VALUES (?, 'P', 1, 1, 720, '[]', 1)`);
  const cut = db.transaction(() => {
    insert.run('first');
    catalog.db.prepare('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?').all(name);
    insert.run('second');
  });
  t.throws(() => cut(), 'the transaction fails');
  await waitUntil(() => answers(db), 'the bridge answering again');
  t.same(catalog.db.prepare('SELECT id FROM plans').all(), [], 'neither insert was kept: the first went with the transaction, the second never ran alone');
  insert.run('later');
  t.same(catalog.db.prepare('SELECT id FROM plans').all(), [{ id: 'later' }], 'and the next statement works');
});

t.test('a connection that dies under a statement inside a transaction is usable again once that transaction is rolled back', { skip }, async (t) => {
  const catalog = openTestCatalog(t, 'postgres');
  const db = connectionTo(t, catalog.url!, `weir bridge ${Math.random().toString(36).slice(2)}`);
  const insert = db.prepare(`INSERT INTO plans (id, name, max_streams, max_devices, max_height, packages, updated_at) VALUES (?, 'P', 1, 1, 720, '[]', 1)`);
  // The backend ends itself, so the server's goodbye is the answer to the running statement
  // (not news between statements): the driver learns the socket closed only afterwards.
  const cut = db.transaction(() => {
    insert.run('first');
    db.prepare('SELECT pg_terminate_backend(pg_backend_pid())').get();
  });
  t.throws(() => cut(), { code: '57P01' }, 'the transaction fails with the reason the server gave, not with its rollback');
  t.ok(answers(db), 'the next statement is answered, on a new connection');
  t.same(catalog.db.prepare('SELECT id FROM plans').all(), [], 'and nothing of the transaction was kept');
});
