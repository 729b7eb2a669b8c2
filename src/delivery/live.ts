import type { Request, Response } from 'express';
import { WeirError } from '../errors.js';
import type { LiveBroadcast } from '../pipeline/live/broadcast.js';
import type { LiveRendition } from '../pipeline/live/live-rendition.js';
import { writeMultivariant } from '../pipeline/manifest/hls.js';
import { withAbsoluteLicenseUrls } from '../pipeline/manifest/dash.js';
import { requestOrigin, requestUrl } from './request-url.js';
import { writeLiveMpd } from '../pipeline/manifest/live-dash.js';
import { blockingWaitSeconds, hintedPart, judgeBlockingRequest, judgePartRequest } from '../pipeline/live/llhls-rules.js';
import { targetDuration, writeLlHlsPlaylist, type LlHlsSettings } from '../pipeline/manifest/llhls.js';
import { multivariantName, dashManifestName } from '../layout.js';
import { allowedHeight, capMpd } from '../pipeline/manifest/cap.js';
import { assertWithinCap } from './rendition-cap.js';
import { imagePlaylistName, trickPlayDir } from '../pipeline/manifest/trick-play.js';
import { liveImageStreamInf, liveThumbnailPattern, writeLiveImagePlaylist } from '../pipeline/manifest/live-trick-play.js';
import type { LiveThumbnails } from '../pipeline/live/thumbnails.js';

/** Told of blocking playlist requests (metrics), declared here by its caller's needs. */
export type BlockingObserver = { blockingStarted(): void; blockingEnded(latencyMs: number | null): void };

export type LiveDeliverySettings = LlHlsSettings & { windowSeconds: number; utcTimingPath: string; observer?: BlockingObserver };

const immutable = 'public, max-age=31536000, immutable';

function integerParam(value: unknown, name: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value)) {
    throw new WeirError('LIVE_REQUEST_INVALID', `${name} must be a non-negative integer, received ${JSON.stringify(value)}.`);
  }
  return Number(value);
}

/** An AbortSignal that fires when the client goes away, so waiting requests do not pile up. */
function clientGone(req: Request): AbortSignal {
  const controller = new AbortController();
  req.once('close', () => controller.abort());
  return controller.signal;
}

/** How long a request may wait for media that does not exist yet. */
function waitLimitMs(rendition: LiveRendition, settings: LiveDeliverySettings): number {
  return blockingWaitSeconds(targetDuration(rendition, settings)) * 1000;
}

async function servePlaylist(req: Request, res: Response, broadcast: LiveBroadcast, rendition: LiveRendition, settings: LiveDeliverySettings, limit: number | null): Promise<void> {
  const receivedAt = Date.now();
  const msn = integerParam(req.query._HLS_msn, '_HLS_msn');
  const part = integerParam(req.query._HLS_part, '_HLS_part');
  const skip = req.query._HLS_skip === 'YES' || req.query._HLS_skip === 'v2';
  if (part !== null && msn === null) throw new WeirError('LIVE_REQUEST_INVALID', '_HLS_part was given without _HLS_msn.');
  if (msn !== null) {
    const verdict = judgeBlockingRequest(rendition, { msn, part });
    if (verdict.kind === 'refuse') throw new WeirError('LIVE_REQUEST_INVALID', verdict.reason);
    settings.observer?.blockingStarted();
    let outcome: Awaited<ReturnType<LiveRendition['waitFor']>>;
    try {
      outcome = await rendition.waitFor({ msn, part }, waitLimitMs(rendition, settings), clientGone(req));
    } catch (error) {
      settings.observer?.blockingEnded(null);
      throw error;
    }
    // When the awaited part was complete: lets clients and benchmarks measure the wake-up delay.
    const awaited = outcome !== 'timeout' && part !== null ? rendition.segment(msn)?.parts[part] : undefined;
    settings.observer?.blockingEnded(awaited ? Date.now() - awaited.completedAt : null);
    if (outcome === 'timeout') {
      if (req.destroyed) return;
      throw new WeirError('LIVE_NOT_AVAILABLE', `Segment ${msn}${part !== null ? ` part ${part}` : ''} did not appear in time.`);
    }
    if (awaited) res.setHeader('x-weir-part-completed-at', String(awaited.completedAt));
  }
  // A blocking response names an exact playlist version, so caches may keep it briefly.
  res.setHeader('cache-control', msn !== null ? 'public, max-age=6' : 'no-cache');
  res.setHeader('content-type', 'application/vnd.apple.mpegurl');
  const body = renderPlaylist(broadcast, rendition, settings, skip, limit);
  if (msn !== null) {
    res.setHeader('x-weir-received-at', String(receivedAt));
    res.setHeader('x-weir-answered-at', String(Date.now()));
  }
  res.end(body);
}

/**
 * What a playlist or manifest shows depends only on rendition versions: the many requests woken
 * by one part share one rendering. Only the newest versions are asked for, so a handful is kept.
 */
const renderings = new WeakMap<object, Map<string, Buffer>>();

function renderOnce(owner: object, key: string, render: () => string): Buffer {
  let cache = renderings.get(owner);
  const cached = cache?.get(key);
  if (cached) return cached;
  const rendered = Buffer.from(render());
  if (!cache || cache.size > 8) {
    cache = new Map();
    renderings.set(owner, cache);
  }
  cache.set(key, rendered);
  return rendered;
}

const versionsOf = (renditions: Iterable<LiveRendition>) => [...renditions].map((r) => r.version).join(',');

function renderPlaylist(broadcast: LiveBroadcast, rendition: LiveRendition, settings: LiveDeliverySettings, skip: boolean, limit: number | null): Buffer {
  // Rendition reports name the playlists listed beside this one (muxed or demuxed alike), and
  // only those this session may play.
  const listed = broadcast.hlsRenditions();
  const siblings = listed.includes(rendition) ? listed : [...broadcast.renditions.values()];
  const others = siblings.filter((other) => other !== rendition && within(other, limit));
  return renderOnce(rendition, `${skip ? 1 : 0}:${limit ?? ''}:${rendition.version}:${versionsOf(others)}`, () => {
    const reports = others.flatMap((other) => {
      const last = other.lastPosition();
      return last ? [{ uri: `../${other.id}/index.m3u8`, lastMsn: last.msn, lastPart: last.part }] : [];
    });
    return writeLlHlsPlaylist(rendition, settings, { skip, reports });
  });
}

function sendBytes(res: Response, bytes: Uint8Array, contentType: string): void {
  res.setHeader('cache-control', immutable);
  res.type(contentType).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

async function servePart(req: Request, res: Response, rendition: LiveRendition, settings: LiveDeliverySettings, msn: number, index: number): Promise<void> {
  let part = rendition.segment(msn)?.parts[index];
  if (!part) {
    const verdict = judgePartRequest(rendition, msn, index, rendition.isEnded);
    if (verdict.kind !== 'wait') throw new WeirError('NOT_FOUND', `Part ${index} of segment ${msn} does not exist.`);
    part = await rendition.waitForPart(msn, index, waitLimitMs(rendition, settings), clientGone(req));
    if (!part) {
      if (req.destroyed) return;
      // The segment closed (or the broadcast ended) before reaching that index: it never will.
      if (rendition.segment(msn)?.complete || rendition.isEnded) throw new WeirError('NOT_FOUND', `Part ${index} of segment ${msn} does not exist.`);
      throw new WeirError('LIVE_NOT_AVAILABLE', `Part ${index} of segment ${msn} did not appear in time.`);
    }
  }
  sendBytes(res, part.bytes, 'video/mp4');
}

/**
 * A whole segment. A complete one is sent at once; the open one (and the next, for LL-DASH) is
 * sent with chunked transfer, each CMAF chunk as soon as it completes.
 */
async function serveSegment(req: Request, res: Response, rendition: LiveRendition, settings: LiveDeliverySettings, msn: number): Promise<void> {
  const segment = rendition.segment(msn);
  if (segment?.complete) {
    sendBytes(res, segment.bytes!, 'video/iso.segment');
    return;
  }
  const hint = hintedPart(rendition);
  if (!segment && !(hint && msn === hint.msn)) throw new WeirError('NOT_FOUND', `Segment ${msn} does not exist.`);
  const signal = clientGone(req);
  res.setHeader('cache-control', immutable);
  res.type('video/iso.segment');
  let index = 0;
  for (;;) {
    const current = rendition.segment(msn);
    const part = current?.parts[index] ?? (await rendition.waitForPart(msn, index, waitLimitMs(rendition, settings), signal));
    if (signal.aborted) return;
    if (part) {
      res.write(Buffer.from(part.bytes.buffer, part.bytes.byteOffset, part.bytes.byteLength));
      index++;
      continue;
    }
    const after = rendition.segment(msn);
    if (after?.complete || rendition.isEnded) break;
    if (!res.headersSent) throw new WeirError('LIVE_NOT_AVAILABLE', `Segment ${msn} did not progress in time.`);
    res.destroy();
    return;
  }
  res.end();
}

/** The live image playlist (refreshed like any live playlist) and its thumbnails (immutable). */
function serveThumbnails(res: Response, thumbnails: LiveThumbnails, file: string): void {
  if (file === imagePlaylistName) {
    if (thumbnails.list().length === 0) throw new WeirError('LIVE_NOT_AVAILABLE', 'The first live thumbnail has not been cut yet.');
    res.setHeader('cache-control', 'no-cache');
    res.type('application/vnd.apple.mpegurl').send(renderOnce(thumbnails, `${thumbnails.version}`, () => writeLiveImagePlaylist(thumbnails)));
    return;
  }
  const match = liveThumbnailPattern.exec(file);
  const thumbnail = match ? thumbnails.atSlot(Number(match[1]), Number(match[2])) : undefined;
  if (!thumbnail) throw new WeirError('NOT_FOUND', `No live thumbnail ${JSON.stringify(file.slice(0, 40))}: thumbnails are live-<session start>-<slot>.jpg, from the publisher's start up to the edge, kept for the DVR window.`);
  sendBytes(res, thumbnail.bytes, 'image/jpeg');
}

const partPattern = /^part-(\d+)\.(\d+)\.m4s$/;
const segmentPattern = /^seg-(\d+)\.m4s$/;
const initPattern = /^init-(\d+)\.mp4$/;

/** Whether a rendition is within a session's height limit (audio always is). */
const within = (rendition: LiveRendition, limit: number | null): boolean => limit === null || rendition.kind !== 'video' || rendition.track.height <= limit;

/** The tallest video a session capped at `cap` may play of this broadcast; null for no cap. */
function heightLimit(broadcast: LiveBroadcast, cap: number | null): number | null {
  if (cap === null) return null;
  const heights = broadcast.allRenditions().filter((r) => r.kind === 'video').map((r) => r.track.height);
  return heights.length > 0 ? allowedHeight(heights, cap) : null;
}

/** Refuses a rendition above the session's cap (what serveLive checks, for the edge's authorization). */
export function checkLiveRendition(broadcast: LiveBroadcast, path: string[], cap: number | null): void {
  const limit = heightLimit(broadcast, cap);
  const rendition = path.length === 2 ? broadcast.rendition(path[0]!) : undefined;
  if (limit !== null && rendition?.kind === 'video') assertWithinCap(rendition.id, rendition.track.height, limit, cap!);
}

/** Serves one path under a live stream's media root; `cap` is the session's resolution cap (null: none). */
export async function serveLive(req: Request, res: Response, broadcast: LiveBroadcast, path: string[], settings: LiveDeliverySettings, cap: number | null = null): Promise<void> {
  const limit = heightLimit(broadcast, cap);
  if (path.length === 1 && path[0] === multivariantName) {
    if (broadcast.renditions.size === 0) throw new WeirError('CONTENT_NOT_READY', 'The broadcast has not produced media yet.');
    res.setHeader('cache-control', 'no-cache');
    const listed = broadcast.hlsRenditions().filter((r) => within(r, limit));
    // Thumbnails are named once the first exists (players read this playlist once, at start).
    const images = broadcast.thumbnails && broadcast.thumbnails.list().length > 0 ? broadcast.thumbnails : null;
    const key = `${multivariantName}:${limit ?? ''}:${listed.map((r) => r.id).join(',')}:${versionsOf(listed)}:${images?.version ?? ''}`;
    res.type('application/vnd.apple.mpegurl').send(renderOnce(broadcast, key, () => writeMultivariant(broadcast.variants(listed), images && liveImageStreamInf(images))));
    return;
  }
  if (path.length === 1 && path[0] === dashManifestName) {
    if (broadcast.renditions.size === 0) throw new WeirError('CONTENT_NOT_READY', 'The broadcast has not produced media yet.');
    const utcTimingUrl = `${requestOrigin(req)}${settings.utcTimingPath}`;
    res.setHeader('cache-control', 'no-cache');
    // Rendered once per change of media, so publishTime is when this version was made.
    const key = `${dashManifestName}:${utcTimingUrl}:${limit ?? ''}:${versionsOf(broadcast.renditions.values())}:${broadcast.thumbnails?.version ?? ''}`;
    const mpd = renderOnce(broadcast, key, () => {
      const full = writeLiveMpd(broadcast, { ...settings, utcTimingUrl });
      return limit === null ? full : capMpd(full, limit);
    });
    // One rendering serves every session; each gets the license URL with its own token.
    const protectedStream = [...broadcast.renditions.values()].some((r) => r.scheme);
    res.type('application/dash+xml').send(protectedStream ? withAbsoluteLicenseUrls(mpd.toString(), requestUrl(req)) : mpd);
    return;
  }
  if (path.length === 2 && path[0] === trickPlayDir && broadcast.thumbnails) return serveThumbnails(res, broadcast.thumbnails, path[1]!);
  const [renditionId, file] = path;
  const rendition = path.length === 2 ? broadcast.rendition(renditionId!) : undefined;
  if (!rendition || !file) throw new WeirError('NOT_FOUND', `No live media at ${path.join('/')}.`);
  if (limit !== null && rendition.kind === 'video') assertWithinCap(rendition.id, rendition.track.height, limit, cap!);
  if (file === 'index.m3u8') return servePlaylist(req, res, broadcast, rendition, settings, limit);
  let match = partPattern.exec(file);
  if (match) return servePart(req, res, rendition, settings, Number(match[1]), Number(match[2]));
  match = segmentPattern.exec(file);
  if (match) return serveSegment(req, res, rendition, settings, Number(match[1]));
  match = initPattern.exec(file);
  if (match) {
    const init = rendition.init(Number(match[1]));
    if (!init) throw new WeirError('NOT_FOUND', `No init segment ${match[1]} for ${renditionId}.`);
    sendBytes(res, init, 'video/mp4');
    return;
  }
  throw new WeirError('NOT_FOUND', `No live media at ${path.join('/')}.`);
}
