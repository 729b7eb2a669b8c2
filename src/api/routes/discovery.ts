import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { Router, type Request } from 'express';
import { artworkKinds, imageFilePattern, type ArtworkKind, type ArtworkStore, type ImageFormat } from '../../discovery/artwork.js';
import type { DeviceProfile } from '../../playback/profiles.js';
import { z } from 'zod';
import type { Clock } from '../../clock.js';
import type { Audience, CatalogItem, DiscoveryCatalog, Rail, RailItem } from '../../discovery/catalog.js';
import type { MetadataStore, Series } from '../../discovery/metadata.js';
import { WeirError } from '../../errors.js';
import type { Requester } from '../../playback/service.js';
import type { DeviceFamily } from '../../viewers/plans.js';
import type { ViewerAccounts } from '../../viewers/accounts.js';
import { adminCheck, jsonBody, parseInput, requireAdmin, sendRevalidated, sendRevalidatedText } from '../http.js';
import { queryWords } from '../../discovery/search.js';
import { requesterOf } from '../requester.js';
import { sendBucketObject, type BucketObject } from '../../delivery/bucket-object.js';

const credit = z.strictObject({ name: z.string().trim().min(1).max(200), role: z.string().trim().min(1).max(100) });
const genres = z.array(z.string().trim().min(1).max(60)).max(20).default([]);
const credits = z.array(credit).max(200).default([]);
const releaseYear = z.number().int().min(1870).max(2200).nullable().default(null);

export const metadataBody = z
  .strictObject({
    synopsis: z.string().max(10_000).default(''),
    genres,
    credits,
    releaseYear,
    series: z.strictObject({ id: z.string().min(1).max(200), season: z.number().int().min(0).max(1000), episode: z.number().int().min(0).max(100_000) }).nullable().default(null),
  });

export const seriesBody = z.strictObject({ name: z.string().trim().min(1).max(500), synopsis: z.string().max(10_000).default(''), genres, credits, releaseYear });
export const collectionBody = z.strictObject({ name: z.string().trim().min(1).max(200), position: z.number().int().min(0).max(1_000_000).default(0), items: z.array(z.string().min(1).max(220)).max(500) });
export const searchQuery = z.strictObject({ q: z.string().trim().min(1, 'a search needs at least one letter or digit').max(200), limit: z.coerce.number().int().min(1).max(100).default(20) });
const idPattern = /^[A-Za-z0-9_-]{1,100}$/;

export type DiscoveryRoutesDeps = {
  catalog: DiscoveryCatalog;
  metadata: MetadataStore;
  accounts: ViewerAccounts;
  adminToken: string;
  countryOf: (req: Request) => string | null;
  /** The audience a requester belongs to in a country (who sees the same catalog). */
  audienceOf: (requester: Requester, country: string | null) => Audience;
  /** Why this requester may not watch this content here and now (the session-start refusal). */
  refusal: (contentId: string, requester: Requester, country: string | null) => WeirError | null;
  /** Which kind of content an id names, if any (for the admin metadata routes). */
  kindOf: (contentId: string) => 'title' | 'live-stream' | null;
  clock: Clock;
  artwork: ArtworkStore;
  /** Art this node did not cut, from the bucket every node writes its art to (null: local disk only). */
  bucketImages?: { get(file: string, range?: string): Promise<BucketObject | null>; signedUrl: ((file: string) => Promise<string>) | null } | null;
  /** Each family's screens (their artwork sizes); anonymous callers get the web family's. */
  profiles: Record<DeviceFamily, DeviceProfile>;
  /** Where an uploaded image waits while it is cut (a private temp dir by default). */
  uploadDir?: string;
};

const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number | null) => (ms === null ? null : Math.round(ms / 100) / 10);

/** Roku channels get a compact field set (they parse on small devices); others the full one. */
const compactFamilies: ReadonlySet<DeviceFamily> = new Set(['roku']);

/** Image URLs for a content at a family's sizes: JPEG and WebP, or JPEG alone where WebP is not taken. */
export type ImagesOf = (refs: readonly string[], family: DeviceFamily | null) => Partial<Record<ArtworkKind, Partial<Record<ImageFormat, string>>>>;

/** The resources devices get, with images at their family's sizes. */
function shapers(imagesOf: ImagesOf) {
  function itemResource(item: CatalogItem, family: DeviceFamily | null) {
    const series = item.metadata.seriesId ? { id: item.metadata.seriesId, season: item.metadata.season, episode: item.metadata.episode } : null;
    const images = imagesOf([item.id], family);
    if (family && compactFamilies.has(family)) return { kind: item.kind, id: item.id, name: item.name, year: item.metadata.releaseYear, durationSeconds: seconds(item.durationMs), series, images };
    return {
      images,
      kind: item.kind,
      id: item.id,
      name: item.name,
      synopsis: item.metadata.synopsis,
      genres: item.metadata.genres,
      year: item.metadata.releaseYear,
      rating: item.rating,
      durationSeconds: seconds(item.durationMs),
      series,
    };
  }

  function seriesResource(series: Series, family: DeviceFamily | null, firstEpisode: string | null) {
    // A series without art of its own shows its first episode's.
    const images = imagesOf([`series:${series.id}`, ...(firstEpisode ? [firstEpisode] : [])], family);
    if (family && compactFamilies.has(family)) return { kind: 'series' as const, id: series.id, name: series.name, year: series.releaseYear, images };
    return { kind: 'series' as const, id: series.id, name: series.name, synopsis: series.synopsis, genres: series.genres, year: series.releaseYear, images };
  }

  function railItemResource(entry: RailItem, family: DeviceFamily | null) {
    if (entry.kind === 'series') return seriesResource(entry.series, family, entry.latest.id);
    const base = itemResource(entry.item, family);
    if (!entry.progress) return base;
    const { positionMs, durationMs, updatedAt, next } = entry.progress;
    const progress = { position: seconds(positionMs), duration: seconds(durationMs), next, updatedAt: iso(updatedAt) };
    // Google TV's Watch Next row takes these fields as they are (WatchNextProgram).
    const watchNext =
      family === 'androidtv'
        ? { watchNextType: next ? 'NEXT' : 'CONTINUE', lastEngagementTimeUtcMillis: updatedAt, lastPlaybackPositionMillis: positionMs, durationMillis: durationMs }
        : undefined;
    return watchNext ? { ...base, progress, watchNext } : { ...base, progress };
  }
  return { itemResource, seriesResource, railItemResource };
}

const privateRevalidate = 'private, no-cache';

/**
 * What devices browse (viewer token, or none for free content): the home rails, detail of a
 * title or live stream, a series with its seasons, search, recommendations. Answers carry ETags
 * and are revalidated (304 when unchanged). Admin routes edit metadata, series and collections.
 */
export function discoveryRoutes(deps: DiscoveryRoutesDeps): Router {
  const router = Router();
  const isAdmin = adminCheck(deps.adminToken);
  const whoAsks = requesterOf(isAdmin, deps.accounts);
  const admin = requireAdmin(deps.adminToken);
  const json = jsonBody('256kb');

  const findSeries = (id: string) => {
    const series = deps.metadata.seriesById(id);
    if (!series) throw new WeirError('SERIES_NOT_FOUND', `No series with id ${JSON.stringify(id)}.`);
    return series;
  };

  const imagesOf: ImagesOf = (refs, family) => {
    const profile = deps.profiles[family ?? 'web'];
    const formats: ImageFormat[] = family && compactFamilies.has(family) ? ['jpeg'] : ['jpeg', 'webp'];
    const out: ReturnType<ImagesOf> = {};
    for (const kind of artworkKinds) {
      for (const ref of refs) {
        const images = deps.artwork.images(ref).filter((image) => image.kind === kind && image.size === profile.artwork[kind] && formats.includes(image.format));
        if (images.length === 0) continue;
        out[kind] = Object.fromEntries(images.map((image) => [image.format, `/images/${image.file}`]));
        break;
      }
    }
    return out;
  };
  const { itemResource, seriesResource, railItemResource } = shapers(imagesOf);

  // Catalog art is public and never changes under its URL (the name is its content's hash).
  router.get('/images/:file', (req, res, next) => {
    const file = String(req.params.file);
    if (!imageFilePattern.test(file)) throw new WeirError('NOT_FOUND', 'No image with that name.');
    const immutable = 'public, max-age=31536000, immutable';
    res.sendFile(deps.artwork.path(file), { headers: { 'cache-control': immutable } }, (error?: Error & { status?: number }) => {
      if (!error || res.headersSent) return;
      const bucket = deps.bucketImages;
      if (error.status !== 404 || !bucket) return next(error.status === 404 ? new WeirError('NOT_FOUND', 'No image with that name.') : error);
      // Cut on another node: every node writes its art to the bucket before listing it.
      const fromBucket = async () => {
        if (bucket.signedUrl) {
          res.setHeader('cache-control', 'no-store'); // the signed URL expires; the image's own URL never does
          res.redirect(302, await bucket.signedUrl(file));
          return;
        }
        const object = await bucket.get(file, req.header('range'));
        if (!object) throw new WeirError('NOT_FOUND', 'No image with that name.');
        res.setHeader('cache-control', immutable);
        await sendBucketObject(req, res, object, file);
      };
      fromBucket().catch(next);
    });
  });

  // Admin: artwork uploads (a JPEG, PNG or WebP up to 10 MB), cut to every size the profiles name.
  const imageBody = express.raw({ type: ['image/jpeg', 'image/png', 'image/webp'], limit: '10mb' });
  const upload = (ref: (req: Request) => string) => [
    admin,
    imageBody,
    async (req: Request, res: express.Response) => {
      const kind = String(req.params.kind);
      if (!(artworkKinds as readonly string[]).includes(kind)) throw new WeirError('VALIDATION_FAILED', `Artwork kind must be one of ${artworkKinds.join(', ')}; received ${JSON.stringify(kind.slice(0, 50))}.`);
      if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
        throw new WeirError('UNSUPPORTED_MEDIA_TYPE', `Artwork is the image itself as the body, with content-type image/jpeg, image/png or image/webp; the request sent ${req.header('content-type') ? `"${req.header('content-type')!.slice(0, 100)}"` : 'no content-type'}.`);
      }
      const id = ref(req);
      const dir = await mkdtemp(join(deps.uploadDir ?? tmpdir(), 'weir-artwork-'));
      try {
        const file = join(dir, 'upload');
        await writeFile(file, req.body as Buffer);
        const stored = await deps.artwork.generate(id, file, 'uploaded', [kind as ArtworkKind]).catch(() => {
          throw new WeirError('ARTWORK_UNREADABLE', `The ${kind} upload is not an image Weir can read; send a JPEG, PNG or WebP.`);
        });
        req.log.info({ contentId: id, kind }, 'artwork uploaded');
        res.json({ items: stored.map((image) => ({ kind: image.kind, size: image.size, format: image.format, url: `/images/${image.file}` })) });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  ];
  for (const [prefix, kind] of [['/v1/titles', 'title'], ['/v1/live-streams', 'live-stream']] as const) {
    router.put(
      `${prefix}/:id/artwork/:kind`,
      ...upload((req) => {
        const id = String(req.params.id);
        if (deps.kindOf(id) !== kind) throw new WeirError(kind === 'title' ? 'TITLE_NOT_FOUND' : 'STREAM_NOT_FOUND', `No ${kind === 'title' ? 'title' : 'live stream'} with id ${JSON.stringify(id)}.`);
        return id;
      }),
    );
  }
  router.put(
    '/v1/series/:id/artwork/:kind',
    ...upload((req) => `series:${findSeries(String(req.params.id)).id}`),
  );

  const context = (req: Request) => {
    const requester = whoAsks(req);
    const country = deps.countryOf(req);
    return { requester, country, audience: deps.audienceOf(requester, country), family: requester.kind === 'viewer' ? requester.family : null, viewerId: requester.kind === 'viewer' ? requester.viewerId : null };
  };

  const railResource = (rail: Rail, family: DeviceFamily | null) => ({ id: rail.id, title: rail.title, kind: rail.kind, items: rail.items.map((entry) => railItemResource(entry, family)) });
  /**
   * Answers every member of an audience gets alike, serialized once and kept until the catalog,
   * a window, the trending hour, the audience's rentals or the art moves (bounded).
   */
  const shared = new Map<string, { stamp: string; json: string; hash: string }>();
  const sharedBytesLimit = 64 * 2 ** 20;
  let sharedBytes = 0;
  const sharedJson = (key: string, audience: Audience, build: () => unknown): { json: string; hash: string } => {
    const stamp = `${deps.catalog.stamp(audience)}|${deps.artwork.version}`;
    const cached = shared.get(key);
    if (cached?.stamp === stamp) return cached;
    const json = JSON.stringify(build());
    const entry = { stamp, json, hash: createHash('sha1').update(json).digest('base64url') };
    if (cached) sharedBytes -= cached.json.length;
    shared.delete(key);
    shared.set(key, entry);
    sharedBytes += json.length;
    // Bounded by size, not count: one home screen is tens of kilobytes.
    while (sharedBytes > sharedBytesLimit && shared.size > 1) {
      const [oldest, old] = shared.entries().next().value!;
      shared.delete(oldest);
      sharedBytes -= old.json.length;
    }
    return entry;
  };
  const audienceKey = (audience: Audience, family: DeviceFamily | null) => `${audience.key}|${[...audience.rentals].sort().join(',')}|${family ?? ''}`;

  router.get('/v1/home', (req, res) => {
    const { audience, family, viewerId } = context(req);
    const rails = sharedJson(`home|${audienceKey(audience, family)}`, audience, () => deps.catalog.sharedRails(audience).map((rail) => railResource(rail, family)));
    const personal = viewerId === null ? '' : `${JSON.stringify(railResource(deps.catalog.continueRail(audience, viewerId), family))}${rails.json === '[]' ? '' : ','}`;
    // The ETag names both parts without hashing the shared one again.
    sendRevalidatedText(req, res, () => `{"rails":[${personal}${rails.json.slice(1, -1)}]}`, privateRevalidate, `home|${rails.hash}|${personal}`);
  });

  router.get('/v1/catalog/items/:id', (req, res) => {
    const id = String(req.params.id);
    const { requester, country, audience, family, viewerId } = context(req);
    const item = deps.catalog.item(audience, id);
    if (!item) {
      throw deps.catalog.exists(id) ? (deps.refusal(id, requester, country) ?? new WeirError('CONTENT_UNAVAILABLE', `Content ${id} cannot be shown now.`)) : new WeirError('CONTENT_UNAVAILABLE', `No title or live stream with id ${JSON.stringify(id)} can be shown now.`);
    }
    const next = deps.catalog.nextEpisode(audience, id);
    const progress = viewerId ? deps.catalog.continueWatching(audience, viewerId).find((entry) => entry.kind === 'title' && entry.item.id === id && !entry.progress?.next) : undefined;
    sendRevalidated(
      req,
      res,
      {
        ...itemResource(item, family),
        credits: item.metadata.credits,
        resume: progress && progress.kind === 'title' && progress.progress ? { position: seconds(progress.progress.positionMs) } : null,
        nextEpisode: next ? itemResource(next, family) : null,
      },
      privateRevalidate,
    );
  });

  router.get('/v1/catalog/items/:id/recommendations', (req, res) => {
    const id = String(req.params.id);
    const { audience, family, viewerId } = context(req);
    if (!deps.catalog.item(audience, id)) throw new WeirError('CONTENT_UNAVAILABLE', `No title or live stream with id ${JSON.stringify(id)} can be shown now.`);
    sendRevalidated(req, res, { items: deps.catalog.recommendations(audience, viewerId, id).map((entry) => railItemResource(entry, family)) }, privateRevalidate);
  });

  router.get('/v1/catalog/series/:id', (req, res) => {
    const { audience, family } = context(req);
    const view = deps.catalog.series(audience, String(req.params.id));
    if (!view) throw new WeirError('SERIES_NOT_FOUND', `No series ${JSON.stringify(String(req.params.id))} with episodes you may watch here and now.`);
    sendRevalidated(
      req,
      res,
      { ...seriesResource(view.series, family, view.seasons[0]?.episodes[0]?.id ?? null), credits: view.series.credits, seasons: view.seasons.map((season) => ({ number: season.number, episodes: season.episodes.map((episode) => itemResource(episode, family)) })) },
      privateRevalidate,
    );
  });

  router.get('/v1/catalog/search', (req, res) => {
    const query = parseInput(searchQuery, req.query, 'search query');
    const { audience, family } = context(req);
    // Popular searches repeat: the results are kept per audience and words, like the rails.
    const results = sharedJson(`search|${audienceKey(audience, family)}|${queryWords(query.q).join(' ')}|${query.limit}`, audience, () => {
      const found = deps.catalog.search(audience, query.q, query.limit);
      return {
        items: found.items.map((entry) => railItemResource(entry, family)),
        people: found.people.map((person) => ({ name: person.name, items: person.items.map((entry) => railItemResource(entry, family)) })),
        genres: found.genres.map((genre) => ({ name: genre.name, items: genre.items.map((entry) => railItemResource(entry, family)) })),
      };
    });
    sendRevalidatedText(req, res, () => `{"query":${JSON.stringify(query.q)},${results.json.slice(1)}`, privateRevalidate, `search|${results.hash}|${query.q}`);
  });

  // Admin: metadata of titles and live streams (mounted behind the admin check with their prefixes).
  for (const [prefix, kind] of [['/v1/titles', 'title'], ['/v1/live-streams', 'live-stream']] as const) {
    const find = (id: string) => {
      if (deps.kindOf(id) !== kind) throw new WeirError(kind === 'title' ? 'TITLE_NOT_FOUND' : 'STREAM_NOT_FOUND', `No ${kind === 'title' ? 'title' : 'live stream'} with id ${JSON.stringify(id)}.`);
      return id;
    };
    router.get(`${prefix}/:id/metadata`, (req, res) => {
      res.json(metadataResource(deps.metadata.get(find(String(req.params.id)))));
    });
    router.put(`${prefix}/:id/metadata`, json, (req, res) => {
      const id = find(String(req.params.id));
      const body = parseInput(metadataBody, req.body ?? {}, 'metadata');
      if (body.series) {
        if (kind !== 'title') throw new WeirError('VALIDATION_FAILED', 'Invalid metadata: series: only titles can be episodes.');
        if (!deps.metadata.seriesById(body.series.id)) throw new WeirError('SERIES_NOT_FOUND', `No series with id ${JSON.stringify(body.series.id)}; create it with POST /v1/series first.`);
        for (const [otherId, other] of deps.metadata.entries()) {
          if (otherId !== id && other.seriesId === body.series.id && other.season === body.series.season && other.episode === body.series.episode) {
            throw new WeirError('EPISODE_TAKEN', `Title ${otherId} already is season ${body.series.season}, episode ${body.series.episode} of this series.`);
          }
        }
      }
      const metadata = { synopsis: body.synopsis, genres: body.genres, credits: body.credits, releaseYear: body.releaseYear, seriesId: body.series?.id ?? null, season: body.series?.season ?? null, episode: body.series?.episode ?? null };
      deps.metadata.put(id, metadata, deps.clock.now());
      req.log.info({ contentId: id }, 'metadata changed');
      res.json(metadataResource(metadata));
    });
  }

  // Admin: series and curated collections.
  router.get('/v1/series', admin, (_req, res) => {
    res.json({ items: deps.metadata.listSeries().map(adminSeriesResource) });
  });
  router.post('/v1/series', admin, json, (req, res) => {
    const body = parseInput(seriesBody, req.body ?? {}, 'series');
    const now = deps.clock.now();
    const series: Series = { id: randomUUID(), ...body, createdAt: now };
    deps.metadata.putSeries(series, now);
    res.status(201).location(`/v1/series/${series.id}`).json(adminSeriesResource(series));
  });
  router.get('/v1/series/:id', admin, (req, res) => {
    res.json(adminSeriesResource(findSeries(String(req.params.id))));
  });
  router.put('/v1/series/:id', admin, json, (req, res) => {
    const existing = findSeries(String(req.params.id));
    const body = parseInput(seriesBody, req.body ?? {}, 'series');
    const series: Series = { ...existing, ...body };
    deps.metadata.putSeries(series, deps.clock.now());
    res.json(adminSeriesResource(series));
  });
  router.delete('/v1/series/:id', admin, (req, res) => {
    const series = findSeries(String(req.params.id));
    if (!deps.metadata.removeSeries(series.id)) throw new WeirError('SERIES_HAS_EPISODES', `Series ${series.id} still has episodes; move them to another series or clear their series first.`);
    res.status(204).end();
  });
  router.get('/v1/collections', admin, (_req, res) => {
    res.json({ items: deps.metadata.listCollections() });
  });
  router.put('/v1/collections/:id', admin, json, (req, res) => {
    const id = String(req.params.id);
    if (!idPattern.test(id)) throw new WeirError('VALIDATION_FAILED', `A collection id is 1–100 letters, digits, "_" or "-"; received ${JSON.stringify(id.slice(0, 120))}.`);
    const body = parseInput(collectionBody, req.body ?? {}, 'collection');
    const unknown = body.items.filter((ref) => (ref.startsWith('series:') ? !deps.metadata.seriesById(ref.slice('series:'.length)) : deps.kindOf(ref) === null));
    if (unknown.length > 0) throw new WeirError('VALIDATION_FAILED', `Invalid collection: items: each is a title or live stream id, or "series:<id>"; unknown: ${unknown.slice(0, 5).map((ref) => JSON.stringify(ref)).join(', ')}.`);
    deps.metadata.putCollection({ id, ...body }, deps.clock.now());
    res.json({ id, ...body });
  });
  router.delete('/v1/collections/:id', admin, (req, res) => {
    if (!deps.metadata.removeCollection(String(req.params.id))) throw new WeirError('COLLECTION_NOT_FOUND', `No collection with id ${JSON.stringify(String(req.params.id))}.`);
    res.status(204).end();
  });
  return router;
}

function metadataResource(metadata: ReturnType<MetadataStore['get']>) {
  return {
    synopsis: metadata.synopsis,
    genres: metadata.genres,
    credits: metadata.credits,
    releaseYear: metadata.releaseYear,
    series: metadata.seriesId ? { id: metadata.seriesId, season: metadata.season, episode: metadata.episode } : null,
  };
}

function adminSeriesResource(series: Series) {
  return { id: series.id, name: series.name, synopsis: series.synopsis, genres: series.genres, credits: series.credits, releaseYear: series.releaseYear, createdAt: iso(series.createdAt) };
}
