import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/catalog/database.js';

/** A fresh catalog database in its own data dir, closed and removed when the test ends. */
export function freshCatalog(t: Test): Db {
  const dir = mkdtempSync(join(tmpdir(), 'weir-catalog-'));
  const db = openDatabase(dir);
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}
