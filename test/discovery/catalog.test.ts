import t from 'tap';
import { DiscoveryCatalog, type Audience } from '../../src/discovery/catalog.js';
import { WatchHistory } from '../../src/discovery/history.js';
import { MetadataStore } from '../../src/discovery/metadata.js';
import { SearchIndex } from '../../src/discovery/search.js';
import { onEachEngine } from '../helpers/catalog.js';

onEachEngine(t, 'content appears when its window opens and leaves when it closes, with no catalog change in between', async (t, { db }) => {

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
    contentOf: (id) => (id in windows ? { kind: 'title' as const, id, name: id, createdAt: Object.keys(windows).indexOf(id), durationMs: 1000 } : null),
    metadata: new MetadataStore(db),
    search: new SearchIndex(db),
    history: new WatchHistory(db, { now: () => now, heartbeatSeconds: 30 }),
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

  // A title given a window later, then that window changed, then the title gone: the moments
  // follow each patch (the audience's set is good until the next one that is still counted).
  windows.later = { from: now + 60_000, until: null };
  catalog.changed('later');
  t.match(catalog.stamp(audience), new RegExp(`\\|${now + 60_000}\\|`), 'valid until the new title opens');
  windows.later = { from: now + 30_000, until: null };
  catalog.changed('later');
  t.match(catalog.stamp(audience), new RegExp(`\\|${now + 30_000}\\|`), 'its changed window replaces the old moment');
  delete windows.later;
  catalog.changed('later');
  t.match(catalog.stamp(audience), /\|Infinity\|/, 'gone: no moment of it is left');
  t.equal(rebuilt, 1, 'still built once');
});

onEachEngine(t, 'a title that becomes ready, changes or goes is patched into the read model, every audience and the search index, without a rebuild', async (t, { db }) => {

  const now = Date.parse('2026-12-02T12:00:00Z');
  const ready = new Map([
    ['old', { kind: 'title' as const, id: 'old', name: 'Old Harbour', createdAt: 1, durationMs: 1000 }],
    ['mid', { kind: 'title' as const, id: 'mid', name: 'Middle Road', createdAt: 2, durationMs: 1000 }],
  ]);
  const blocked = new Set<string>();
  let rebuilt = 0;
  const metadata = new MetadataStore(db);
  const catalog = new DiscoveryCatalog({
    content: () => {
      rebuilt++;
      return [...ready.values()];
    },
    contentOf: (id) => ready.get(id) ?? null,
    metadata,
    search: new SearchIndex(db),
    history: new WatchHistory(db, { now: () => now, heartbeatSeconds: 30 }),
    window: () => ({ from: null, until: null }),
    ratingOf: () => null,
    now: () => now,
  });
  metadata.onContentChange = (id) => catalog.changed(id);
  const everyone: Audience = { key: 'everyone', allows: (id) => !blocked.has(id), rentals: new Set() };
  const names = () => catalog.sharedRails(everyone).find((rail) => rail.id === 'new')!.items.map((entry) => (entry.kind === 'series' ? entry.series.name : entry.item.name));
  t.same(names(), ['Middle Road', 'Old Harbour']);

  ready.set('new', { kind: 'title', id: 'new', name: 'New Harbour', createdAt: 3, durationMs: 1000 });
  catalog.changed('new');
  t.same(names(), ['New Harbour', 'Middle Road', 'Old Harbour'], 'a title that became ready is first in New');
  t.same(catalog.search(everyone, 'harb', 10).items.map((entry) => (entry.kind === 'series' ? '' : entry.item.id)).sort(), ['new', 'old'], 'and found by search');

  metadata.put('mid', { synopsis: '', genres: ['Drama'], credits: [{ name: 'Ada Brennan', role: 'actor' }], releaseYear: 2020, seriesId: null, season: null, episode: null }, now);
  t.same(catalog.sharedRails(everyone).find((rail) => rail.id === 'genre:Drama')?.items.map((entry) => (entry.kind === 'series' ? '' : entry.item.id)), ['mid'], 'new metadata puts it in its genre rail');
  t.same(catalog.search(everyone, 'ada', 10).people.map((p) => p.name), ['Ada Brennan']);

  blocked.add('old');
  catalog.changed('old');
  t.notOk(catalog.allowed(everyone).has('old'), "an access change reaches the audience's set");
  ready.delete('new');
  catalog.changed('new');
  t.same(names(), ['Middle Road'], 'a title that is no longer ready leaves');
  t.same(catalog.search(everyone, 'harb', 10).items, [], 'and the search index');
  t.equal(rebuilt, 1, 'all of it without rebuilding the read model');
});
