import { randomBytes, randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { StreamRegistry } from '../../actors/stream.registry.js';
import type { StreamCatalog, StreamRecord } from '../../catalog/streams.js';
import { WeirError } from '../../errors.js';
import { jsonBody, parseInput } from '../http.js';

export const createStreamBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  mode: z.enum(['passthrough', 'ladder']).optional(),
  reconnectWindowSeconds: z.number().int().min(0).max(3600).optional(),
  archive: z.boolean().optional(),
  // Whole-segment AES-128 is not offered for live: its players are served by cenc/cbcs titles.
  protection: z.enum(['none', 'cenc', 'cbcs']).optional(),
  keyRotationSegments: z.number().int().min(0).max(100_000).optional(),
  srtPassphrase: z.string().min(10).max(79).optional(),
});

// The list takes no parameters: any given is refused rather than silently ignored.
export const streamListQuery = z.strictObject({});

export const resetKeyBody = z.strictObject({ srtPassphrase: z.union([z.string().min(10).max(79), z.null()]).optional() });

export type StreamRoutesDeps = {
  catalog: StreamCatalog;
  registry: StreamRegistry;
  publicUrl: string;
  rtmpPort: () => number;
  srtPort: () => number;
  /** Per-connection statistics of the publisher, when its protocol keeps them (SRT). */
  ingestStats: (streamId: string) => Record<string, number> | null;
  defaultReconnectWindowSeconds: number;
};

/** Stream keys are URL- and RTMP-name-safe: [A-Za-z0-9_-]. */
export const newStreamKey = (): string => randomBytes(18).toString('base64url');

function ingestHost(req: Request, publicUrl: string): string {
  return publicUrl ? new URL(publicUrl).hostname : req.hostname || 'localhost';
}

export function streamRoutes(deps: StreamRoutesDeps): Router {
  const router = Router();
  const json = jsonBody('64kb');

  const resource = (stream: StreamRecord, req: Request) => {
    const broadcast = deps.registry.broadcast(stream.id);
    return {
      id: stream.id,
      name: stream.name,
      mode: stream.mode,
      state: stream.state,
      error: stream.error,
      streamKey: stream.streamKey,
      reconnectWindowSeconds: stream.reconnectWindowSeconds,
      archive: stream.archive,
      protection: stream.protection,
      keyRotationSegments: stream.keyRotationSegments,
      // The passphrase itself is never echoed: the operator set it.
      srtEncrypted: stream.srtPassphrase !== null,
      archiveTitleIds: stream.archiveTitleIds,
      ingest: {
        rtmp: `rtmp://${ingestHost(req, deps.publicUrl)}:${deps.rtmpPort()}/live/${stream.streamKey}`,
        // Ready to paste into ffmpeg or OBS (mpegts over SRT, live mode).
        srt: `srt://${ingestHost(req, deps.publicUrl)}:${deps.srtPort()}?streamid=${stream.streamKey}`,
      },
      live:
        broadcast && deps.registry.isPlayable(stream.id)
          ? {
              publishing: deps.registry.isPublishing(stream.id),
              connection: deps.ingestStats(stream.id),
              bytesIn: broadcast.bytesIn,
              renditions: broadcast.variants().map((v) => ({ id: v.id, kind: v.kind, codecs: v.codec, width: v.width || null, height: v.height || null, bandwidth: v.peakBandwidth })),
            }
          : null,
      createdAt: new Date(stream.createdAt).toISOString(),
      updatedAt: new Date(stream.updatedAt).toISOString(),
    };
  };

  const find = (id: string): StreamRecord => {
    const stream = deps.catalog.get(id);
    if (!stream) throw new WeirError('STREAM_NOT_FOUND', `No live stream with id ${JSON.stringify(id)}.`);
    return stream;
  };

  router.post('/v1/live-streams', json, (req, res) => {
    const body = parseInput(createStreamBody, req.body ?? {}, 'live stream body');
    const stream = deps.catalog.create({
      id: randomUUID(),
      name: body.name,
      mode: body.mode ?? 'passthrough',
      reconnectWindowSeconds: body.reconnectWindowSeconds ?? deps.defaultReconnectWindowSeconds,
      archive: body.archive ?? false,
      streamKey: newStreamKey(),
      protection: body.protection ?? 'none',
      keyRotationSegments: body.keyRotationSegments ?? 0,
      srtPassphrase: body.srtPassphrase ?? null,
    });
    deps.registry.create(stream);
    req.log.info({ streamId: stream.id, mode: stream.mode }, 'live stream created');
    res.status(201).location(`/v1/live-streams/${stream.id}`).json(resource(deps.catalog.get(stream.id)!, req));
  });

  router.get('/v1/live-streams', (req, res) => {
    parseInput(streamListQuery, req.query, 'query');
    res.json({ items: deps.catalog.all().map((s) => resource(s, req)) });
  });

  router.get('/v1/live-streams/:id', (req, res) => {
    res.json(resource(find(req.params.id), req));
  });

  router.post('/v1/live-streams/:id/reset-key', json, (req, res) => {
    const id = String(req.params.id);
    find(id);
    const body = parseInput(resetKeyBody, req.body ?? {}, 'reset-key body');
    // The stream's actor replaces the key (and cuts a publisher using the old one).
    deps.registry.resetKey(id, newStreamKey(), body.srtPassphrase);
    req.log.info({ streamId: id }, 'stream key reset');
    res.json(resource(find(id), req));
  });

  router.delete('/v1/live-streams/:id', async (req, res) => {
    find(req.params.id);
    await deps.registry.delete(req.params.id);
    res.status(204).end();
  });

  return router;
}
