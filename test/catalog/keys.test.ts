import t from 'tap';
import { randomBytes } from 'node:crypto';
import { KeyStore } from '../../src/catalog/keys.js';
import { LocalKeySource } from '../../src/drm/keys.js';
import { onEachEngine } from '../helpers/catalog.js';

onEachEngine(t, 'keys are sealed at rest and come back only under the right master key and row', async (t, catalog) => {
  const { db } = catalog;
  const master = randomBytes(32);
  const store = new KeyStore(db, master);
  const key = await store.getOrCreate(new LocalKeySource(), 'title-a', 0, 'cenc');
  t.ok(Buffer.from((await store.getOrCreate(new LocalKeySource(), 'title-a', 0, 'cenc')).key).equals(Buffer.from(key.key)), 'the same key is returned once made');

  const row = db.prepare('SELECT * FROM content_keys WHERE content_id = ?').get('title-a') as { sealed: Buffer; kid: string };
  t.notOk(row.sealed.includes(Buffer.from(key.key)), 'the stored bytes do not contain the key');
  t.equal(row.kid, Buffer.from(key.kid).toString('hex'), 'the KID (public) stays readable');

  // A sealed row copied to other content does not open there.
  db.prepare(`INSERT INTO content_keys SELECT 'title-b', period, kid, protection, sealed, nonce, tag, pssh, created_at FROM content_keys WHERE content_id = 'title-a'`).run();
  t.throws(() => store.get('title-b', 0), /Unsupported state or unable to authenticate data/);
  t.throws(() => new KeyStore(db, randomBytes(32)).get('title-a', 0), /unable to authenticate/, 'another master key cannot open it');
  store.remove('title-a');
  t.equal(store.get('title-a', 0), null, 'keys go with their content');
});
