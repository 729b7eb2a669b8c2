import { z } from 'zod';
import { deviceFamilies } from '../../viewers/plans.js';
import { webhookEventTypes } from '../../operator/webhooks/events.js';
import { messageStates } from '../../operator/webhooks/store.js';

/**
 * The documented shapes of Weir's JSON answers. End-to-end tests check every answer they get
 * against the document built from these, so a field renamed in a route without being renamed
 * here fails a test.
 */
const time = z.iso.datetime({ offset: true });
const nullableTime = time.nullable();
const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

export const errorResponse = z.object({ error: z.object({ code: z.string(), message: z.string() }).loose() });

export const titleResponse = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string(),
  tags: z.array(z.string()),
  protection: z.string(),
  state: z.string(),
  progress: z.number().min(0).max(1),
  error: z.object({ code: z.string(), message: z.string() }).loose().nullable(),
  source: z.looseObject({ sizeBytes: z.number(), durationMs: z.number(), width: z.number(), height: z.number(), videoCodec: z.string() }).nullable(),
  renditions: z.array(z.looseObject({})),
  createdAt: time,
  updatedAt: time,
  upload: z.object({ url: z.string(), method: z.literal('PUT'), tusEndpoint: z.string(), tusMetadata: z.object({ titleId: z.string() }) }).nullable(),
});
export const titlePage = page(titleResponse);
export const uploadUrlResponse = z.union([
  z.object({ method: z.literal('PUT'), url: z.string(), expiresAt: time, maxBytes: z.number().int() }),
  z.object({
    method: z.literal('multipart'),
    uploadId: z.string(),
    /** Every part but the last has exactly this many bytes. */
    partBytes: z.number().int(),
    parts: z.array(z.object({ partNumber: z.number().int(), url: z.string() })),
    /** Where the next page of signed parts starts (ask again with uploadId and fromPart); null when every part is signed. */
    nextPart: z.number().int().nullable(),
    expiresAt: time,
    maxBytes: z.number().int(),
  }),
]);

export const streamResponse = z.object({
  id: z.string(),
  name: z.string(),
  mode: z.enum(['passthrough', 'ladder']),
  state: z.string(),
  error: z.looseObject({}).nullable(),
  streamKey: z.string(),
  reconnectWindowSeconds: z.number().int(),
  archive: z.boolean(),
  protection: z.string(),
  keyRotationSegments: z.number().int(),
  srtEncrypted: z.boolean(),
  archiveTitleIds: z.array(z.string()),
  ingest: z.object({ rtmp: z.string(), srt: z.string() }),
  live: z
    .object({
      publishing: z.boolean(),
      connection: z.record(z.string(), z.number()).nullable(),
      bytesIn: z.number(),
      renditions: z.array(z.object({ id: z.string(), kind: z.string(), codecs: z.string(), width: z.number().nullable(), height: z.number().nullable(), bandwidth: z.number() })),
    })
    .nullable(),
  createdAt: time,
  updatedAt: time,
});
export const streamList = list(streamResponse);

export const accessResponse = z.object({
  packages: z.array(z.string()),
  availableFrom: nullableTime,
  availableUntil: nullableTime,
  geo: z.object({ mode: z.enum(['allow', 'deny']), countries: z.array(z.string()) }).nullable(),
  rating: z.string().nullable(),
});

export const viewerResponse = z.object({
  id: z.string(),
  email: z.string(),
  displayName: z.string(),
  maxRating: z.string().nullable(),
  planId: z.string().nullable(),
  subscriptionStartsAt: nullableTime,
  subscriptionEndsAt: nullableTime,
  createdAt: time,
});
export const viewerPage = page(viewerResponse);
export const deviceResponse = z.object({ id: z.string(), family: z.enum(deviceFamilies), model: z.string().nullable(), appVersion: z.string().nullable(), registeredAt: time, lastSeenAt: time, current: z.boolean().optional() });
export const deviceList = list(deviceResponse);
export const planResponse = z.object({ id: z.string(), name: z.string(), maxStreams: z.number().int(), maxDevices: z.number().int(), maxHeight: z.number().int(), packages: z.array(z.string()) }).loose();
export const planList = list(planResponse);
export const rentalResponse = z.object({ id: z.string(), contentId: z.string(), startsAt: time, endsAt: time });
export const tokensResponse = z.object({ accessToken: z.string(), accessTokenExpiresAt: time, refreshToken: z.string(), refreshTokenExpiresAt: time }).loose();

const leaseFields = {
  id: z.string(),
  contentId: z.string(),
  device: z.looseObject({}).nullable(),
  startedAt: time,
  /** The player's state from its last heartbeat; null before the first. */
  state: z.string().nullable(),
  position: z.number().nullable(),
};
export const leaseList = list(z.object(leaseFields));
export const heartbeatResponse = z.object({ ...leaseFields, expiresAt: time });
export const playbackSessionResponse = z.object({
  id: z.string(),
  contentId: z.string(),
  expiresAt: time,
  heartbeat: z.object({ url: z.string(), intervalSeconds: z.number() }),
  maxHeight: z.number().int().nullable(),
  posterUrl: z.string(),
  sources: z.array(z.object({ protocol: z.enum(['hls', 'dash']), url: z.string(), mimeType: z.string(), drm: z.looseObject({ scheme: z.string() }).nullable() })).min(1),
  live: z.looseObject({ targetLatencySeconds: z.number() }).nullable(),
  resumeFrom: z.number().nullable(),
  thumbnailsUrl: z.string().nullable(),
});
export const playableList = list(z.object({ id: z.string(), kind: z.enum(['title', 'live-stream']), name: z.string(), protection: z.string() }));

const images = z.record(z.string(), z.record(z.string(), z.string()));
const item = z.looseObject({ kind: z.enum(['title', 'live-stream', 'series']), id: z.string(), name: z.string(), images });
export const homeResponse = z.object({ rails: z.array(z.object({ id: z.string(), title: z.string(), kind: z.string(), items: z.array(item) })) }).loose();
export const itemResponse = item;
export const itemList = list(item);
export const seriesDetailResponse = z.looseObject({ kind: z.literal('series'), id: z.string(), name: z.string(), seasons: z.array(z.looseObject({})) });
export const metadataResponse = z.looseObject({ synopsis: z.string(), genres: z.array(z.string()), credits: z.array(z.object({ name: z.string(), role: z.string() })), releaseYear: z.number().int().nullable() });
export const seriesResponse = z.looseObject({ id: z.string(), name: z.string(), synopsis: z.string(), genres: z.array(z.string()) });
export const seriesList = list(seriesResponse);
export const collectionResponse = z.looseObject({ id: z.string(), name: z.string(), position: z.number().int(), items: z.array(z.string()) });
export const collectionList = list(collectionResponse);
export const artworkList = list(z.object({ kind: z.string(), size: z.string(), format: z.string(), url: z.string() }));

export const qoeFiguresResponse = z.object({ from: time, to: time, by: z.string(), bucket: z.string(), groups: z.array(z.looseObject({ bucketStart: nullableTime })) });
export const qoeSessionResponse = z.looseObject({ sessionId: z.string(), contentId: z.string(), startedAt: nullableTime, endedAt: nullableTime, startupMs: z.number().nullable(), rebufferCount: z.number().int() });

export const webhookResponse = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string(),
  events: z.array(z.enum(webhookEventTypes)),
  enabled: z.boolean(),
  disabledReason: z.string().nullable(),
  createdAt: time,
  updatedAt: time,
});
export const webhookCreatedResponse = webhookResponse.extend({ secret: z.string() });
export const webhookList = list(webhookResponse);
export const webhookSecretResponse = z.object({ secret: z.string() });
export const webhookTestResponse = z.object({ messageId: z.string(), type: z.string() });
export const deliveryLogResponse = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      type: z.string(),
      state: z.enum(messageStates),
      attempts: z.number().int(),
      nextAttemptAt: nullableTime,
      createdAt: time,
      finishedAt: nullableTime,
      payload: z.object({ type: z.string(), timestamp: time, data: z.record(z.string(), z.unknown()) }),
      attemptLog: z.array(z.object({ attempt: z.number().int(), at: time, durationMs: z.number().int(), status: z.number().int().nullable(), error: z.string().nullable(), detail: z.string().nullable() })),
    }),
  ),
  next: z.string().nullable(),
});

export const healthResponse = z.object({ status: z.literal('ok') });
export const readyResponse = z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), z.boolean()) });
const group = z.object({ name: z.string(), items: z.array(item) });
export const searchResponse = z.object({ query: z.string(), items: z.array(item), people: z.array(group), genres: z.array(group) });
