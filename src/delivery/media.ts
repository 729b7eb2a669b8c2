import { Router, type Response } from 'express';
import { WeirError } from '../errors.js';
import type { LiveBroadcast } from '../pipeline/live/broadcast.js';
import { serveLive, type LiveDeliverySettings } from './live.js';
import type { PlaybackTokens } from './tokens.js';

export type MediaRoutesDeps = {
  tokens: PlaybackTokens;
  isPlayable: (contentId: string) => boolean;
  /** The directory holding a ready title's published segment set. */
  mediaDir: (contentId: string) => string;
  /** The broadcast of a live stream, if the content is one that has broadcast. */
  liveBroadcast: (contentId: string) => LiveBroadcast | undefined;
  liveSettings: LiveDeliverySettings;
};

const manifestPattern = /\.(m3u8|mpd)$/;

function setCaching(res: Response, path: string): void {
  // Manifests may be re-published; segments, init segments and posters never change once written.
  res.setHeader('cache-control', manifestPattern.test(path) ? 'public, max-age=5' : 'public, max-age=31536000, immutable');
}

/**
 * GET /media/:contentId/:token/<file> — the hot read path: a cached token check, a set lookup
 * and one file read. Nothing here touches the database or ffmpeg.
 */
export function mediaRoutes(deps: MediaRoutesDeps): Router {
  const router = Router();
  router.get('/media/:contentId/:token/*file', async (req, res, next) => {
    const { contentId, token } = req.params;
    const segments = req.params.file as unknown as string[];
    await deps.tokens.verify(token, contentId);
    const broadcast = deps.liveBroadcast(contentId);
    if (broadcast) {
      await serveLive(req, res, broadcast, req.params.file as unknown as string[], deps.liveSettings);
      return;
    }
    if (!deps.isPlayable(contentId)) throw new WeirError('CONTENT_NOT_READY', `Content ${contentId} is not ready for playback.`);
    if (segments.some((s) => s === '..' || s.startsWith('.'))) throw new WeirError('NOT_FOUND', 'No such media file.');
    const relative = segments.join('/');
    setCaching(res, relative);
    res.sendFile(relative, { root: deps.mediaDir(contentId), dotfiles: 'deny', cacheControl: false }, (error?: Error & { status?: number }) => {
      if (!error) return;
      if (res.headersSent) return;
      next(error.status === 404 ? new WeirError('NOT_FOUND', `No media file ${relative} for content ${contentId}.`) : error);
    });
  });
  router.get('/media/:contentId', () => {
    throw new WeirError('PLAYBACK_TOKEN_MISSING', 'Media URLs need a playback token: start a playback session first.');
  });
  router.get('/media/:contentId/:file', () => {
    throw new WeirError('PLAYBACK_TOKEN_MISSING', 'Media URLs need a playback token: start a playback session first.');
  });
  return router;
}
