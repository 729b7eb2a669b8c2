import { Router } from 'express';
import { z } from 'zod';
import type { QoeRecorder, QoeSession } from '../../analytics/qoe.js';
import type { Clock } from '../../clock.js';
import { WeirError } from '../../errors.js';
import { parseInput } from '../http.js';

const isoDate = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));
const bucketMs = { hour: 3_600_000, day: 86_400_000 } as const;
export const qoeQuery = z
  .strictObject({
    from: isoDate.optional(),
    to: isoDate.optional(),
    by: z.enum(['title', 'family', 'plan', 'none']).default('none'),
    bucket: z.enum(['hour', 'day', 'none']).default('none'),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, { message: 'to must be after from', path: ['to'] });

export type AnalyticsRoutesDeps = { qoe: QoeRecorder; clock: Clock };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function sessionResource(session: QoeSession) {
  return {
    sessionId: session.sessionId,
    contentId: session.contentId,
    viewerId: session.viewerId,
    family: session.family,
    planId: session.planId,
    startedAt: iso(session.startedAt),
    endedAt: iso(session.endedAt),
    startupMs: session.startupMs,
    rebufferCount: session.rebufferCount,
    rebufferMs: session.rebufferMs,
    playedMs: session.playedMs,
    averageBitrate: session.playedMs > 0 && session.bitsPlayed > 0 ? Math.round((session.bitsPlayed * 1000) / session.playedMs) : null,
    lastBitrate: session.lastBitrate,
    errors: session.errors,
    videoStartFailure: session.startFailed,
    playbackFailure: session.playbackFailed,
    exitedBeforeVideoStart: session.exitedBeforeStart,
    cmcdRequests: session.cmcdRequests,
    cmcdBufferStarvations: session.cmcdStarved,
  };
}

/**
 * QoE analytics (admin; mounted behind the admin check): figures over a time range, grouped by
 * title, device family or plan, in hourly or daily buckets; and one session's record.
 */
export function analyticsRoutes(deps: AnalyticsRoutesDeps): Router {
  const router = Router();
  router.get('/v1/analytics/qoe', (req, res) => {
    const query = parseInput(qoeQuery, req.query, 'query');
    const to = query.to ?? deps.clock.now();
    const from = query.from ?? to - 86_400_000;
    const groups = deps.qoe.figures(from, to, query.by, query.bucket === 'none' ? null : bucketMs[query.bucket]);
    res.setHeader('cache-control', 'no-store');
    res.json({
      from: iso(from),
      to: iso(to),
      by: query.by,
      bucket: query.bucket,
      groups: groups.map((group) => ({ [query.by === 'none' ? 'all' : query.by]: group.group ?? 'all', bucketStart: iso(group.bucketStart), ...group.figures })),
    });
  });
  router.get('/v1/analytics/sessions/:id', (req, res) => {
    const session = deps.qoe.session(String(req.params.id));
    if (!session) throw new WeirError('PLAYBACK_SESSION_NOT_FOUND', `No playback session ${JSON.stringify(String(req.params.id))} has QoE figures.`);
    res.setHeader('cache-control', 'no-store');
    res.json(sessionResource(session));
  });
  return router;
}
