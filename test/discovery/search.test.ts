import t, { type Test } from 'tap';
import { queryWords, SearchIndex, type SearchDoc } from '../../src/discovery/search.js';
import { onEachEngine, type TestCatalog } from '../helpers/catalog.js';

function freshIndex(t: Test, catalog: TestCatalog): SearchIndex {
  const db = catalog.db;
  return new SearchIndex(db);
}

const doc = (ref: string, name: string, extra: Partial<SearchDoc> = {}): SearchDoc => ({ ref, kind: 'title', name, people: [], genres: [], synopsis: '', ...extra });

onEachEngine(t, 'syncing writes only the documents that changed, and removes those that left', async (t, catalog) => {
  const index = freshIndex(t, catalog);
  const docs = [doc('a', 'Strange Harbour'), doc('b', 'Night Train', { people: ['Jane Okafor'] }), doc('c', 'Café Society', { genres: ['Comedy'] })];
  t.equal(index.sync(docs), 3);
  t.equal(index.sync(docs), 0, 'nothing changed, nothing written');
  t.equal(index.sync([docs[0]!, doc('b', 'Night Train', { people: ['Jane Okafor', 'Otto Lind'] })]), 2, 'one changed, one removed');
  t.same(index.search(queryWords('otto'), 10), [{ ref: 'b', kind: 'title' }]);
  t.same(index.search(queryWords('cafe'), 10), [], 'a removed document is not found');
});

onEachEngine(t, 'every word matches as a prefix, accents aside, and names rank above synopses', async (t, catalog) => {
  const index = freshIndex(t, catalog);
  index.sync([doc('synopsis', 'Quiet Days', { synopsis: 'A harbour town in winter.' }), doc('name', 'Harbour Lights'), doc('accents', 'Café Müller')]);
  t.same(index.search(queryWords('harb'), 10).map((hit) => hit.ref), ['name', 'synopsis']);
  t.same(index.search(queryWords('harb lig'), 10).map((hit) => hit.ref), ['name'], 'every word must match');
  t.same(index.search(queryWords('cafe mull'), 10).map((hit) => hit.ref), ['accents'], 'diacritics are folded');
});

onEachEngine(t, 'what a viewer types is never read as query syntax', async (t, catalog) => {
  const index = freshIndex(t, catalog);
  index.sync([doc('a', 'Harbour Lights')]);
  t.same(queryWords('harb" OR name:* NEAR(x'), ['harb', 'or', 'name', 'near', 'x']);
  t.same(index.search(queryWords('"harb*'), 10).map((hit) => hit.ref), ['a'], 'quotes and stars are dropped, not parsed');
  t.same(index.search(queryWords('* - ( )'), 10), [], 'a query of punctuation finds nothing (and does not throw)');
});
