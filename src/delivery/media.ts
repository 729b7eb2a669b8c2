import { Router, type Request, type Response } from 'express';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withAbsoluteLicenseUrls } from '../pipeline/manifest/dash.js';
import { WeirError } from '../errors.js';
import type { LiveBroadcast } from '../pipeline/live/broadcast.js';
import { checkLiveRendition, serveLive, type LiveDeliverySettings } from './live.js';
import { requestUrl } from './request-url.js';
import { dashManifestName, multivariantName } from '../layout.js';
import { allowedHeight, capMpd, capMultivariant } from '../pipeline/manifest/cap.js';
import { assertWithinCap } from './rendition-cap.js';
import { cmcdOf, type CmcdReport } from './cmcd.js';
import { sendBucketObject, type BucketObject } from './bucket-object.js';

/** The playback session behind a media request, as delivery needs it (declared by its user). */
export type MediaSession = { id: string; maxHeight: number | null };

export type MediaRoutesDeps = {
  /** Checks a media URL's token and that its session still runs (map lookups); throws the coded refusal. */
  authorize: (token: string, contentId: string) => MediaSession;
  isPlayable: (contentId: string) => boolean;
  /** A ready title's video renditions and their heights (in memory), for capped sessions. */
  titleHeights: (contentId: string) => ReadonlyMap<string, number>;
  /** How a title is protected ('none' when clear). */
  protectionOf: (contentId: string) => string;
  /** The directory holding a ready title's published segment set. */
  mediaDir: (contentId: string) => string;
  /** The broadcast of a live stream, if the content is one that has broadcast. */
  liveBroadcast: (contentId: string) => LiveBroadcast | undefined;
  liveSettings: LiveDeliverySettings;
  /** CMCD a player sent with a media request of this session (for QoE; never awaited). */
  observeCmcd: (sessionId: string, report: CmcdReport) => void;
  /** Ready titles' files in object storage, read when they are not on this node's disk; null without a bucket. */
  bucketFiles: BucketTitleFiles | null;
};

export type BucketTitleFiles = {
  readText(contentId: string, file: string): Promise<string | null>;
  /** The file, or the byte range of it (an HTTP Range value); null when the bucket has none. */
  get(contentId: string, file: string, range?: string): Promise<BucketObject | null>;
  /** Where the deployment prefers it: a signed URL players are sent to for media files (manifests stay here); null streams them through. */
  signedUrl: ((contentId: string, file: string) => Promise<string>) | null;
};

const manifestPattern = /\.(m3u8|mpd)$/;
// Every file Weir publishes is named like this; anything else (NUL, "..", encoded slashes) cannot exist.
const mediaNamePattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

function checkMediaPath(segments: string[]): void {
  if (segments.length === 0 || segments.length > 4 || !segments.every((s) => mediaNamePattern.test(s) && !s.includes('..'))) {
    throw new WeirError('MEDIA_PATH_INVALID', 'Media paths are at most four parts of letters, digits, ".", "_" and "-" (no "..", no encoded slashes or NUL).');
  }
}

function setCaching(res: Response, path: string): void {
  // Manifests may be re-published; segments, init segments and posters never change once written.
  res.setHeader('cache-control', manifestPattern.test(path) ? 'public, max-age=5' : 'public, max-age=31536000, immutable');
}

/** Capped manifests of titles, rendered once per title, file and cap (titles do not change once ready). */
const cappedTitleManifests = new Map<string, string>();
const cappedCacheLimit = 1000;

/** A title's text file (a manifest) from this node's disk, else from the bucket. */
async function titleText(dir: string, bucket: BucketTitleFiles | null, contentId: string, relative: string): Promise<string | null> {
  const local = await readFile(join(dir, relative), 'utf8').catch(() => null);
  return local ?? (bucket ? bucket.readText(contentId, relative) : null);
}

async function cappedTitleManifest(dir: string, bucket: BucketTitleFiles | null, contentId: string, relative: string, cap: number): Promise<string> {
  const key = `${contentId}/${relative}@${cap}`;
  const cached = cappedTitleManifests.get(key);
  if (cached !== undefined) return cached;
  const text = await titleText(dir, bucket, contentId, relative);
  if (text === null) throw new WeirError('NOT_FOUND', `No media file ${relative} for content ${contentId}.`);
  const capped = relative === multivariantName ? capMultivariant(text, cap) : capMpd(text, cap);
  if (cappedTitleManifests.size >= cappedCacheLimit) cappedTitleManifests.delete(cappedTitleManifests.keys().next().value!);
  cappedTitleManifests.set(key, capped);
  return capped;
}

/** Serves a title's file from the bucket: a redirect to a signed URL, or streamed through with its range. */
async function fromBucket(bucket: BucketTitleFiles, req: Request, res: Response, contentId: string, relative: string): Promise<void> {
  if (bucket.signedUrl && !manifestPattern.test(relative)) {
    // The signed URL expires; the redirect itself is this session's, not for shared caches.
    res.setHeader('cache-control', 'private, no-store');
    res.redirect(302, await bucket.signedUrl(contentId, relative));
    return;
  }
  const object = await bucket.get(contentId, relative, req.header('range'));
  if (!object) throw new WeirError('NOT_FOUND', `No media file ${relative} for content ${contentId}.`);
  await sendBucketObject(req, res, object, relative);
}

/**
 * GET /media/:contentId/:token/<file> — the hot read path: a cached token check, a session
 * lookup, a set lookup and one file read. Nothing here touches the database or ffmpeg.
 */
export function mediaRoutes(deps: MediaRoutesDeps): Router {
  const router = Router();
  /** Refuses a title's rendition above the session's cap; returns the title's rendition heights when capped (null: no cap). */
  const checkTitleRendition = (contentId: string, segments: string[], cap: number | null) => {
    const heights = cap !== null ? deps.titleHeights(contentId) : null;
    const height = heights && segments.length > 1 ? heights.get(segments[0]!) : undefined; // undefined: audio, or no rendition
    if (height !== undefined) assertWithinCap(segments[0]!, height, allowedHeight([...heights!.values()], cap!), cap!);
    return heights;
  };
  router.get('/media/:contentId/:token/*file', async (req, res, next) => {
    const { contentId, token } = req.params;
    const segments = req.params.file as unknown as string[];
    const session = deps.authorize(token, contentId);
    checkMediaPath(segments);
    // The CMCD query argument is read here and nowhere else: no cache key or lookup sees it.
    const cmcd = cmcdOf(req);
    if (cmcd) deps.observeCmcd(session.id, cmcd);
    const cap = session.maxHeight;
    const broadcast = deps.liveBroadcast(contentId);
    if (broadcast) {
      await serveLive(req, res, broadcast, segments, deps.liveSettings, cap);
      return;
    }
    if (!deps.isPlayable(contentId)) throw new WeirError('CONTENT_NOT_READY', `Content ${contentId} is not ready for playback.`);
    const relative = segments.join('/');
    setCaching(res, relative);
    const heights = checkTitleRendition(contentId, segments, cap);
    const isMpd = relative === dashManifestName;
    const protectedMpd = isMpd && deps.protectionOf(contentId) !== 'none';
    if (heights && (isMpd || relative === multivariantName)) {
      const text = await cappedTitleManifest(deps.mediaDir(contentId), deps.bucketFiles, contentId, relative, cap!);
      res.setHeader('cache-control', 'private, max-age=5'); // this session's view of the title
      if (isMpd) res.type('application/dash+xml').send(protectedMpd ? withAbsoluteLicenseUrls(text, requestUrl(req)) : text);
      else res.type('application/vnd.apple.mpegurl').send(text);
      return;
    }
    if (protectedMpd) {
      // The license URL carries this session's token: resolve it per request (MPDs are small),
      // and no shared cache (an edge, a proxy) may hand it to another session.
      res.setHeader('cache-control', 'private, no-cache');
      const mpd = await titleText(deps.mediaDir(contentId), deps.bucketFiles, contentId, relative);
      if (mpd === null) throw new WeirError('NOT_FOUND', `No media file ${relative} for content ${contentId}.`);
      res.type('application/dash+xml').send(withAbsoluteLicenseUrls(mpd, requestUrl(req)));
      return;
    }
    res.sendFile(relative, { root: deps.mediaDir(contentId), dotfiles: 'deny', cacheControl: false }, (error?: Error & { status?: number }) => {
      if (!error) return;
      if (res.headersSent) return;
      // Not on this node's disk: the bucket, when there is one, holds every ready title's set.
      if (error.status === 404 && deps.bucketFiles) {
        fromBucket(deps.bucketFiles, req, res, contentId, relative).catch(next);
        return;
      }
      // Whatever send refused is the client's error (the errorHandler maps its 400/403/416).
      next(error.status === 404 ? new WeirError('NOT_FOUND', `No media file ${relative} for content ${contentId}.`) : error);
    });
  });
  /**
   * The edge's question before it serves a cached media object: may the token in this media URL
   * have it? Answers 204 with the session's resolution cap (the edge keys capped manifests by
   * it), or the coded refusal the media route would give. The URL comes in X-Original-URI, as
   * nginx's auth_request sends it.
   */
  router.get('/v1/edge/authorize', (req, res) => {
    const original = req.header('x-original-uri') ?? '';
    const match = /^\/media\/([^/?#]+)\/([^/?#]+)\/([^?#]+)/i.exec(original);
    if (!match) throw new WeirError('VALIDATION_FAILED', 'X-Original-URI must be a media URL (/media/<content>/<token>/<file>); the request had none.');
    const [, contentId, token, file] = match as unknown as [string, string, string, string];
    // nginx's auth_request knows 2xx, 401 and 403 only (anything else is its own 500): every
    // refusal is one of those, its code in X-Weir-Error; the edge then asks the origin itself,
    // which answers with the full coded error.
    try {
      const segments = file.split('/').map((part) => decodeURIComponent(part));
      const session = deps.authorize(token, decodeURIComponent(contentId));
      checkMediaPath(segments);
      const cap = session.maxHeight;
      const broadcast = deps.liveBroadcast(decodeURIComponent(contentId));
      if (broadcast) checkLiveRendition(broadcast, segments, cap);
      else checkTitleRendition(decodeURIComponent(contentId), segments, cap);
      res.setHeader('x-weir-cap', cap === null ? 'none' : String(cap));
      res.setHeader('cache-control', 'private, max-age=5');
      res.status(204).end();
    } catch (caught) {
      const error = caught instanceof URIError ? new WeirError('MEDIA_PATH_INVALID', 'The media path is not valid percent-encoding.') : caught;
      if (!(error instanceof WeirError)) throw error;
      res.setHeader('x-weir-error', error.code);
      res.setHeader('cache-control', 'private, max-age=1');
      res.status(error.status === 401 ? 401 : 403).json({ error: { code: error.code, message: error.message } });
    }
  });
  router.get('/media/:contentId', () => {
    throw new WeirError('PLAYBACK_TOKEN_MISSING', 'Media URLs need a playback token: start a playback session first.');
  });
  router.get('/media/:contentId/:file', () => {
    throw new WeirError('PLAYBACK_TOKEN_MISSING', 'Media URLs need a playback token: start a playback session first.');
  });
  return router;
}
