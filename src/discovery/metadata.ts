import type { Db } from '../catalog/database.js';

/** Someone who made a title: cast or crew. */
export type Credit = { name: string; role: string };

/** What a device shows about a title or live stream beyond its name. */
export type ContentMetadata = {
  synopsis: string;
  genres: string[];
  credits: Credit[];
  releaseYear: number | null;
  /** An episode names its series, season and number; other content leaves these null. */
  seriesId: string | null;
  season: number | null;
  episode: number | null;
};

export type Series = {
  id: string;
  name: string;
  synopsis: string;
  genres: string[];
  credits: Credit[];
  releaseYear: number | null;
  createdAt: number;
};

/** A curated rail: an operator's ordered list of titles, series and live streams. */
export type Collection = { id: string; name: string; position: number; items: string[] };

export const emptyMetadata: ContentMetadata = { synopsis: '', genres: [], credits: [], releaseYear: null, seriesId: null, season: null, episode: null };

type MetadataRow = { content_id: string; synopsis: string; genres: string; credits: string; release_year: number | null; series_id: string | null; season: number | null; episode: number | null };
type SeriesRow = { id: string; name: string; synopsis: string; genres: string; credits: string; release_year: number | null; created_at: number };
type CollectionRow = { id: string; name: string; position: number; items: string };

const metadataOf = (row: MetadataRow): ContentMetadata => ({
  synopsis: row.synopsis,
  genres: JSON.parse(row.genres) as string[],
  credits: JSON.parse(row.credits) as Credit[],
  releaseYear: row.release_year,
  seriesId: row.series_id,
  season: row.season,
  episode: row.episode,
});

const seriesOf = (row: SeriesRow): Series => ({
  id: row.id,
  name: row.name,
  synopsis: row.synopsis,
  genres: JSON.parse(row.genres) as string[],
  credits: JSON.parse(row.credits) as Credit[],
  releaseYear: row.release_year,
  createdAt: row.created_at,
});

/**
 * Descriptive metadata, series and curated collections: written by admins (rarely), read by
 * the discovery read model, which rebuilds itself when `version` moves. Everything is held in
 * memory once loaded: the catalog read path must not query per item.
 */
export class MetadataStore {
  private readonly s;
  private metadata: Map<string, ContentMetadata> | null = null;
  private series: Map<string, Series> | null = null;
  private collections: Collection[] | null = null;

  constructor(db: Db) {
    this.s = {
      allMetadata: db.prepare(`SELECT * FROM content_metadata`),
      putMetadata: db.prepare(
        `INSERT INTO content_metadata (content_id, synopsis, genres, credits, release_year, series_id, season, episode, updated_at)
         VALUES (@contentId, @synopsis, @genres, @credits, @releaseYear, @seriesId, @season, @episode, @now)
         ON CONFLICT (content_id) DO UPDATE SET synopsis = excluded.synopsis, genres = excluded.genres, credits = excluded.credits,
           release_year = excluded.release_year, series_id = excluded.series_id, season = excluded.season, episode = excluded.episode,
           updated_at = excluded.updated_at`,
      ),
      removeMetadata: db.prepare(`DELETE FROM content_metadata WHERE content_id = ?`),
      oneMetadata: db.prepare(`SELECT * FROM content_metadata WHERE content_id = ?`),
      allSeries: db.prepare(`SELECT * FROM series`),
      putSeries: db.prepare(
        `INSERT INTO series (id, name, synopsis, genres, credits, release_year, created_at, updated_at)
         VALUES (@id, @name, @synopsis, @genres, @credits, @releaseYear, @createdAt, @now)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, synopsis = excluded.synopsis, genres = excluded.genres,
           credits = excluded.credits, release_year = excluded.release_year, updated_at = excluded.updated_at`,
      ),
      removeSeries: db.prepare(`DELETE FROM series WHERE id = ?`),
      episodesOf: db.prepare(`SELECT count(*) AS n FROM content_metadata WHERE series_id = ?`),
      allCollections: db.prepare(`SELECT * FROM collections ORDER BY position, id`),
      putCollection: db.prepare(
        `INSERT INTO collections (id, name, position, items, updated_at) VALUES (@id, @name, @position, @items, @now)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position, items = excluded.items, updated_at = excluded.updated_at`,
      ),
      removeCollection: db.prepare(`DELETE FROM collections WHERE id = ?`),
    };
  }

  /** Moves when a series changes (which touches all its episodes): read models are rebuilt. */
  version = 0;
  /** Moves when a collection changes (rails, not the read model). */
  collectionsVersion = 0;
  /** Told when one content's metadata changes (the read model patches that item). */
  onContentChange: ((contentId: string) => void) | null = null;

  private allMetadata(): Map<string, ContentMetadata> {
    this.metadata ??= new Map((this.s.allMetadata.all() as MetadataRow[]).map((row) => [row.content_id, metadataOf(row)]));
    return this.metadata;
  }

  get(contentId: string): ContentMetadata {
    return this.allMetadata().get(contentId) ?? emptyMetadata;
  }

  /** Every content id with metadata, and its metadata. */
  entries(): IterableIterator<[string, ContentMetadata]> {
    return this.allMetadata().entries();
  }

  put(contentId: string, metadata: ContentMetadata, now: number): void {
    this.s.putMetadata.run({
      contentId,
      synopsis: metadata.synopsis,
      genres: JSON.stringify(metadata.genres),
      credits: JSON.stringify(metadata.credits),
      releaseYear: metadata.releaseYear,
      seriesId: metadata.seriesId,
      season: metadata.season,
      episode: metadata.episode,
      now,
    });
    this.allMetadata().set(contentId, metadata);
    this.onContentChange?.(contentId);
  }

  /** Reads one content's metadata again (another node changed it). */
  reload(contentId: string): void {
    if (this.metadata) {
      const row = this.s.oneMetadata.get(contentId) as MetadataRow | undefined;
      if (row) this.metadata.set(contentId, metadataOf(row));
      else this.metadata.delete(contentId);
    }
    this.onContentChange?.(contentId);
  }

  /** Drops series and collections (another node changed one), or everything; read models are rebuilt. */
  forget(scope: 'series-and-collections' | 'all'): void {
    if (scope === 'all') this.metadata = null;
    this.series = null;
    this.collections = null;
    this.version++;
    this.collectionsVersion++;
  }

  remove(contentId: string): void {
    this.s.removeMetadata.run(contentId);
    this.allMetadata().delete(contentId);
    this.onContentChange?.(contentId);
  }

  private allSeries(): Map<string, Series> {
    this.series ??= new Map((this.s.allSeries.all() as SeriesRow[]).map((row) => [row.id, seriesOf(row)]));
    return this.series;
  }

  seriesById(id: string): Series | null {
    return this.allSeries().get(id) ?? null;
  }

  listSeries(): Series[] {
    return [...this.allSeries().values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  putSeries(series: Series, now: number): void {
    this.s.putSeries.run({ ...series, genres: JSON.stringify(series.genres), credits: JSON.stringify(series.credits), now });
    this.allSeries().set(series.id, series);
    this.version++;
  }

  /** Removes a series; its episodes must be moved or removed first (false when some remain). */
  removeSeries(id: string): boolean {
    if ((this.s.episodesOf.get(id) as { n: number }).n > 0) return false;
    this.s.removeSeries.run(id);
    this.allSeries().delete(id);
    this.version++;
    return true;
  }

  listCollections(): Collection[] {
    this.collections ??= (this.s.allCollections.all() as CollectionRow[]).map((row) => ({ id: row.id, name: row.name, position: row.position, items: JSON.parse(row.items) as string[] }));
    return this.collections;
  }

  putCollection(collection: Collection, now: number): void {
    this.s.putCollection.run({ ...collection, items: JSON.stringify(collection.items), now });
    this.collections = null;
    this.collectionsVersion++;
  }

  removeCollection(id: string): boolean {
    const removed = this.s.removeCollection.run(id).changes > 0;
    this.collections = null;
    this.collectionsVersion++;
    return removed;
  }
}
