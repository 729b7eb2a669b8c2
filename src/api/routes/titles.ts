import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import type { TitleRegistry } from '../../actors/title.registry.js';
import type { TitleCatalog } from '../../catalog/titles.js';
import { WeirError } from '../../errors.js';
import { protections } from '../../drm/keys.js';
import { jsonBody, parseInput } from '../http.js';
import { baseUrl, titleResource } from '../resources.js';

export const createTitleBody = z.strictObject({
  title: z.string().trim().min(1).max(500),
  description: z.string().max(10_000).optional(),
  tags: z.array(z.string().trim().min(1).max(100)).max(100).optional(),
  protection: z.enum(protections).optional(),
});

/** Asking where to upload straight to the bucket: a file's size past upload.partBytes gets a multipart upload. */
export const sourceUploadUrlBody = z.strictObject({
  bytes: z.number().int().positive().optional(),
  /** A multipart upload already begun: its parts are signed again (the first URLs expire on a long upload). */
  uploadId: z.string().min(1).max(1024).optional(),
  /** The first part to sign (answers sign at most 1000 parts; the answer's nextPart says where the next page starts). */
  fromPart: z.number().int().min(1).max(10_000).optional(),
});

/** Saying the upload is in the bucket: a multipart upload names its id and each part's ETag, as the bucket answered the part's PUT. */
export const sourceUploadedBody = z.strictObject({
  uploadId: z.string().min(1).max(1024).optional(),
  parts: z
    .array(z.strictObject({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(200) }))
    .min(1)
    .max(10_000)
    .optional(),
});

// Unknown parameters (say ?q= or ?tag=) are refused rather than silently ignored.
export const titleListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export type TitleRoutesDeps = {
  catalog: TitleCatalog;
  registry: TitleRegistry;
  publicUrl: string;
  isStopping: () => boolean;
  /** Whether a failed title still holds its source (so a retry can start from it). */
  hasSource: (id: string) => boolean;
};

export function titleRoutes(deps: TitleRoutesDeps): Router {
  const router = Router();
  const json = jsonBody('1mb');

  const find = (id: string) => {
    const title = deps.catalog.get(id);
    if (!title) throw new WeirError('TITLE_NOT_FOUND', `No title with id ${JSON.stringify(id)}.`);
    return title;
  };

  router.post('/v1/titles', json, (req, res) => {
    if (deps.isStopping()) throw new WeirError('SHUTTING_DOWN', 'The server is stopping; try again shortly.');
    const body = parseInput(createTitleBody, req.body ?? {}, 'title body');
    const id = randomUUID();
    const title = deps.catalog.create({ id, title: body.title, description: body.description ?? '', tags: body.tags ?? [], protection: body.protection ?? 'none' });
    deps.registry.create(id);
    req.log.info({ titleId: id }, 'title created');
    res.status(201).location(`/v1/titles/${id}`).json(titleResource(deps.catalog.get(id) ?? title, baseUrl(req, deps.publicUrl)));
  });

  router.get('/v1/titles', (req, res) => {
    const query = parseInput(titleListQuery, req.query, 'query');
    const { items, total } = deps.catalog.list(query.limit, query.offset);
    const base = baseUrl(req, deps.publicUrl);
    res.json({ items: items.map((t) => titleResource(t, base)), total, limit: query.limit, offset: query.offset });
  });

  router.get('/v1/titles/:id', (req, res) => {
    res.json(titleResource(find(req.params.id), baseUrl(req, deps.publicUrl)));
  });

  // A failed title is not a dead end: run it again from its source (or upload a new source).
  router.post('/v1/titles/:id/retry', async (req, res) => {
    const title = find(req.params.id);
    if (title.state !== 'failed') {
      throw new WeirError('TITLE_NOT_RETRYABLE', `Title ${title.id} is ${title.state}; only failed titles can be retried.`);
    }
    if (!deps.hasSource(title.id)) {
      throw new WeirError('TITLE_NOT_RETRYABLE', `Title ${title.id} no longer holds its source; upload a new one with PUT /v1/titles/${title.id}/source.`);
    }
    await deps.registry.startOver(title.id);
    req.log.info({ titleId: title.id }, 'title retried');
    res.status(202).json(titleResource(deps.catalog.get(title.id) ?? title, baseUrl(req, deps.publicUrl)));
  });

  router.delete('/v1/titles/:id', async (req, res) => {
    find(req.params.id);
    await deps.registry.delete(req.params.id);
    req.log.info({ titleId: req.params.id }, 'title deleted');
    res.status(204).end();
  });

  return router;
}
