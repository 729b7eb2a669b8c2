import { Router, type Request } from 'express';
import { z } from 'zod';
import { WeirError } from '../../errors.js';
import type { Protection } from '../../drm/keys.js';
import type { ProxiedSystem } from '../../drm/routes.js';
import { playerStates, type Lease } from '../../playback/leases.js';
import type { DeviceProfile, DrmSystem, StreamingProtocol } from '../../playback/profiles.js';
import type { PlaybackService, Requester } from '../../playback/service.js';
import type { ViewerAccounts } from '../../viewers/accounts.js';
import { requireViewer } from './viewers.js';
import { adminCheck, jsonBody, parseInput, sendNoStoreJson } from '../http.js';
import { requesterOf } from '../requester.js';
import type { RateLimiter } from '../rate-limit.js';
import { baseUrl } from '../resources.js';
import { multivariantName, dashManifestName, aes128KeyName, clearKeyLicenseName, posterName } from '../../layout.js';
import { thumbnailsVttName, trickPlayDir } from '../../pipeline/manifest/trick-play.js';

export const sessionBody = z.strictObject({
  contentId: z.string().min(1).max(200),
  // Where the player will start (seconds); without it the answer offers the viewer's resume point.
  position: z.number().min(0).max(1e9).optional(),
});
const playerTime = z.number().min(-1e13).max(1e13);
const playerEvent = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('startup'), ms: z.number().min(0).max(600_000) }),
  z.strictObject({ type: z.literal('rebuffer_start'), t: playerTime }),
  z.strictObject({ type: z.literal('rebuffer_end'), t: playerTime }),
  z.strictObject({ type: z.literal('bitrate'), bitrate: z.number().int().min(0).max(1e10) }),
  z.strictObject({ type: z.literal('error'), code: z.string().min(1).max(100), fatal: z.boolean() }),
  z.strictObject({ type: z.literal('exit_before_start') }),
]);
export const heartbeatBody = z.strictObject({
  position: z.number().min(0).max(1e9).optional(),
  state: z.enum(playerStates),
  bitrate: z.number().int().min(0).max(1e10).optional(),
  // QoE events since the last heartbeat (startup, stalls, bitrate switches, errors).
  events: z.array(playerEvent).max(500).optional(),
});

/** What happens to sessions, for resume points and QoE (never awaited: a report costs memory only). */
export type SessionObserver = {
  started: (lease: Lease) => void;
  heartbeat: (lease: Lease, report: z.infer<typeof heartbeatBody>) => void;
  ended: (lease: Lease) => void;
};

export type PlaybackRoutesDeps = {
  service: PlaybackService;
  accounts: ViewerAccounts;
  isPlayable: (contentId: string) => boolean;
  /** The state of a title or live stream, or null when there is no such content. */
  contentState: (contentId: string) => string | null;
  protectionOf: (contentId: string) => Protection;
  /** The viewer's country as the request tells it (see playback/geo.ts), or null. */
  countryOf: (req: Request) => string | null;
  /** Ready titles and live streams, newest first, for the list of what a requester may watch. */
  playableContent: () => { id: string; kind: 'title' | 'live-stream'; name: string; protection: Protection }[];
  /** DRM systems whose licenses the proxy can get (an upstream is configured). */
  licenseSystems: readonly ProxiedSystem[];
  publicUrl: string;
  /** Session starts per client address. */
  limiter: RateLimiter;
  /** Admins may learn why content cannot play; anonymous callers may not. */
  adminToken: string;
  /** For a live stream: its advertised PART-HOLD-BACK, from which player settings follow. */
  liveTiming: (contentId: string) => LiveTiming | null;
  observer: SessionObserver;
  /** Whether a title published trick-play thumbnails (titles from before them did not). */
  hasThumbnails: (contentId: string) => boolean | Promise<boolean>;
  /** Where this viewer left this title (ms), if part-way through it. */
  resumeAt: (viewerId: string, contentId: string) => number | null;
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
    // hls.js speeds up toward its target only while more than 1 s is buffered ahead, so without
    // help it stays where its start-up left it (about 0.5 s above the target: 1.05–1.11 s glass
    // to glass in bench:live, its own figure 0.98–1.05 s). Past liveMaxLatencyDuration it jumps
    // back to the target instead: with the maximum 1.5 parts above the target it played at about
    // 0.7 s, 0 stalls (at 2 parts above, 1.0 s, it settled just under and never jumped). Stalls
    // must not raise the target (liveSyncOnStallIncrease 0): a target raised to the maximum made
    // it seek and stall in a loop (hundreds of stalls in 30 s).
    hlsjs: {
      lowLatencyMode: true,
      liveSyncDuration: target,
      liveSyncOnStallIncrease: 0,
      liveMaxLatencyDuration: seconds(target + 1.5 * timing.partTargetSeconds),
      maxLiveSyncPlaybackRate: 1.5,
    },
    // dash.js fetches whole chunked segments: at PART-HOLD-BACK it rebuffered (20 stalls in 20 s
    // in bench:live); half a segment more and gentler catch-up kept it steady.
    dashjs: { streaming: { delay: { liveDelay: Number((target + timing.segmentSeconds / 2).toFixed(3)) }, liveCatchup: { enabled: true, maxDrift: timing.segmentSeconds * 2, playbackRate: { min: -0.2, max: 0.2 } } } },
    shaka: { streaming: { lowLatencyMode: true } },
  };
}

const mimeTypes: Record<StreamingProtocol, string> = { hls: 'application/vnd.apple.mpegurl', dash: 'application/dash+xml' };
const manifestNames: Record<StreamingProtocol, string> = { hls: multivariantName, dash: dashManifestName };

/**
 * How a player gets keys for this content, per system: Weir's own ClearKey license, its AES-128
 * key, and the proxied systems an upstream is configured for, in the device's order of
 * preference (null when the content is clear).
 */
function drmOf(protection: Protection, media: string, systems: readonly ProxiedSystem[], profile: DeviceProfile | null) {
  if (protection === 'aes-128') return { scheme: protection, aes128: { keyUrl: `${media}/${aes128KeyName}` } };
  if (protection !== 'cenc' && protection !== 'cbcs') return null;
  const offered: Partial<Record<DrmSystem, { licenseUrl: string }>> = { clearkey: { licenseUrl: `${media}/${clearKeyLicenseName}` } };
  // FairPlay decrypts only cbcs.
  for (const system of systems) if (system !== 'fairplay' || protection === 'cbcs') offered[system] = { licenseUrl: `${media}/license/${system}` };
  const preferred = (profile?.drm ?? []).map((d) => d.system).filter((system) => offered[system]);
  const order = [...new Set([...preferred, ...(Object.keys(offered) as DrmSystem[])])];
  return { scheme: protection, systems: order, ...offered };
}

/** The session answer's view of a lease: what a device shows in "watching on other screens". */
function leaseResource(lease: Lease) {
  return {
    id: lease.id,
    contentId: lease.contentId,
    device: lease.device,
    startedAt: new Date(lease.startedAt).toISOString(),
    state: lease.state,
    position: lease.positionMs === null ? null : lease.positionMs / 1000,
  };
}

/**
 * POST /v1/playback-sessions: the first step of playback start. The decision reads memory and
 * one indexed row; the one write is the lease. The answer is shaped for the device: sources in
 * its protocol order, DRM per system, a resolution cap in the manifests it will fetch.
 */
export function playbackRoutes(deps: PlaybackRoutesDeps): Router {
  const router = Router();
  const json = jsonBody('16kb');
  const isAdmin = adminCheck(deps.adminToken);
  const whoAsks = requesterOf(isAdmin, deps.accounts);
  router.post('/v1/playback-sessions', json, async (req, res) => {
    const retryAfterSeconds = deps.limiter.take(req.ip ?? 'unknown');
    if (retryAfterSeconds > 0) {
      throw new WeirError('RATE_LIMITED', `Too many playback sessions from this address; try again in ${retryAfterSeconds} s.`, { retryAfterSeconds });
    }
    const { contentId, position } = parseInput(sessionBody, req.body ?? {}, 'playback session body');
    const requester = whoAsks(req);
    if (!deps.isPlayable(contentId)) {
      const state = requester.kind === 'admin' ? deps.contentState(contentId) : null;
      // Whether unplayable content exists, and in which state, is the operator's to know.
      if (state === null) {
        throw new WeirError('CONTENT_UNAVAILABLE', `No title or live stream with id ${JSON.stringify(contentId)} can be played now: it does not exist, or it is not ready or live.`);
      }
      throw new WeirError('CONTENT_NOT_READY', `Content ${contentId} is ${state}; titles play once ready, live streams while live.`);
    }
    const { lease, token, profile } = await deps.service.start(contentId, requester, deps.countryOf(req));
    deps.observer.started(lease);
    const base = baseUrl(req, deps.publicUrl);
    const media = `${base}/media/${encodeURIComponent(contentId)}/${token}`;
    const protection = deps.protectionOf(contentId);
    const drm = drmOf(protection, media, deps.licenseSystems, profile);
    const protocols = (profile?.protocols ?? ['hls', 'dash']).filter((p) => !(protection === 'aes-128' && p === 'dash')); // AES-128 is HLS only
    const sources = protocols.map((protocol) => ({ protocol, url: `${media}/${manifestNames[protocol]}`, mimeType: mimeTypes[protocol], drm }));
    const timing = deps.liveTiming(contentId);
    const heartbeatSeconds = deps.service.leases.heartbeatSeconds;
    const resumeMs = position === undefined && lease.viewerId !== null && !timing ? deps.resumeAt(lease.viewerId, contentId) : null;
    const thumbnails = !timing && (await deps.hasThumbnails(contentId));
    sendNoStoreJson(res, 201, {
      id: lease.id,
      contentId,
      // The lease lapses this long after the last heartbeat (or media request): heartbeat before.
      expiresAt: new Date(deps.service.leases.expiresAt(lease)).toISOString(),
      heartbeat: { url: `${base}/v1/playback-sessions/${lease.id}/heartbeat`, intervalSeconds: heartbeatSeconds },
      maxHeight: lease.maxHeight,
      posterUrl: `${media}/${posterName}`,
      sources,
      // Live only: how to configure each player for low latency (null for titles).
      live: timing ? livePlayerSettings(timing) : null,
      // Where the player should start: the position asked for, else where this viewer left off.
      resumeFrom: position ?? (resumeMs === null ? null : resumeMs / 1000),
      // Scrubbing thumbnails as a WebVTT track of sprite tiles (the manifests name them too).
      thumbnailsUrl: thumbnails ? `${media}/${trickPlayDir}/${thumbnailsVttName}` : null,
    });
  });

  /** A session of this requester: viewers reach only their own; anonymous sessions whoever holds the id. */
  const viewerIdOf = (req: Request): string | null => {
    const requester = whoAsks(req);
    return requester.kind === 'viewer' ? requester.viewerId : null;
  };

  router.post('/v1/playback-sessions/:id/heartbeat', json, async (req, res) => {
    const body = parseInput(heartbeatBody, req.body ?? {}, 'heartbeat body');
    const lease = deps.service.leases.heartbeat(String(req.params.id), viewerIdOf(req), { positionMs: body.position === undefined ? null : Math.round(body.position * 1000), state: body.state });
    deps.observer.heartbeat(lease, body);
    sendNoStoreJson(res, 200, { ...leaseResource(lease), expiresAt: new Date(deps.service.leases.expiresAt(lease)).toISOString() });
  });

  router.delete('/v1/playback-sessions/:id', async (req, res) => {
    deps.observer.ended(deps.service.leases.end(String(req.params.id), viewerIdOf(req)));
    res.status(204).end();
  });

  // What this requester may watch here and now (a device's first screen until discovery has rails).
  router.get('/v1/catalog', async (req, res) => {
    const requester = whoAsks(req);
    const country = deps.countryOf(req);
    const items = deps.playableContent().filter((item) => deps.service.mayWatch(item.id, requester, country));
    res.setHeader('cache-control', 'private, no-store');
    res.json({ items });
  });

  router.get('/v1/me/playback-sessions', async (req, res) => {
    const me = requireViewer(req, deps.accounts);
    res.setHeader('cache-control', 'no-store');
    res.json({ items: deps.service.leases.active(me.viewerId).map(leaseResource) });
  });
  return router;
}
