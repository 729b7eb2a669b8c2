import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import type { SessionStore } from '../../catalog/sessions.js';
import type { PlaybackTokens } from '../../delivery/tokens.js';
import { WeirError } from '../../errors.js';
import type { Protection } from '../../drm/keys.js';
import { isAdmin, jsonBody, parseInput } from '../http.js';
import type { RateLimiter } from '../rate-limit.js';
import { baseUrl } from '../resources.js';
import { multivariantName, dashManifestName, aes128KeyName, clearKeyLicenseName, posterName } from '../../layout.js';

const sessionBody = z.strictObject({ contentId: z.string().min(1).max(200) });

export type PlaybackRoutesDeps = {
  sessions: SessionStore;
  tokens: PlaybackTokens;
  isPlayable: (contentId: string) => boolean;
  /** The state of a title or live stream, or null when there is no such content. */
  contentState: (contentId: string) => string | null;
  protectionOf: (contentId: string) => Protection;
  tokenTtlSeconds: number;
  publicUrl: string;
  /** Session starts per client address. */
  limiter: RateLimiter;
  /** Admins may learn why content cannot play; anonymous callers may not. */
  adminToken: string;
  /** For a live stream: its advertised PART-HOLD-BACK, from which player settings follow. */
  liveTiming: (contentId: string) => LiveTiming | null;
};

export type LiveTiming = { partTargetSeconds: number; partHoldBackSeconds: number; segmentSeconds: number };

/**
 * Player settings fitted to a live stream's playlist, for the players Weir is tested with:
 * aim at PART-HOLD-BACK and catch up when behind, since at their defaults hls.js and dash.js
 * keep their start-up time as permanent latency.
 */
export function livePlayerSettings(timing: LiveTiming) {
  const target = Number(timing.partHoldBackSeconds.toFixed(3));
  const seconds = (value: number) => Number(value.toFixed(3));
  return {
    targetLatencySeconds: target,
    // hls.js raises its target after each stall (by liveSyncOnStallIncrease, up to a target
    // duration) and jumps to the edge past liveMaxLatencyDuration. With the maximum at target +
    // one segment, one stall put the raised target on the maximum and it seeked and stalled in a
    // loop (hundreds of stalls in 30 s in bench:live). Now a stall costs one part, and the
    // maximum stays above the highest target it can reach.
    hlsjs: {
      lowLatencyMode: true,
      liveSyncDuration: target,
      liveSyncOnStallIncrease: timing.partTargetSeconds,
      liveMaxLatencyDuration: seconds(target + 2 * timing.segmentSeconds),
      maxLiveSyncPlaybackRate: 1.5,
    },
    // dash.js fetches whole chunked segments: at PART-HOLD-BACK it rebuffered (20 stalls in 20 s
    // in bench:live); half a segment more and gentler catch-up kept it steady.
    dashjs: { streaming: { delay: { liveDelay: Number((target + timing.segmentSeconds / 2).toFixed(3)) }, liveCatchup: { enabled: true, maxDrift: timing.segmentSeconds * 2, playbackRate: { min: -0.2, max: 0.2 } } } },
    shaka: { streaming: { lowLatencyMode: true } },
  };
}

/** POST /v1/playback-sessions: the first step of playback start, so it does one lookup and one signature. */
export function playbackRoutes(deps: PlaybackRoutesDeps): Router {
  const router = Router();
  router.post('/v1/playback-sessions', jsonBody('16kb'), async (req, res) => {
    const retryAfterSeconds = deps.limiter.take(req.ip ?? 'unknown');
    if (retryAfterSeconds > 0) {
      throw new WeirError('RATE_LIMITED', `Too many playback sessions from this address; try again in ${retryAfterSeconds} s.`, { retryAfterSeconds });
    }
    const { contentId } = parseInput(sessionBody, req.body ?? {}, 'playback session body');
    if (!deps.isPlayable(contentId)) {
      const state = isAdmin(req, deps.adminToken) ? deps.contentState(contentId) : null;
      // Whether unplayable content exists, and in which state, is the operator's to know.
      if (state === null) {
        throw new WeirError('CONTENT_UNAVAILABLE', `No title or live stream with id ${JSON.stringify(contentId)} can be played now: it does not exist, or it is not ready or live.`);
      }
      throw new WeirError('CONTENT_NOT_READY', `Content ${contentId} is ${state}; titles play once ready, live streams while live.`);
    }
    const now = Date.now();
    const session = { id: randomUUID(), contentId, createdAt: now, expiresAt: now + deps.tokenTtlSeconds * 1000 };
    deps.sessions.create(session);
    const token = await deps.tokens.issue({ contentId, sessionId: session.id, expiresAt: session.expiresAt });
    const media = `${baseUrl(req, deps.publicUrl)}/media/${encodeURIComponent(contentId)}/${token}`;
    const protection = deps.protectionOf(contentId);
    // What a player needs to configure its DRM, per source (null when the content is clear).
    const drm =
      protection === 'cenc' || protection === 'cbcs'
        ? { scheme: protection, clearkey: { licenseUrl: `${media}/${clearKeyLicenseName}` } }
        : protection === 'aes-128'
          ? { scheme: protection, aes128: { keyUrl: `${media}/${aes128KeyName}` } }
          : null;
    const sources = [
      { protocol: 'hls', url: `${media}/${multivariantName}`, mimeType: 'application/vnd.apple.mpegurl', drm },
      { protocol: 'dash', url: `${media}/${dashManifestName}`, mimeType: 'application/dash+xml', drm },
    ].filter((source) => !(protection === 'aes-128' && source.protocol === 'dash')); // AES-128 is HLS only
    const timing = deps.liveTiming(contentId);
    res.status(201).json({
      id: session.id,
      contentId,
      expiresAt: new Date(session.expiresAt).toISOString(),
      posterUrl: `${media}/${posterName}`,
      sources,
      // Live only: how to configure each player for low latency (null for titles).
      live: timing ? livePlayerSettings(timing) : null,
    });
  });
  return router;
}
