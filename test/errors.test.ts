import t from 'tap';
import { readFileSync } from 'node:fs';
import { errorCatalog } from '../src/errors.js';

t.test('the README error table lists exactly the catalog, with the same statuses and meanings', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.+?) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  const catalog = Object.entries(errorCatalog).map(([code, entry]) => [code, entry.status, entry.meaning]);
  t.same(rows, catalog);
});

t.test('messages shown to clients never carry a server path, but keep URLs and ordinary slashes', async (t) => {
  const { hideServerPaths } = await import('../src/errors.js');
  t.equal(hideServerPaths("/tmp/weir-test-x/titles/abc/source: Invalid data found"), '<file>: Invalid data found');
  t.equal(hideServerPaths("open '/var/lib/weir/titles/1/work/encoded/v0.mp4' failed"), "open '<file>' failed");
  t.equal(hideServerPaths('see https://example.com/a/b and audio/video, 1/2'), 'see https://example.com/a/b and audio/video, 1/2');
});
