import type { WatchEntry, WatchHistory } from './history.js';
import type { ContentMetadata, MetadataStore, Series } from './metadata.js';
import { queryWords, type SearchDoc, type SearchIndex } from './search.js';

/** Content a device may be shown: ready titles and live streams on air. */
export type DiscoverableContent = { kind: 'title' | 'live-stream'; id: string; name: string; createdAt: number; durationMs: number | null };

/**
 * Who is browsing, as far as the catalog needs: `key` names everyone who sees the same catalog
 * (same plan packages, rating limit, country), so the filtered catalog is computed once per
 * audience, not per viewer; rentals are the viewer's own and are added per request.
 */
export type Audience = {
  key: string;
  /** Whether the audience may watch the content now; `withRentals` counts this viewer's rentals too. */
  allows: (contentId: string, now: number, withRentals: boolean) => boolean;
  rentals: ReadonlySet<string>;
};

export type CatalogItem = DiscoverableContent & { metadata: ContentMetadata; rating: string | null };

export type SeriesView = { series: Series; seasons: { number: number; episodes: CatalogItem[] }[] };

export type Rail = { id: string; title: string; kind: 'continue' | 'live' | 'new' | 'trending' | 'genre' | 'collection'; items: RailItem[] };

export type RailItem =
  | { kind: 'title' | 'live-stream'; item: CatalogItem; progress?: { positionMs: number; durationMs: number | null; updatedAt: number; next: boolean } }
  | { kind: 'series'; series: Series; latest: CatalogItem };

export type SearchResults = {
  items: RailItem[];
  people: { name: string; items: RailItem[] }[];
  genres: { name: string; items: RailItem[] }[];
};

export type DiscoveryDeps = {
  content: () => DiscoverableContent[];
  /** One title or live stream if a device may be shown it now (ready, or on air), else null. */
  contentOf: (contentId: string) => DiscoverableContent | null;
  metadata: MetadataStore;
  search: SearchIndex;
  history: WatchHistory;
  /** When the content's availability window opens and closes (null: it does not). */
  window: (contentId: string) => { from: number | null; until: number | null };
  ratingOf: (contentId: string) => string | null;
  now: () => number;
  railLength?: number;
};

type Model = {
  /** Moves on every rebuild and every patch. */
  version: number;
  items: Map<string, CatalogItem>;
  /** Newest first. */
  ordered: CatalogItem[];
  /** The live streams among them, newest first (few: the live rail need not scan every title). */
  live: CatalogItem[];
  episodes: Map<string, CatalogItem[]>;
  genres: Map<string, CatalogItem[]>;
  /** Moments when some content's availability window opens or closes, ascending. */
  boundaries: number[];
  /** How many items open or close at each moment (kept as items come and go, so a patch need not scan them all). */
  moments: Map<number, number>;
  /** Each item's window as counted in `moments`. */
  windows: Map<string, { from: number | null; until: number | null }>;
};

type Allowed = { version: number; validUntil: number; ids: Set<string>; audience: Audience };

/**
 * Audiences whose allowed sets are kept: each set holds up to every title's id (4 MB at 100 000
 * titles), so the oldest is let go past this many.
 */
const maxAudiences = 100;

const newestFirst = (a: CatalogItem, b: CatalogItem) => b.createdAt - a.createdAt || a.id.localeCompare(b.id);
const inEpisodeOrder = (a: CatalogItem, b: CatalogItem) => (a.metadata.season ?? 0) - (b.metadata.season ?? 0) || (a.metadata.episode ?? 0) - (b.metadata.episode ?? 0);

/** Inserts into a sorted list at its place (binary search). */
function insertSorted<T>(list: T[], value: T, order: (a: T, b: T) => number): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (order(list[middle]!, value) <= 0) low = middle + 1;
    else high = middle;
  }
  list.splice(low, 0, value);
}

function removeFrom<T>(list: T[] | undefined, value: T): void {
  const at = list?.indexOf(value) ?? -1;
  if (at >= 0) list!.splice(at, 1);
}

/** Counts an item's window moments in (+1) or out (-1). */
function countWindow(moments: Map<number, number>, window: { from: number | null; until: number | null }, step: 1 | -1): void {
  for (const moment of [window.from, window.until]) {
    if (moment === null) continue;
    const count = (moments.get(moment) ?? 0) + step;
    if (count > 0) moments.set(moment, count);
    else moments.delete(moment);
  }
}

/** Appends to the list under a key (in place: building lists by copying was quadratic at 100 000 titles). */
function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * The catalog as devices browse it: a read model rebuilt only when the catalog changes (titles
 * ready or removed, streams on or off air, access rules, metadata), and per audience the set of
 * content it may watch, kept until the catalog changes or an availability window opens or closes.
 * Every list a device gets is cut from that set, so nothing it is shown fails at session start
 * for a reason the catalog knew.
 */
export class DiscoveryCatalog {
  private model: Model | null = null;
  private readonly allowedBy = new Map<string, Allowed>();
  private trendingCache: { version: number; hour: number; ids: string[] } | null = null;

  /** Content told changed since the model was last brought up to date. */
  private readonly changes = new Set<string>();
  private builtFrom = -1;
  private serial = 0;

  constructor(private readonly deps: DiscoveryDeps) {}

  /** One title or live stream changed (became ready or stopped being, new metadata or access rules). */
  changed(contentId: string): void {
    this.changes.add(contentId);
  }

  private get railLength(): number {
    return this.deps.railLength ?? 20;
  }

  /**
   * The current read model: rebuilt (and the search index brought in step) after a change that
   * touches many items, patched item by item after changes to single titles or streams (a rebuild
   * at 100 000 titles holds the event loop for seconds).
   */
  current(): Model {
    // A series change touches all its episodes: rebuilt. Single items are patched (changed(id)).
    const version = this.deps.metadata.version;
    if (this.model && this.builtFrom === version) {
      if (this.changes.size > 0) this.patch(this.model);
      return this.model;
    }
    this.changes.clear();
    this.builtFrom = version;
    const items = new Map<string, CatalogItem>();
    for (const content of this.deps.content()) items.set(content.id, { ...content, metadata: this.deps.metadata.get(content.id), rating: this.deps.ratingOf(content.id) });
    const ordered = [...items.values()].sort(newestFirst);
    const episodes = new Map<string, CatalogItem[]>();
    const genres = new Map<string, CatalogItem[]>();
    const moments = new Map<number, number>();
    const windows = new Map<string, { from: number | null; until: number | null }>();
    for (const item of ordered) {
      const { seriesId } = item.metadata;
      if (seriesId !== null && this.deps.metadata.seriesById(seriesId)) pushTo(episodes, seriesId, item);
      for (const genre of item.metadata.genres) pushTo(genres, genre, item);
      const window = this.deps.window(item.id);
      windows.set(item.id, window);
      countWindow(moments, window, 1);
    }
    for (const list of episodes.values()) list.sort(inEpisodeOrder);
    const live = ordered.filter((item) => item.kind === 'live-stream');
    this.model = { version: ++this.serial, items, ordered, live, episodes, genres, moments, windows, boundaries: [...moments.keys()].sort((a, b) => a - b) };
    this.deps.search.sync(this.searchDocs(this.model));
    return this.model;
  }

  /** Applies the changed items to the model, the search index and every audience's allowed set. */
  private patch(model: Model): void {
    const ids = [...this.changes];
    this.changes.clear();
    const docs: SearchDoc[] = [];
    const removedRefs: string[] = [];
    const touchedSeries = new Set<string>();
    for (const id of ids) {
      const oldWindow = model.windows.get(id);
      if (oldWindow) {
        countWindow(model.moments, oldWindow, -1);
        model.windows.delete(id);
      }
      const old = model.items.get(id);
      if (old) {
        model.items.delete(id);
        removeFrom(model.ordered, old);
        removeFrom(model.live, old);
        for (const genre of old.metadata.genres) removeFrom(model.genres.get(genre), old);
        if (old.metadata.seriesId) {
          removeFrom(model.episodes.get(old.metadata.seriesId), old);
          touchedSeries.add(old.metadata.seriesId);
        }
      }
      const content = this.deps.contentOf(id);
      if (!content) {
        removedRefs.push(id);
        continue;
      }
      const item: CatalogItem = { ...content, metadata: this.deps.metadata.get(id), rating: this.deps.ratingOf(id) };
      model.items.set(id, item);
      const window = this.deps.window(id);
      model.windows.set(id, window);
      countWindow(model.moments, window, 1);
      insertSorted(model.ordered, item, newestFirst);
      if (item.kind === 'live-stream') insertSorted(model.live, item, newestFirst);
      for (const genre of item.metadata.genres) {
        if (!model.genres.has(genre)) model.genres.set(genre, []);
        insertSorted(model.genres.get(genre)!, item, newestFirst);
      }
      const { seriesId } = item.metadata;
      if (seriesId !== null && this.deps.metadata.seriesById(seriesId)) {
        if (!model.episodes.has(seriesId)) model.episodes.set(seriesId, []);
        insertSorted(model.episodes.get(seriesId)!, item, inEpisodeOrder);
        touchedSeries.add(seriesId);
      }
      docs.push({ ref: item.id, kind: item.kind, name: item.name, people: item.metadata.credits.map((c) => c.name), genres: item.metadata.genres, synopsis: item.metadata.synopsis });
    }
    for (const [genre, list] of model.genres) if (list.length === 0) model.genres.delete(genre);
    for (const seriesId of touchedSeries) {
      const list = model.episodes.get(seriesId) ?? [];
      if (list.length === 0) {
        model.episodes.delete(seriesId);
        removedRefs.push(`series:${seriesId}`);
      } else docs.push(this.seriesDoc(seriesId, list));
    }
    this.deps.search.update(docs, removedRefs);
    model.boundaries = [...model.moments.keys()].sort((a, b) => a - b);
    model.version = ++this.serial;
    // Each audience's set changes only where the changed items are.
    const now = this.deps.now();
    const validUntil = model.boundaries.find((moment) => moment > now) ?? Infinity;
    for (const cached of this.allowedBy.values()) {
      if (cached.version !== model.version - 1 || now >= cached.validUntil) continue; // stale: recomputed when asked
      for (const id of ids) {
        if (model.items.has(id) && cached.audience.allows(id, now, false)) cached.ids.add(id);
        else cached.ids.delete(id);
      }
      cached.version = model.version;
      cached.validUntil = validUntil;
    }
  }

  private seriesDoc(seriesId: string, list: readonly CatalogItem[]): SearchDoc {
    const series = this.deps.metadata.seriesById(seriesId)!;
    const people = new Set([...series.credits.map((c) => c.name), ...list.flatMap((episode) => episode.metadata.credits.map((c) => c.name))]);
    return { ref: `series:${series.id}`, kind: 'series', name: series.name, people: [...people], genres: series.genres, synopsis: series.synopsis };
  }

  private *searchDocs(model: Model): Generator<SearchDoc> {
    for (const item of model.ordered) {
      yield { ref: item.id, kind: item.kind, name: item.name, people: item.metadata.credits.map((c) => c.name), genres: item.metadata.genres, synopsis: item.metadata.synopsis };
    }
    for (const [seriesId, list] of model.episodes) yield this.seriesDoc(seriesId, list);
  }

  /** The content this audience may watch now (its rentals included). */
  allowed(audience: Audience): Set<string> {
    const model = this.current();
    const now = this.deps.now();
    let cached = this.allowedBy.get(audience.key);
    if (!cached || cached.version !== model.version || now >= cached.validUntil) {
      const ids = new Set<string>();
      for (const item of model.ordered) if (audience.allows(item.id, now, false)) ids.add(item.id);
      const validUntil = model.boundaries.find((moment) => moment > now) ?? Infinity;
      if (this.allowedBy.size >= maxAudiences) this.allowedBy.delete(this.allowedBy.keys().next().value!);
      cached = { version: model.version, validUntil, ids, audience };
      this.allowedBy.set(audience.key, cached);
    }
    if (audience.rentals.size === 0) return cached.ids;
    const withRentals = new Set(cached.ids);
    for (const id of audience.rentals) if (model.items.has(id) && audience.allows(id, now, true)) withRentals.add(id);
    return withRentals;
  }

  /** A title or live stream, if this audience may watch it. */
  item(audience: Audience, id: string): CatalogItem | null {
    return this.allowed(audience).has(id) ? (this.current().items.get(id) ?? null) : null;
  }

  /** Whether the content exists in the catalog at all (so a refusal can say why). */
  exists(id: string): boolean {
    return this.current().items.has(id);
  }

  /** A series with the seasons and episodes this audience may watch; null when it may watch none. */
  series(audience: Audience, seriesId: string): SeriesView | null {
    const series = this.deps.metadata.seriesById(seriesId);
    const allowed = this.allowed(audience);
    const episodes = (this.current().episodes.get(seriesId) ?? []).filter((episode) => allowed.has(episode.id));
    if (!series || episodes.length === 0) return null;
    const seasons = new Map<number, CatalogItem[]>();
    for (const episode of episodes) pushTo(seasons, episode.metadata.season ?? 0, episode);
    return { series, seasons: [...seasons].map(([number, list]) => ({ number, episodes: list })) };
  }

  /** The episode after this one in its series that this audience may watch, if any. */
  nextEpisode(audience: Audience, id: string): CatalogItem | null {
    const model = this.current();
    const seriesId = model.items.get(id)?.metadata.seriesId;
    if (!seriesId) return null;
    const list = model.episodes.get(seriesId) ?? [];
    const allowed = this.allowed(audience);
    return list.slice(list.findIndex((episode) => episode.id === id) + 1).find((episode) => allowed.has(episode.id)) ?? null;
  }

  /**
   * The home screen is this viewer's continue watching, then sharedRails: live now, new,
   * trending, the curated collections, one rail per genre (largest first); series appear once.
   */
  continueRail(audience: Audience, viewerId: string): Rail {
    return { id: 'continue-watching', title: 'Continue watching', kind: 'continue', items: this.continueWatching(audience, viewerId) };
  }

  /**
   * Moves whenever what this audience is shown (every rail but continue watching, search) could
   * change: the catalog, an availability window, the trending hour, the audience's rentals.
   * Answers built for an audience can be kept until it moves.
   */
  stamp(audience: Audience): string {
    const model = this.current();
    this.allowed(audience);
    const validUntil = this.allowedBy.get(audience.key)?.validUntil ?? 0;
    return `${model.version}|${this.deps.metadata.collectionsVersion}|${validUntil}|${Math.floor(this.deps.now() / 3_600_000)}|${[...audience.rentals].sort().join(',')}`;
  }

  /**
   * The rails every member of the audience sees alike (all but continue watching). Each is cut
   * lazily from lists kept in order: a rail stops reading once it is full, so a home screen
   * costs about its rails' length, not the catalog's size. Genre rails come largest genre first.
   */
  sharedRails(audience: Audience): Rail[] {
    const model = this.current();
    const allowed = this.allowed(audience);
    const visible = function* (list: Iterable<CatalogItem>, kind?: CatalogItem['kind']): Generator<CatalogItem> {
      for (const item of list) if ((kind === undefined || item.kind === kind) && allowed.has(item.id)) yield item;
    };
    const rails: Rail[] = [];
    rails.push({ id: 'live', title: 'Live now', kind: 'live', items: this.grouped(visible(model.live)) });
    rails.push({ id: 'new', title: 'New', kind: 'new', items: this.grouped(visible(model.ordered, 'title')) });
    rails.push({ id: 'trending', title: 'Trending', kind: 'trending', items: this.grouped(visible(this.trendingIds().flatMap((id) => model.items.get(id) ?? []))) });
    for (const collection of this.deps.metadata.listCollections()) {
      const items = this.grouped(
        collection.items.flatMap((ref) => {
          if (!ref.startsWith('series:')) return model.items.has(ref) && allowed.has(ref) ? [model.items.get(ref)!] : [];
          return (model.episodes.get(ref.slice('series:'.length)) ?? []).filter((episode) => allowed.has(episode.id)).slice(0, 1);
        }),
      );
      rails.push({ id: `collection:${collection.id}`, title: collection.name, kind: 'collection', items });
    }
    const genres = [...model.genres].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
    let genreRails = 0;
    for (const [genre, list] of genres) {
      if (genreRails >= 12) break;
      const items = this.grouped(visible(list));
      if (items.length === 0) continue;
      rails.push({ id: `genre:${genre}`, title: genre, kind: 'genre', items });
      genreRails++;
    }
    return rails.filter((rail) => rail.items.length > 0);
  }

  /** Episodes collapse into their series (at the first episode's place); at most a rail's length. */
  private grouped(list: Iterable<CatalogItem>): RailItem[] {
    const out: RailItem[] = [];
    const seenSeries = new Set<string>();
    for (const item of list) {
      const seriesId = item.metadata.seriesId;
      const series = seriesId ? this.deps.metadata.seriesById(seriesId) : null;
      if (series) {
        if (seenSeries.has(series.id)) continue;
        seenSeries.add(series.id);
        out.push({ kind: 'series', series, latest: item });
      } else {
        out.push({ kind: item.kind, item });
      }
      if (out.length >= this.railLength) break;
    }
    return out;
  }

  /**
   * What this viewer is part-way through, most recent first; a finished episode gives way to the
   * next one (unless that one is started or finished too).
   */
  continueWatching(audience: Audience, viewerId: string): RailItem[] {
    const model = this.current();
    const allowed = this.allowed(audience);
    const history = this.deps.history.recent(viewerId, 100);
    const byContent = new Map<string, WatchEntry>(history.map((entry) => [entry.contentId, entry]));
    const out: RailItem[] = [];
    const shown = new Set<string>();
    for (const entry of history) {
      if (out.length >= this.railLength) break;
      const item = model.items.get(entry.contentId);
      if (!item || item.kind !== 'title') continue;
      if (!entry.finished) {
        if (entry.positionMs <= 0 || !allowed.has(item.id) || shown.has(item.id)) continue;
        shown.add(item.id);
        out.push({ kind: 'title', item, progress: { positionMs: entry.positionMs, durationMs: entry.durationMs, updatedAt: entry.updatedAt, next: false } });
        continue;
      }
      const next = this.nextEpisode(audience, item.id);
      if (!next || shown.has(next.id) || byContent.has(next.id)) continue;
      shown.add(next.id);
      out.push({ kind: 'title', item: next, progress: { positionMs: 0, durationMs: next.durationMs, updatedAt: entry.updatedAt, next: true } });
    }
    return out;
  }

  /** Content by watch time over the last 7 days (computed at most once an hour or per catalog change). */
  private trendingIds(): string[] {
    const version = this.current().version;
    const hour = Math.floor(this.deps.now() / 3_600_000);
    if (this.trendingCache?.version !== version || this.trendingCache.hour !== hour) {
      this.trendingCache = { version, hour, ids: this.deps.history.trending(7 * 24, 200).map((row) => row.contentId) };
    }
    return this.trendingCache.ids;
  }

  /**
   * "Because you watched": what viewers who watched this also watched, then content sharing its
   * genres and people; only what this audience may watch, and nothing this viewer finished.
   */
  recommendations(audience: Audience, viewerId: string | null, id: string, limit = 20): RailItem[] {
    const model = this.current();
    const source = model.items.get(id);
    if (!source) return [];
    const allowed = this.allowed(audience);
    const finished = new Set(viewerId ? this.deps.history.recent(viewerId, 500).filter((e) => e.finished).map((e) => e.contentId) : []);
    const sameSeries = (item: CatalogItem) => source.metadata.seriesId !== null && item.metadata.seriesId === source.metadata.seriesId;
    const eligible = (item: CatalogItem | undefined): item is CatalogItem => item !== undefined && item.id !== id && allowed.has(item.id) && !finished.has(item.id) && !sameSeries(item);
    const picks: CatalogItem[] = this.deps.history
      .coWatched(id, 50)
      .map((row) => model.items.get(row.contentId))
      .filter(eligible);
    // Similarity: shared genres count 2, shared people 1; newer first among equals.
    const genres = new Set(source.metadata.genres);
    const people = new Set(source.metadata.credits.map((c) => c.name));
    const similar = model.ordered
      .filter((item) => eligible(item) && !picks.includes(item))
      .map((item) => ({ item, score: 2 * item.metadata.genres.filter((g) => genres.has(g)).length + item.metadata.credits.filter((c) => people.has(c.name)).length }))
      .filter(({ score }) => score > 0)
      .sort((a, b) => b.score - a.score);
    return this.grouped([...picks, ...similar.map(({ item }) => item)]).slice(0, limit);
  }

  /** Titles, series and live streams matching every word as a prefix; people and genres by name. */
  search(audience: Audience, query: string, limit: number): SearchResults {
    const model = this.current();
    const allowed = this.allowed(audience);
    const words = queryWords(query);
    const matched: CatalogItem[] = [];
    const seen = new Set<string>();
    // People are found through the documents that name them (the index holds every credit).
    const people = new Map<string, CatalogItem[]>();
    const startsWithEvery = (text: string) => {
      const textWords = queryWords(text);
      return words.length > 0 && words.every((word) => textWords.some((t) => t.startsWith(word)));
    };
    for (const hit of this.deps.search.search(words, 200)) {
      const candidates = hit.kind === 'series' ? (model.episodes.get(hit.ref.slice('series:'.length)) ?? []) : [model.items.get(hit.ref)].filter((item): item is CatalogItem => item !== undefined);
      const visible = candidates.filter((item) => allowed.has(item.id));
      const first = visible[0];
      if (first && !seen.has(first.id)) {
        seen.add(first.id);
        matched.push(first);
      }
      for (const item of visible) {
        for (const credit of item.metadata.credits) {
          if (!startsWithEvery(credit.name)) continue;
          if (!people.get(credit.name)?.includes(item)) pushTo(people, credit.name, item);
        }
      }
    }
    const items = this.grouped(matched).slice(0, limit);
    const allowedIn = function* (list: Iterable<CatalogItem>): Generator<CatalogItem> {
      for (const item of list) if (allowed.has(item.id)) yield item;
    };
    // Cut lazily, as rails are: a genre of tens of thousands of titles is read only until its rail is full.
    const genres = [...model.genres.keys()].filter(startsWithEvery).map((name) => ({ name, items: this.grouped(allowedIn(model.genres.get(name) ?? [])) }));
    return {
      items,
      people: [...people].slice(0, limit).map(([name, list]) => ({ name, items: this.grouped(list) })),
      genres: genres.filter((genre) => genre.items.length > 0).slice(0, limit),
    };
  }
}
