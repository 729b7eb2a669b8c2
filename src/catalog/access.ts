import type { Db } from './database.js';

/** Anyone may watch content in this package, signed in or not. */
export const freePackage = 'free';

/** Where content may be watched: ISO 3166-1 alpha-2 codes allowed (only these) or denied (all but these). */
export type GeoRule = { mode: 'allow' | 'deny'; countries: string[] };

/** Who may watch a title or live stream, and when and where. */
export type ContentAccess = {
  /** Content packages it belongs to; `free` lets anyone watch, signed in or not. */
  packages: string[];
  availableFrom: number | null;
  availableUntil: number | null;
  geo: GeoRule | null;
  /** Its content rating on the configured scale (e.g. PG-13); null when unrated. */
  rating: string | null;
};

type Row = { packages: string; available_from: number | null; available_until: number | null; geo_mode: string | null; geo_countries: string; rating: string | null };

/**
 * The access rules of titles and live streams. Read on every session start, so kept in memory
 * once read and replaced on every change (changes take effect for the next session at once).
 */
export class ContentAccessStore {
  private readonly cache = new Map<string, ContentAccess>();
  private readonly s;

  constructor(
    db: Db,
    /** Rules of content nobody has set any for (existing content keeps playing as before). */
    private readonly defaults: ContentAccess,
    /** Told when a content's rules change (read models built from them patch that content). */
    private readonly onChange: (contentId: string) => void = () => {},
  ) {
    this.s = {
      get: db.prepare(`SELECT packages, available_from, available_until, geo_mode, geo_countries, rating FROM content_access WHERE content_id = ?`),
      put: db.prepare(
        `INSERT INTO content_access (content_id, packages, available_from, available_until, geo_mode, geo_countries, rating, updated_at)
         VALUES (@contentId, @packages, @availableFrom, @availableUntil, @geoMode, @geoCountries, @rating, @now)
         ON CONFLICT (content_id) DO UPDATE SET packages = excluded.packages, available_from = excluded.available_from,
           available_until = excluded.available_until, geo_mode = excluded.geo_mode, geo_countries = excluded.geo_countries,
           rating = excluded.rating, updated_at = excluded.updated_at`,
      ),
      remove: db.prepare(`DELETE FROM content_access WHERE content_id = ?`),
    };
  }

  get(contentId: string): ContentAccess {
    const cached = this.cache.get(contentId);
    if (cached) return cached;
    const row = this.s.get.get(contentId) as Row | undefined;
    const access: ContentAccess = row
      ? {
          packages: JSON.parse(row.packages) as string[],
          availableFrom: row.available_from,
          availableUntil: row.available_until,
          geo: row.geo_mode ? { mode: row.geo_mode as GeoRule['mode'], countries: JSON.parse(row.geo_countries) as string[] } : null,
          rating: row.rating,
        }
      : this.defaults;
    this.cache.set(contentId, access);
    return access;
  }

  put(contentId: string, access: ContentAccess, now: number): void {
    this.s.put.run({
      contentId,
      packages: JSON.stringify(access.packages),
      availableFrom: access.availableFrom,
      availableUntil: access.availableUntil,
      geoMode: access.geo?.mode ?? null,
      geoCountries: JSON.stringify(access.geo?.countries ?? []),
      rating: access.rating,
      now,
    });
    this.cache.set(contentId, access);
    this.onChange(contentId);
  }

  /** Drops what is held of this content (another node changed it); with no id, everything. */
  forget(contentId?: string): void {
    if (contentId === undefined) this.cache.clear();
    else this.cache.delete(contentId);
  }

  remove(contentId: string): void {
    this.s.remove.run(contentId);
    this.cache.delete(contentId);
    this.onChange(contentId);
  }
}
