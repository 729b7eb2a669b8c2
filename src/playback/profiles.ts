import { z } from 'zod';
import type { DeviceFamily } from '../viewers/plans.js';

export const drmSystems = ['widevine', 'playready', 'fairplay', 'clearkey'] as const;
export type DrmSystem = (typeof drmSystems)[number];

export const streamingProtocols = ['hls', 'dash'] as const;
export type StreamingProtocol = (typeof streamingProtocols)[number];

/** What a family of devices plays best, so a session answer can be shaped for it. */
export type DeviceProfile = {
  /** Protocols in order of preference. */
  protocols: StreamingProtocol[];
  /** DRM systems in order of preference, each with the encryption scheme the platform takes. */
  drm: { system: DrmSystem; scheme: 'cenc' | 'cbcs' }[];
  /** The tallest video the platform class decodes comfortably (lines). */
  maxHeight: number;
  videoCodecs: string[];
  captions: 'webvtt' | 'ttml' | 'cea-608';
  /** Artwork sizes its screens want (width × height), for the catalog's images. */
  artwork: { poster: string; backdrop: string; thumbnail: string };
  /** The player the family's apps use, whose live settings the answer carries. */
  player: 'hlsjs' | 'shaka' | 'dashjs' | 'avplayer' | 'exoplayer' | 'roku' | 'avplay' | 'webos';
};

export const deviceProfileSchema = z.strictObject({
  protocols: z.array(z.enum(streamingProtocols)).min(1).max(2),
  drm: z.array(z.strictObject({ system: z.enum(drmSystems), scheme: z.enum(['cenc', 'cbcs']) })).max(4),
  maxHeight: z.number().int().min(144).max(4320),
  videoCodecs: z.array(z.string().min(1).max(20)).min(1).max(10),
  captions: z.enum(['webvtt', 'ttml', 'cea-608']),
  artwork: z.strictObject({ poster: z.string().regex(/^\d+x\d+$/), backdrop: z.string().regex(/^\d+x\d+$/), thumbnail: z.string().regex(/^\d+x\d+$/) }),
  player: z.enum(['hlsjs', 'shaka', 'dashjs', 'avplayer', 'exoplayer', 'roku', 'avplay', 'webos']),
});

/** What the TV platforms share: DASH first, PlayReady then Widevine, up to 2160p, TTML captions. */
const smartTv: DeviceProfile = {
  protocols: ['dash', 'hls'],
  drm: [{ system: 'playready', scheme: 'cenc' }, { system: 'widevine', scheme: 'cenc' }],
  maxHeight: 2160,
  videoCodecs: ['avc1', 'hvc1'],
  captions: 'ttml',
  artwork: { poster: '500x750', backdrop: '1920x1080', thumbnail: '320x180' },
  player: 'avplay',
};

/**
 * Defaults from each platform's documentation: Apple plays HLS with FairPlay (cbcs) natively;
 * Android and Google TV use ExoPlayer with Widevine and prefer DASH; Samsung Tizen and LG webOS
 * TVs carry PlayReady and Widevine and play DASH best; Roku plays DASH and HLS with PlayReady or
 * Widevine; web browsers run hls.js, Shaka or dash.js over EME (Widevine in Chrome and Firefox,
 * PlayReady in Edge), with ClearKey for development. Overridable per family in config.
 */
export const defaultDeviceProfiles: Record<DeviceFamily, DeviceProfile> = {
  web: {
    protocols: ['hls', 'dash'],
    drm: [{ system: 'widevine', scheme: 'cenc' }, { system: 'playready', scheme: 'cenc' }, { system: 'clearkey', scheme: 'cenc' }],
    maxHeight: 2160,
    videoCodecs: ['avc1'],
    captions: 'webvtt',
    artwork: { poster: '500x750', backdrop: '1280x720', thumbnail: '320x180' },
    player: 'hlsjs',
  },
  ios: {
    protocols: ['hls'],
    drm: [{ system: 'fairplay', scheme: 'cbcs' }],
    maxHeight: 1080,
    videoCodecs: ['avc1', 'hvc1'],
    captions: 'webvtt',
    artwork: { poster: '342x513', backdrop: '1170x658', thumbnail: '320x180' },
    player: 'avplayer',
  },
  tvos: {
    protocols: ['hls'],
    drm: [{ system: 'fairplay', scheme: 'cbcs' }],
    maxHeight: 2160,
    videoCodecs: ['avc1', 'hvc1'],
    captions: 'webvtt',
    artwork: { poster: '600x900', backdrop: '1920x1080', thumbnail: '548x308' },
    player: 'avplayer',
  },
  android: {
    protocols: ['dash', 'hls'],
    drm: [{ system: 'widevine', scheme: 'cenc' }],
    maxHeight: 1080,
    videoCodecs: ['avc1'],
    captions: 'webvtt',
    artwork: { poster: '342x513', backdrop: '1080x608', thumbnail: '320x180' },
    player: 'exoplayer',
  },
  androidtv: {
    protocols: ['dash', 'hls'],
    drm: [{ system: 'widevine', scheme: 'cenc' }],
    maxHeight: 2160,
    videoCodecs: ['avc1', 'hvc1'],
    captions: 'webvtt',
    artwork: { poster: '500x750', backdrop: '1920x1080', thumbnail: '320x180' },
    player: 'exoplayer',
  },
  roku: { ...smartTv, captions: 'webvtt', artwork: { ...smartTv.artwork, poster: '300x450' }, player: 'roku' },
  tizen: { ...smartTv, player: 'avplay' },
  webos: { ...smartTv, player: 'webos' },
  other: {
    protocols: ['hls', 'dash'],
    drm: [{ system: 'clearkey', scheme: 'cenc' }],
    maxHeight: 1080,
    videoCodecs: ['avc1'],
    captions: 'webvtt',
    artwork: { poster: '342x513', backdrop: '1280x720', thumbnail: '320x180' },
    player: 'hlsjs',
  },
};

/** The defaults with the configured overrides laid over them, field by field. */
export function deviceProfiles(overrides: Partial<Record<DeviceFamily, Partial<DeviceProfile>>>): Record<DeviceFamily, DeviceProfile> {
  const merged = { ...defaultDeviceProfiles };
  for (const [family, override] of Object.entries(overrides) as [DeviceFamily, Partial<DeviceProfile>][]) merged[family] = { ...merged[family], ...override };
  return merged;
}
