import type { Db } from '../catalog/database.js';
import type { SqlStatement } from '../catalog/sql.js';

/** One searchable thing: a title, a series or a live stream. */
export type SearchDoc = { ref: string; kind: 'title' | 'series' | 'live-stream'; name: string; people: string[]; genres: string[]; synopsis: string };

export type SearchHit = { ref: string; kind: SearchDoc['kind'] };

type DocRow = { ref: string; kind: string; name: string; people: string; genres: string; synopsis: string };

const signature = (doc: { kind: string; name: string; people: string; genres: string; synopsis: string }) => `${doc.kind}\u0000${doc.name}\u0000${doc.people}\u0000${doc.genres}\u0000${doc.synopsis}`;

/** Lower case without diacritics ("Café" → "cafe"), as FTS5's unicode61 tokenizer folds. */
function fold(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
}

/**
 * The words of a query, each matched as a prefix ("stra" finds "Strange"): letters and digits
 * only, so nothing a viewer types is read as query syntax (FTS5's or tsquery's). At most 8 words of 40 letters.
 */
export function queryWords(query: string): string[] {
  return (query.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 8).map((word) => word.slice(0, 40));
}

/**
 * Full-text search over names, people, genres and synopses (SQLite FTS5 ranked by bm25, or
 * PostgreSQL tsvectors ranked by ts_rank, with the name weighing most). The index follows the discovery read model: `sync` writes only the
 * documents that changed since the last call, so a catalog change costs a few rows, not a rebuild.
 */
export class SearchIndex {
  private readonly s: {
    all: SqlStatement;
    remove: SqlStatement;
    upsert: (row: DocRow) => void;
    match: (words: readonly string[], scope: 'head' | 'all', limit: number) => SearchHit[];
  };
  /** What the index holds, by ref (loaded once; kept in step with every write). */
  private indexed: Map<string, string> | null = null;

  constructor(private readonly db: Db) {
    const all = db.prepare(`SELECT ref, kind, name, people, genres, synopsis FROM search_docs`);
    const remove = db.prepare(`DELETE FROM search_docs WHERE ref = ?`);
    if (db.engine === 'postgres') {
      // PostgreSQL has no FTS5: two weighted tsvectors (name, people, genres; and all of it),
      // built from text folded here as unicode61 folds it (lower case, no diacritics).
      const upsert = db.prepare(
        `INSERT INTO search_docs (ref, kind, name, people, genres, synopsis, head, doc)
         VALUES (@ref, @kind, @name, @people, @genres, @synopsis,
           setweight(to_tsvector('simple', @foldedName), 'A') || setweight(to_tsvector('simple', @foldedPeople), 'B') || setweight(to_tsvector('simple', @foldedGenres), 'C'),
           setweight(to_tsvector('simple', @foldedName), 'A') || setweight(to_tsvector('simple', @foldedPeople), 'B') || setweight(to_tsvector('simple', @foldedGenres), 'C') || setweight(to_tsvector('simple', @foldedSynopsis), 'D'))
         ON CONFLICT (ref) DO UPDATE SET kind = excluded.kind, name = excluded.name, people = excluded.people, genres = excluded.genres,
           synopsis = excluded.synopsis, head = excluded.head, doc = excluded.doc`,
      );
      // Weights D, C, B, A in the proportions bm25 is given on SQLite (1, 2, 4, 10).
      const ranked = (column: 'head' | 'doc') =>
        db.prepare(
          `SELECT ref, kind FROM search_docs, to_tsquery('simple', ?) AS q WHERE ${column} @@ q ORDER BY ts_rank('{0.1, 0.2, 0.4, 1.0}', ${column}, q) DESC, name LIMIT ?`,
        );
      const matchHead = ranked('head');
      const matchAll = ranked('doc');
      this.s = {
        all,
        remove,
        upsert: (row: DocRow) => upsert.run({ ...row, foldedName: fold(row.name), foldedPeople: fold(row.people), foldedGenres: fold(row.genres), foldedSynopsis: fold(row.synopsis) }),
        match: (words: readonly string[], scope: 'head' | 'all', limit: number) =>
          (scope === 'head' ? matchHead : matchAll).all(words.map((word) => `${fold(word)}:*`).join(' & '), limit) as SearchHit[],
      };
      return;
    }
    const upsert = db.prepare(
      `INSERT INTO search_docs (ref, kind, name, people, genres, synopsis) VALUES (@ref, @kind, @name, @people, @genres, @synopsis)
       ON CONFLICT (ref) DO UPDATE SET kind = excluded.kind, name = excluded.name, people = excluded.people, genres = excluded.genres, synopsis = excluded.synopsis`,
    );
    const match = db.prepare(
      `SELECT d.ref AS ref, d.kind AS kind FROM search_fts JOIN search_docs AS d ON d.id = search_fts.rowid
        WHERE search_fts MATCH ? ORDER BY bm25(search_fts, 10.0, 4.0, 2.0, 1.0), d.name LIMIT ?`,
    );
    this.s = {
      all,
      remove,
      upsert: (row: DocRow) => upsert.run(row),
      match: (words: readonly string[], scope: 'head' | 'all', limit: number) => {
        const terms = words.map((word) => `"${word}"*`).join(' ');
        return match.all(scope === 'head' ? `{name people genres} : (${terms})` : terms, limit) as SearchHit[];
      },
    };
  }

  /** Makes the index hold exactly these documents; returns how many rows were written. */
  sync(docs: Iterable<SearchDoc>): number {
    const seen = new Set<string>();
    const list: SearchDoc[] = [];
    for (const doc of docs) {
      seen.add(doc.ref);
      list.push(doc);
    }
    return this.update(list, [...this.loaded().keys()].filter((ref) => !seen.has(ref)));
  }

  private loaded(): Map<string, string> {
    this.indexed ??= new Map((this.s.all.all() as DocRow[]).map((row) => [row.ref, signature(row)]));
    return this.indexed;
  }

  /** Writes these documents (those that changed) and removes these refs; returns how many rows were written. */
  update(docs: Iterable<SearchDoc>, removedRefs: readonly string[]): number {
    const indexed = this.loaded();
    const writes: DocRow[] = [];
    for (const doc of docs) {
      const row: DocRow = { ref: doc.ref, kind: doc.kind, name: doc.name, people: doc.people.join(' · '), genres: doc.genres.join(' · '), synopsis: doc.synopsis };
      if (indexed.get(doc.ref) !== signature(row)) writes.push(row);
    }
    const removed = removedRefs.filter((ref) => indexed.has(ref));
    if (writes.length === 0 && removed.length === 0) return 0;
    this.db.transaction(() => {
      for (const row of writes) this.s.upsert(row);
      for (const ref of removed) this.s.remove.run(ref);
    })();
    for (const row of writes) indexed.set(row.ref, signature(row));
    for (const ref of removed) indexed.delete(ref);
    return writes.length + removed.length;
  }

  /**
   * Documents matching every word as a prefix, best first. Names, people and genres are searched
   * first; synopses only when those give fewer than `limit` (a short prefix matches most synopses
   * of a big catalog, and ranking them all cost 30 ms a search at 100 000 titles).
   */
  search(words: readonly string[], limit: number): SearchHit[] {
    if (words.length === 0) return [];
    const hits = this.s.match(words, 'head', limit).map((row) => ({ ref: row.ref, kind: row.kind }));
    if (hits.length >= limit) return hits;
    const seen = new Set(hits.map((hit) => hit.ref));
    for (const row of this.s.match(words, 'all', limit)) {
      if (hits.length >= limit) break;
      if (!seen.has(row.ref)) hits.push({ ref: row.ref, kind: row.kind });
    }
    return hits;
  }
}
