import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/catalog/database.js';
import { DiscoveryCatalog, type Audience } from '../../src/discovery/catalog.js';
import { WatchHistory } from '../../src/discovery/history.js';
import { MetadataStore } from '../../src/discovery/metadata.js';
import { SearchIndex } from '../../src/discovery/search.js';

t.test('content appears when its window opens and leaves when it closes, with no catalog change in between', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-discovery-'));
  const db = openDatabase(dir);
  t.teardown(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let now = Date.parse('2026-12-02T12:00:00Z');
  const windows: Record<string, { from: number | null; until: number | null }> = {
    always: { from: null, until: null },
    premiere: { from: now + 60_000, until: now + 120_000 },
  };
  let rebuilt = 0;
  const catalog = new DiscoveryCatalog({
    content: () => {
      rebuilt++;
      return Object.keys(windows).map((id, i) => ({ kind: 'title' as const, id, name: id, createdAt: i, durationMs: 1000 }));
    },
    metadata: new MetadataStore(db),
    search: new SearchIndex(db),
    history: new WatchHistory(db, { now: () => now, heartbeatSeconds: 30 }),
    version: () => 1,
    window: (id) => windows[id]!,
    ratingOf: () => null,
    now: () => now,
  });
  let judged = 0;
  const audience: Audience = {
    key: 'everyone',
    allows: (id, at) => {
      judged++;
      const { from, until } = windows[id]!;
      return (from === null || at >= from) && (until === null || at < until);
    },
    rentals: new Set(),
  };
  t.same([...catalog.allowed(audience)], ['always']);
  const judgedOnce = judged;
  catalog.allowed(audience);
  t.equal(judged, judgedOnce, 'the audience is judged once until something changes');
  now += 60_000;
  t.same([...catalog.allowed(audience)].sort(), ['always', 'premiere'], 'the window opened');
  now += 60_000;
  t.same([...catalog.allowed(audience)], ['always'], 'and closed');
  t.equal(rebuilt, 1, 'the read model itself was built once');
});
