import t from 'tap';
import { readFileSync } from 'node:fs';
import { errorCatalog } from '../src/errors.js';

t.test('the README error table lists exactly the catalog, with the same statuses and meanings', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.+?) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  const catalog = Object.entries(errorCatalog).map(([code, entry]) => [code, entry.status, entry.meaning]);
  t.same(rows, catalog);
});
