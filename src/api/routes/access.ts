import { Router } from 'express';
import { z } from 'zod';
import type { ContentAccess, ContentAccessStore } from '../../catalog/access.js';
import type { Clock } from '../../clock.js';
import { WeirError } from '../../errors.js';
import { jsonBody, parseInput } from '../http.js';

const country = z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code in capitals (e.g. DE)');
const isoDate = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));

export const accessBody = z
  .strictObject({
    packages: z.array(z.string().trim().min(1).max(64)).min(1).max(50),
    availableFrom: isoDate.nullable().default(null),
    availableUntil: isoDate.nullable().default(null),
    geo: z.strictObject({ mode: z.enum(['allow', 'deny']), countries: z.array(country).min(1).max(250) }).nullable().default(null),
    rating: z.string().min(1).max(32).nullable().default(null),
  })
  .refine((a) => a.availableFrom === null || a.availableUntil === null || a.availableFrom < a.availableUntil, {
    message: 'availableUntil must be after availableFrom',
    path: ['availableUntil'],
  });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function accessResource(access: ContentAccess) {
  return { packages: access.packages, availableFrom: iso(access.availableFrom), availableUntil: iso(access.availableUntil), geo: access.geo, rating: access.rating };
}

export type AccessRoutesDeps = {
  access: ContentAccessStore;
  clock: Clock;
  /** Which kind of content an id names, if any. */
  kindOf: (contentId: string) => 'title' | 'live-stream' | null;
  /** Content ratings the server knows (a rating off the scale is refused here, not at session start). */
  ratings: readonly string[];
};

/**
 * Who may watch a title or live stream, when and where: GET and PUT
 * /v1/titles/{id}/access and /v1/live-streams/{id}/access (admin; mounted behind the admin check).
 * A change applies to the next session start at once.
 */
export function accessRoutes(deps: AccessRoutesDeps): Router {
  const router = Router();
  for (const [prefix, kind] of [['/v1/titles', 'title'], ['/v1/live-streams', 'live-stream']] as const) {
    const find = (id: string) => {
      if (deps.kindOf(id) !== kind) {
        throw new WeirError(kind === 'title' ? 'TITLE_NOT_FOUND' : 'STREAM_NOT_FOUND', `No ${kind === 'title' ? 'title' : 'live stream'} with id ${JSON.stringify(id)}.`);
      }
      return id;
    };
    router.get(`${prefix}/:id/access`, (req, res) => {
      res.json(accessResource(deps.access.get(find(String(req.params.id)))));
    });
    router.put(`${prefix}/:id/access`, jsonBody('64kb'), (req, res) => {
      const id = find(String(req.params.id));
      const access = parseInput(accessBody, req.body ?? {}, 'access rules');
      if (access.rating !== null && !deps.ratings.includes(access.rating)) {
        throw new WeirError('VALIDATION_FAILED', `rating must be one of ${deps.ratings.join(', ')} (playback.ratings); received ${JSON.stringify(access.rating)}.`);
      }
      deps.access.put(id, access, deps.clock.now());
      req.log.info({ contentId: id }, 'access rules changed');
      res.json(accessResource(access));
    });
  }
  return router;
}
