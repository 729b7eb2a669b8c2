import { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import { aes128KeyName, clearKeyLicenseName } from '../../layout.js';
import { eventTopics } from '../../operator/events.js';
import { accessBody } from '../routes/access.js';
import { qoeQuery } from '../routes/analytics.js';
import { collectionBody, metadataBody, searchQuery, seriesBody } from '../routes/discovery.js';
import { heartbeatBody, sessionBody } from '../routes/playback.js';
import { createStreamBody, resetKeyBody, streamListQuery } from '../routes/streams.js';
import { createTitleBody, sourceUploadedBody, sourceUploadUrlBody, titleListQuery } from '../routes/titles.js';
import { createViewerBody, loginBody, planBody, refreshBody, rentalBody, updateViewerBody, viewerListQuery } from '../routes/viewers.js';
import { createWebhookBody, deliveryLogQuery, updateWebhookBody } from '../routes/webhooks.js';
import type { Operation } from './document.js';
import * as r from './responses.js';

const ok = (description: string, schema?: z.ZodType) => ({ 200: { description, schema } });
const created = (description: string, schema: z.ZodType) => ({ 201: { description, schema } });
const noContent = { 204: { description: 'Done; no body.' } };

/** Why a viewer may not start or browse this content here and now. */
const refusals: ErrorCode[] = ['VIEWER_AUTH_REQUIRED', 'CONTENT_UNAVAILABLE', 'CONTENT_NOT_READY', 'NOT_ENTITLED', 'CONTENT_NOT_YET_AVAILABLE', 'CONTENT_NO_LONGER_AVAILABLE', 'GEO_BLOCKED', 'RATING_BLOCKED'];
const media = (path: string, summary: string, contentType = 'application/octet-stream'): Operation => ({
  method: 'get',
  path,
  summary,
  tag: 'media',
  auth: 'playback-token',
  responses: { 200: { description: 'The file.', contentType }, 206: { description: 'A byte range of it.', contentType }, 304: { description: 'Not modified.' } },
  errors: ['MEDIA_PATH_INVALID', 'CONTENT_NOT_READY', 'RENDITION_NOT_ALLOWED', 'LIVE_REQUEST_INVALID', 'LIVE_NOT_AVAILABLE'],
});

/** Operations on one kind of content (titles, live streams) that the two share. */
function contentExtras(prefix: '/v1/titles' | '/v1/live-streams', missing: ErrorCode, tag: string): Operation[] {
  return [
    { method: 'get', path: `${prefix}/{id}/access`, summary: 'Who may watch it, when and where.', tag, auth: 'admin', responses: ok('The access rules.', r.accessResponse), errors: [missing] },
    { method: 'put', path: `${prefix}/{id}/access`, summary: 'Replaces its access rules (applies to the next session start).', tag, auth: 'admin', body: accessBody, responses: ok('The access rules.', r.accessResponse), errors: [missing] },
    { method: 'get', path: `${prefix}/{id}/metadata`, summary: 'Its descriptive metadata.', tag: 'discovery', auth: 'admin', responses: ok('The metadata.', r.metadataResponse), errors: [missing] },
    { method: 'put', path: `${prefix}/{id}/metadata`, summary: 'Replaces its metadata (synopsis, genres, credits, year, series and episode).', tag: 'discovery', auth: 'admin', body: metadataBody, responses: ok('The metadata.', r.metadataResponse), errors: [missing, 'SERIES_NOT_FOUND', 'EPISODE_TAKEN'] },
    {
      method: 'put',
      path: `${prefix}/{id}/artwork/{kind}`,
      summary: 'Uploads artwork of one kind (poster, backdrop, thumbnail…), cut to every size the device profiles name.',
      tag: 'discovery',
      auth: 'admin',
      rawBody: { contentTypes: ['image/jpeg', 'image/png', 'image/webp'], description: 'The image itself, up to 10 MB.' },
      responses: ok('The stored images.', r.artworkList),
      errors: [missing, 'ARTWORK_UNREADABLE'],
    },
  ];
}

/** Every route Weir serves, documented from the schemas its handlers validate with. */
export function operations(): Operation[] {
  return [
    // Health and the document itself.
    { method: 'get', path: '/healthz', summary: 'Liveness: the process answers.', tag: 'operations', auth: 'none', responses: ok('Alive.', r.healthResponse) },
    { method: 'get', path: '/readyz', summary: 'Readiness, with each check.', tag: 'operations', auth: 'none', responses: { ...ok('Ready.', r.readyResponse), 503: { description: 'Not ready.', schema: r.readyResponse } } },
    { method: 'get', path: '/time', summary: 'The server clock (ISO 8601), for LL-DASH UTCTiming.', tag: 'media', auth: 'none', responses: { 200: { description: 'The time.', contentType: 'text/plain' } } },
    { method: 'get', path: '/metrics', summary: 'Prometheus metrics (when not on a port of their own).', tag: 'operations', auth: 'admin', responses: { 200: { description: 'Prometheus text format.', contentType: 'text/plain' } } },
    { method: 'get', path: '/openapi.json', summary: 'This document.', tag: 'operations', auth: 'none', responses: { 200: { description: 'OpenAPI 3.1.', contentType: 'application/json' } } },
    {
      method: 'get',
      path: '/v1/events',
      summary: `Live events over a WebSocket (admin token as bearer or access_token); topics: ${eventTopics.join(', ')}.`,
      tag: 'operations',
      auth: 'admin',
      websocket: true,
      query: z.object({ topics: z.string().optional(), after: z.coerce.number().int().min(0).optional(), access_token: z.string().optional() }),
      responses: { 101: { description: 'Switching to the WebSocket protocol; messages are JSON events.' } },
    },

    // Titles and uploads.
    { method: 'post', path: '/v1/titles', summary: 'Creates a title awaiting its source.', tag: 'titles', auth: 'admin', body: createTitleBody, responses: created('The title, with where to upload.', r.titleResponse), errors: ['SHUTTING_DOWN'] },
    { method: 'get', path: '/v1/titles', summary: 'Titles, newest first.', tag: 'titles', auth: 'admin', query: titleListQuery, responses: ok('A page of titles.', r.titlePage) },
    { method: 'get', path: '/v1/titles/{id}', summary: 'One title, with its state and encode progress.', tag: 'titles', auth: 'admin', responses: ok('The title.', r.titleResponse), errors: ['TITLE_NOT_FOUND'] },
    { method: 'delete', path: '/v1/titles/{id}', summary: 'Deletes a title and its media.', tag: 'titles', auth: 'admin', responses: noContent, errors: ['TITLE_NOT_FOUND', 'OWNED_BY_ANOTHER_NODE'] },
    { method: 'post', path: '/v1/titles/{id}/retry', summary: 'Runs a failed title again from its source.', tag: 'titles', auth: 'admin', responses: { 202: { description: 'Started again.', schema: r.titleResponse } }, errors: ['TITLE_NOT_FOUND', 'TITLE_NOT_RETRYABLE', 'OWNED_BY_ANOTHER_NODE'] },
    {
      method: 'put',
      path: '/v1/titles/{id}/source',
      summary: 'Uploads the source in one request (tus at /v1/uploads resumes).',
      tag: 'titles',
      auth: 'admin',
      rawBody: { contentTypes: ['application/octet-stream', 'video/*'], description: 'The media file.' },
      responses: { 202: { description: 'Received; encoding starts.', schema: r.titleResponse } },
      errors: ['TITLE_NOT_FOUND', 'UPLOAD_NOT_EXPECTED', 'UPLOAD_TOO_LARGE', 'UPLOAD_INCOMPLETE', 'SOURCE_EMPTY', 'SHUTTING_DOWN', 'OWNED_BY_ANOTHER_NODE'],
    },
    {
      method: 'post',
      path: '/v1/titles/{id}/source/upload-url',
      summary: 'Where to upload the source straight into the bucket (storage.kind = s3): one signed PUT, or, for a file past upload.partBytes, a signed URL per part.',
      tag: 'titles',
      auth: 'admin',
      body: sourceUploadUrlBody,
      responses: ok('Where to PUT the file (or each part), until when, and the size limit.', r.uploadUrlResponse),
      errors: ['TITLE_NOT_FOUND', 'UPLOAD_NOT_EXPECTED', 'UPLOAD_TOO_LARGE', 'DIRECT_UPLOAD_UNAVAILABLE', 'SHUTTING_DOWN', 'OWNED_BY_ANOTHER_NODE'],
    },
    {
      method: 'post',
      path: '/v1/titles/{id}/source/uploaded',
      summary: 'Takes the file PUT to the signed URL (or URLs, joined first) as the source: fetched from the bucket, then removed there.',
      tag: 'titles',
      auth: 'admin',
      body: sourceUploadedBody,
      responses: { 202: { description: 'Received; encoding starts.', schema: r.titleResponse } },
      errors: ['TITLE_NOT_FOUND', 'UPLOAD_NOT_EXPECTED', 'UPLOAD_TOO_LARGE', 'UPLOAD_PARTS_REFUSED', 'SOURCE_EMPTY', 'SOURCE_NOT_IN_BUCKET', 'DIRECT_UPLOAD_UNAVAILABLE', 'SHUTTING_DOWN', 'OWNED_BY_ANOTHER_NODE'],
    },
    ...(['post', 'options'] as const).map(
      (method): Operation => ({
        method,
        path: '/v1/uploads',
        summary: method === 'post' ? 'Creates a tus upload (Upload-Metadata titleId) for a title awaiting its source.' : 'tus capabilities.',
        tag: 'titles',
        auth: method === 'post' ? 'admin' : 'none',
        responses: method === 'post' ? { 201: { description: 'Created; Location names the upload.' } } : { 204: { description: 'tus capabilities in headers.' } },
        errors: method === 'post' ? ['VALIDATION_FAILED', 'TITLE_NOT_FOUND', 'UPLOAD_NOT_EXPECTED', 'UPLOAD_TOO_LARGE', 'SHUTTING_DOWN', 'OWNED_BY_ANOTHER_NODE'] : [],
      }),
    ),
    ...(['head', 'patch', 'delete', 'options'] as const).map(
      (method): Operation => ({
        method,
        path: '/v1/uploads/{uploadId}',
        summary: { head: 'The upload offset (tus).', patch: 'Appends bytes at the offset (tus).', delete: 'Abandons the upload (tus).', options: 'tus capabilities.' }[method],
        tag: 'titles',
        auth: method === 'options' ? 'none' : 'admin',
        ...(method === 'patch' ? { rawBody: { contentTypes: ['application/offset+octet-stream'], description: 'The next bytes of the file.' } } : {}),
        responses: { [method === 'head' ? 200 : 204]: { description: 'tus answer; state in headers.' } },
        errors: method === 'options' ? [] : ['VALIDATION_FAILED', 'UPLOAD_TOO_LARGE', 'UPLOAD_INCOMPLETE', 'UPLOAD_NOT_EXPECTED', 'SOURCE_EMPTY'],
      }),
    ),
    ...contentExtras('/v1/titles', 'TITLE_NOT_FOUND', 'titles'),

    // Live streams.
    { method: 'post', path: '/v1/live-streams', summary: 'Creates a live stream with its stream key.', tag: 'live', auth: 'admin', body: createStreamBody, responses: created('The stream, with RTMP and SRT ingest URLs.', r.streamResponse) },
    { method: 'get', path: '/v1/live-streams', summary: 'Live streams.', tag: 'live', auth: 'admin', query: streamListQuery, responses: ok('Every stream.', r.streamList) },
    { method: 'get', path: '/v1/live-streams/{id}', summary: 'One stream, with its ingest statistics while live.', tag: 'live', auth: 'admin', responses: ok('The stream.', r.streamResponse), errors: ['STREAM_NOT_FOUND'] },
    { method: 'delete', path: '/v1/live-streams/{id}', summary: 'Deletes a stream (cuts its publisher).', tag: 'live', auth: 'admin', responses: noContent, errors: ['STREAM_NOT_FOUND', 'OWNED_BY_ANOTHER_NODE'] },
    { method: 'post', path: '/v1/live-streams/{id}/reset-key', summary: 'Replaces the stream key (and SRT passphrase); a publisher using the old one is cut.', tag: 'live', auth: 'admin', body: resetKeyBody, responses: ok('The stream with its new key.', r.streamResponse), errors: ['STREAM_NOT_FOUND', 'OWNED_BY_ANOTHER_NODE'] },
    ...contentExtras('/v1/live-streams', 'STREAM_NOT_FOUND', 'live'),

    // Playback.
    {
      method: 'post',
      path: '/v1/playback-sessions',
      summary: 'Starts playback: decides whether this requester may play, and answers with sources shaped for the device.',
      tag: 'playback',
      auth: 'viewer-optional',
      body: sessionBody,
      responses: created('The session.', r.playbackSessionResponse),
      errors: [...refusals, 'RATE_LIMITED', 'STREAM_LIMIT_REACHED', 'KEYING_FAILED'],
    },
    { method: 'post', path: '/v1/playback-sessions/{id}/heartbeat', summary: 'Keeps a session alive, with its position, state and QoE events.', tag: 'playback', auth: 'viewer-optional', body: heartbeatBody, responses: ok('The lease.', r.heartbeatResponse), errors: ['PLAYBACK_SESSION_NOT_FOUND', 'PLAYBACK_SESSION_ENDED'] },
    { method: 'delete', path: '/v1/playback-sessions/{id}', summary: 'Stops a session (frees its screen).', tag: 'playback', auth: 'viewer-optional', responses: noContent, errors: ['PLAYBACK_SESSION_NOT_FOUND'] },
    { method: 'get', path: '/v1/me/playback-sessions', summary: "The viewer's running sessions.", tag: 'playback', auth: 'viewer', responses: ok('Sessions.', r.leaseList) },
    { method: 'get', path: '/v1/catalog', summary: 'What this requester may watch here and now (flat list).', tag: 'playback', auth: 'viewer-optional', responses: ok('Playable content.', r.playableList) },

    // Media (playback token in the path).
    media('/media/{contentId}/{token}/{file}', 'Manifests, playlists, init segments, segments, parts, thumbnails and posters of a session.'),
    media(`/media/{contentId}/{token}/${aes128KeyName}`, 'The AES-128 key of an AES-128 title (16 bytes).'),
    {
      method: 'post',
      path: `/media/{contentId}/{token}/${clearKeyLicenseName}`,
      summary: 'A ClearKey license (W3C EME JSON).',
      tag: 'media',
      auth: 'playback-token',
      rawBody: { contentTypes: ['application/json'], description: '{ "kids": [base64url KID, …] }' },
      responses: ok('The keys as a JWK set.', z.object({ keys: z.array(z.looseObject({ kty: z.literal('oct'), kid: z.string(), k: z.string() })), type: z.string() }).loose()),
      errors: ['CONTENT_NOT_READY'],
    },
    {
      method: 'post',
      path: '/media/{contentId}/{token}/license/{system}',
      summary: 'Forwards a license challenge to the configured upstream of that DRM system.',
      tag: 'media',
      auth: 'playback-token',
      rawBody: { contentTypes: ['application/octet-stream'], description: "The CDM's challenge." },
      responses: { 200: { description: "The upstream's license.", contentType: 'application/octet-stream' } },
      errors: ['CONTENT_NOT_READY', 'LICENSE_SYSTEM_UNSUPPORTED', 'LICENSE_UPSTREAM_FAILED'],
    },
    {
      method: 'get',
      path: '/v1/edge/authorize',
      summary: "A caching edge's check (nginx auth_request) of the media URL in X-Original-URI: 204 with the session's cap in X-Weir-Cap, or 401/403 with the refusal's code in X-Weir-Error.",
      tag: 'media',
      auth: 'playback-token',
      responses: { 204: { description: 'The token may have this file; X-Weir-Cap is its resolution cap (or none).' }, 403: { description: 'Refused; X-Weir-Error names the code the media route would answer with.', schema: r.errorResponse } },
      errors: ['VALIDATION_FAILED'],
    },
    { method: 'get', path: '/media/{contentId}', summary: 'Refused: media paths need a playback token.', tag: 'media', auth: 'playback-token', responses: {} },
    { method: 'get', path: '/media/{contentId}/{file}', summary: 'Refused: media paths need a playback token.', tag: 'media', auth: 'playback-token', responses: {} },
    { method: 'get', path: '/images/{file}', summary: 'Catalog art (content-addressed, cached for a year).', tag: 'discovery', auth: 'none', responses: { 200: { description: 'The image.', contentType: 'image/*' }, 304: { description: 'Not modified.' } } },

    // Discovery.
    { method: 'get', path: '/v1/home', summary: "The home screen's rails for this requester and device.", tag: 'discovery', auth: 'viewer-optional', responses: { ...ok('The rails.', r.homeResponse), 304: { description: 'Not modified (ETag).' } } },
    { method: 'get', path: '/v1/catalog/items/{id}', summary: 'Detail of a title or live stream.', tag: 'discovery', auth: 'viewer-optional', responses: { ...ok('The item.', r.itemResponse), 304: { description: 'Not modified.' } }, errors: refusals },
    { method: 'get', path: '/v1/catalog/items/{id}/recommendations', summary: 'More like it.', tag: 'discovery', auth: 'viewer-optional', responses: { ...ok('Items.', r.itemList), 304: { description: 'Not modified.' } }, errors: ['CONTENT_UNAVAILABLE'] },
    { method: 'get', path: '/v1/catalog/series/{id}', summary: 'A series with its seasons and episodes.', tag: 'discovery', auth: 'viewer-optional', responses: { ...ok('The series.', r.seriesDetailResponse), 304: { description: 'Not modified.' } }, errors: ['SERIES_NOT_FOUND'] },
    { method: 'get', path: '/v1/catalog/search', summary: 'Search by title, person and genre, as typed.', tag: 'discovery', auth: 'viewer-optional', query: searchQuery, responses: { ...ok('Matches.', r.searchResponse), 304: { description: 'Not modified.' } } },
    { method: 'get', path: '/v1/series', summary: 'Series.', tag: 'discovery', auth: 'admin', responses: ok('Every series.', r.seriesList) },
    { method: 'post', path: '/v1/series', summary: 'Creates a series.', tag: 'discovery', auth: 'admin', body: seriesBody, responses: created('The series.', r.seriesResponse) },
    { method: 'get', path: '/v1/series/{id}', summary: 'One series.', tag: 'discovery', auth: 'admin', responses: ok('The series.', r.seriesResponse), errors: ['SERIES_NOT_FOUND'] },
    { method: 'put', path: '/v1/series/{id}', summary: 'Replaces a series.', tag: 'discovery', auth: 'admin', body: seriesBody, responses: ok('The series.', r.seriesResponse), errors: ['SERIES_NOT_FOUND'] },
    { method: 'delete', path: '/v1/series/{id}', summary: 'Deletes a series without episodes.', tag: 'discovery', auth: 'admin', responses: noContent, errors: ['SERIES_NOT_FOUND', 'SERIES_HAS_EPISODES'] },
    {
      method: 'put',
      path: '/v1/series/{id}/artwork/{kind}',
      summary: 'Uploads series artwork.',
      tag: 'discovery',
      auth: 'admin',
      rawBody: { contentTypes: ['image/jpeg', 'image/png', 'image/webp'], description: 'The image.' },
      responses: ok('The stored images.', r.artworkList),
      errors: ['SERIES_NOT_FOUND', 'ARTWORK_UNREADABLE'],
    },
    { method: 'get', path: '/v1/collections', summary: 'Curated collections (rails).', tag: 'discovery', auth: 'admin', responses: ok('Every collection.', r.collectionList) },
    { method: 'put', path: '/v1/collections/{id}', summary: 'Creates or replaces a collection.', tag: 'discovery', auth: 'admin', body: collectionBody, responses: ok('The collection.', r.collectionResponse) },
    { method: 'delete', path: '/v1/collections/{id}', summary: 'Deletes a collection.', tag: 'discovery', auth: 'admin', responses: noContent, errors: ['COLLECTION_NOT_FOUND'] },

    // Viewers, sign-in, plans.
    { method: 'post', path: '/v1/viewers', summary: 'Creates a viewer (admin), or signs up (when self sign-up is on).', tag: 'viewers', auth: 'viewer-optional', body: createViewerBody, responses: created('The viewer.', r.viewerResponse), errors: ['SIGNUP_DISABLED', 'EMAIL_TAKEN', 'PLAN_NOT_FOUND'] },
    { method: 'get', path: '/v1/viewers', summary: 'Viewers.', tag: 'viewers', auth: 'admin', query: viewerListQuery, responses: ok('A page of viewers.', r.viewerPage) },
    { method: 'get', path: '/v1/viewers/{id}', summary: 'One viewer.', tag: 'viewers', auth: 'admin', responses: ok('The viewer.', r.viewerResponse), errors: ['VIEWER_NOT_FOUND'] },
    { method: 'patch', path: '/v1/viewers/{id}', summary: "Changes a viewer's plan, subscription, rating limit or name.", tag: 'viewers', auth: 'admin', body: updateViewerBody, responses: ok('The viewer.', r.viewerResponse), errors: ['VIEWER_NOT_FOUND', 'PLAN_NOT_FOUND'] },
    { method: 'delete', path: '/v1/viewers/{id}', summary: 'Deletes a viewer.', tag: 'viewers', auth: 'admin', responses: noContent, errors: ['VIEWER_NOT_FOUND'] },
    { method: 'get', path: '/v1/viewers/{id}/devices', summary: "A viewer's devices.", tag: 'viewers', auth: 'admin', responses: ok('Devices.', r.deviceList), errors: ['VIEWER_NOT_FOUND'] },
    { method: 'post', path: '/v1/viewers/{id}/rentals', summary: 'Grants a rental of one content item.', tag: 'viewers', auth: 'admin', body: rentalBody, responses: created('The rental.', r.rentalResponse), errors: ['VIEWER_NOT_FOUND'] },
    { method: 'post', path: '/v1/auth/login', summary: 'Signs a viewer in on a device.', tag: 'viewers', auth: 'none', body: loginBody, responses: ok('Tokens and the viewer.', r.tokensResponse.extend({ viewer: r.viewerResponse })), errors: ['LOGIN_FAILED', 'LOGIN_THROTTLED', 'DEVICE_LIMIT_REACHED'] },
    { method: 'post', path: '/v1/auth/refresh', summary: 'Trades a refresh token for new tokens.', tag: 'viewers', auth: 'none', body: refreshBody, responses: ok('New tokens.', r.tokensResponse), errors: ['REFRESH_TOKEN_INVALID'] },
    { method: 'post', path: '/v1/auth/logout', summary: 'Revokes a refresh token and its sign-in.', tag: 'viewers', auth: 'none', body: refreshBody, responses: noContent },
    { method: 'get', path: '/v1/me', summary: 'The signed-in viewer.', tag: 'viewers', auth: 'viewer', responses: ok('The viewer.', r.viewerResponse), errors: ['VIEWER_NOT_FOUND'] },
    { method: 'get', path: '/v1/me/devices', summary: "The signed-in viewer's devices.", tag: 'viewers', auth: 'viewer', responses: ok('Devices, the current one marked.', r.deviceList) },
    { method: 'delete', path: '/v1/me/devices/{deviceId}', summary: 'Signs a device out.', tag: 'viewers', auth: 'viewer', responses: noContent, errors: ['DEVICE_NOT_FOUND'] },
    { method: 'get', path: '/v1/plans', summary: 'Plans on offer.', tag: 'viewers', auth: 'none', responses: ok('Plans.', r.planList) },
    { method: 'put', path: '/v1/plans/{id}', summary: 'Creates or replaces a plan.', tag: 'viewers', auth: 'admin', body: planBody, responses: { ...ok('Replaced.', r.planResponse), ...created('Created.', r.planResponse) } },
    { method: 'delete', path: '/v1/plans/{id}', summary: 'Deletes a plan nobody is on.', tag: 'viewers', auth: 'admin', responses: noContent, errors: ['PLAN_NOT_FOUND', 'PLAN_IN_USE'] },

    // QoE analytics.
    { method: 'get', path: '/v1/analytics/qoe', summary: 'QoE figures over a time range, grouped and bucketed.', tag: 'analytics', auth: 'admin', query: qoeQuery, responses: ok('Figures.', r.qoeFiguresResponse) },
    { method: 'get', path: '/v1/analytics/sessions/{id}', summary: "One session's QoE record.", tag: 'analytics', auth: 'admin', responses: ok('The session.', r.qoeSessionResponse), errors: ['PLAYBACK_SESSION_NOT_FOUND'] },

    // Webhooks.
    { method: 'post', path: '/v1/webhooks', summary: 'Registers a webhook endpoint; the answer shows its signing secret once.', tag: 'webhooks', auth: 'admin', body: createWebhookBody, responses: created('The endpoint with its secret.', r.webhookCreatedResponse), errors: ['WEBHOOK_URL_REFUSED'] },
    { method: 'get', path: '/v1/webhooks', summary: 'Webhook endpoints.', tag: 'webhooks', auth: 'admin', responses: ok('Every endpoint.', r.webhookList) },
    { method: 'get', path: '/v1/webhooks/{id}', summary: 'One endpoint.', tag: 'webhooks', auth: 'admin', responses: ok('The endpoint.', r.webhookResponse), errors: ['WEBHOOK_NOT_FOUND'] },
    { method: 'patch', path: '/v1/webhooks/{id}', summary: 'Changes its URL, events, description or whether it is on.', tag: 'webhooks', auth: 'admin', body: updateWebhookBody, responses: ok('The endpoint.', r.webhookResponse), errors: ['WEBHOOK_NOT_FOUND', 'WEBHOOK_URL_REFUSED'] },
    { method: 'delete', path: '/v1/webhooks/{id}', summary: 'Removes an endpoint and its delivery log.', tag: 'webhooks', auth: 'admin', responses: noContent, errors: ['WEBHOOK_NOT_FOUND'] },
    { method: 'post', path: '/v1/webhooks/{id}/rotate-secret', summary: 'Replaces its signing secret.', tag: 'webhooks', auth: 'admin', responses: ok('The new secret.', r.webhookSecretResponse), errors: ['WEBHOOK_NOT_FOUND'] },
    { method: 'post', path: '/v1/webhooks/{id}/test', summary: 'Sends it a webhook.test message.', tag: 'webhooks', auth: 'admin', responses: { 202: { description: 'Queued.', schema: r.webhookTestResponse } }, errors: ['WEBHOOK_NOT_FOUND', 'WEBHOOK_DISABLED'] },
    { method: 'get', path: '/v1/webhooks/{id}/deliveries', summary: 'The delivery log: messages newest first with their attempts.', tag: 'webhooks', auth: 'admin', query: deliveryLogQuery, responses: ok('A page of the log.', r.deliveryLogResponse), errors: ['WEBHOOK_NOT_FOUND'] },
  ];
}
