import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/catalog/database.js';
import { StreamCatalog } from '../../src/catalog/streams.js';
import { textSealer } from '../../src/secrets.js';

const stream = (id: string, srtPassphrase: string | null) => ({ id, name: id, mode: 'passthrough' as const, reconnectWindowSeconds: 5, archive: false, streamKey: `key-${id}`, srtPassphrase });

t.test('SRT passphrases are sealed in the SQLite file and read back only with the same master key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-catalog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const masterKey = randomBytes(32);
  const db = openDatabase(dir);
  const catalog = new StreamCatalog(db, textSealer(masterKey));
  catalog.create(stream('s1', 'a-passphrase-nobody-should-read'));
  catalog.create(stream('s2', null));
  catalog.resetKey('s2', 'a-new-stream-key', 'another-secret-passphrase');
  t.equal(catalog.get('s1')!.srtPassphrase, 'a-passphrase-nobody-should-read');
  t.equal(catalog.get('s2')!.srtPassphrase, 'another-secret-passphrase');
  const raw = db.prepare('SELECT srt_passphrase FROM live_streams ORDER BY id').all() as { srt_passphrase: string }[];
  t.ok(raw.every((row) => row.srt_passphrase.startsWith('sealed:v1:')), 'the column holds sealed values');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const file = readFileSync(join(dir, 'weir.db'), 'latin1');
  t.notOk(file.includes('nobody-should-read') || file.includes('another-secret'), 'neither passphrase appears anywhere in the database file');

  // A sealed value copied to another stream's row does not open there.
  db.prepare('UPDATE live_streams SET srt_passphrase = (SELECT srt_passphrase FROM live_streams WHERE id = ?) WHERE id = ?').run('s1', 's2');
  t.throws(() => catalog.get('s2'), /SRT passphrase of live stream s2 does not open/);
  t.throws(() => new StreamCatalog(db, textSealer(randomBytes(32))).get('s1'), /master key/, 'another master key cannot open it');
  db.close();
});

t.test('passphrases stored in the clear by an earlier version are sealed on the next start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-catalog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sealer = textSealer(randomBytes(32));
  const db = openDatabase(dir);
  new StreamCatalog(db, sealer).create(stream('old', null));
  db.prepare('UPDATE live_streams SET srt_passphrase = ? WHERE id = ?').run('plain-old-passphrase', 'old');
  const catalog = new StreamCatalog(db, sealer);
  t.equal(catalog.get('old')!.srtPassphrase, 'plain-old-passphrase', 'the passphrase still works');
  const raw = db.prepare('SELECT srt_passphrase FROM live_streams WHERE id = ?').get('old') as { srt_passphrase: string };
  t.ok(raw.srt_passphrase.startsWith('sealed:v1:'), 'and is now sealed');
  db.close();
});
