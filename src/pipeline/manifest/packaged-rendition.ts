import type { Rate } from '../encode/probe.js';
import type { TrackInfo } from '../media.js';
import type { SegmentRecord } from '../cmaf/segment-writer.js';
import type { Pssh } from '../bmff/boxes.js';
import type { CencScheme } from '../cmaf/encrypt.js';

/** How a title's segments are protected, as its manifests signal it (null: clear). */
export type ManifestProtection = { scheme: CencScheme; kid: Uint8Array; pssh: readonly Pssh[] } | { scheme: 'aes-128' };

/** A packaged rendition, as manifest writers and the catalog see it. */
export type PackagedRendition = {
  id: string;
  kind: 'video' | 'audio';
  codec: string;
  width: number;
  height: number;
  frameRate: Rate | null;
  channels: number;
  sampleRate: number;
  timescale: number;
  segments: SegmentRecord[];
  /** MPEG-TS segments (no init segment) instead of CMAF; HLS only. */
  transportStream?: boolean;
};

/** A packaged rendition from its track and segments (frame rate kept for video only). */
export function packagedRendition(id: string, track: TrackInfo, frameRate: Rate | null, segments: SegmentRecord[]): PackagedRendition {
  return {
    id,
    kind: track.kind,
    codec: track.codec,
    width: track.width,
    height: track.height,
    frameRate: track.kind === 'video' ? frameRate : null,
    channels: track.channels,
    sampleRate: track.sampleRate,
    timescale: track.timescale,
    segments,
  };
}

/**
 * Peak and average bits per second over segments of `bytes` lasting `duration` in `timescale`
 * (HLS BANDWIDTH / AVERAGE-BANDWIDTH, DASH @bandwidth), for titles and live renditions alike.
 */
export function segmentBandwidth(segments: readonly { bytes: number; duration: number }[], timescale: number): Bandwidth {
  let peak = 0;
  let bytes = 0;
  let duration = 0;
  for (const segment of segments) {
    if (segment.duration > 0) peak = Math.max(peak, Math.ceil((segment.bytes * 8 * timescale) / segment.duration));
    bytes += segment.bytes;
    duration += segment.duration;
  }
  const average = duration > 0 ? Math.ceil((bytes * 8 * timescale) / duration) : 0;
  return { peak, average };
}

/** A packaged rendition's bandwidth over all its segments. */
export function measureBandwidth(rendition: PackagedRendition): Bandwidth {
  return segmentBandwidth(rendition.segments, rendition.timescale);
}

export function totalDuration(rendition: PackagedRendition): number {
  return rendition.segments.reduce((sum, s) => sum + s.duration, 0);
}

/** What a manifest advertises for a rendition, bits per second. */
export type Bandwidth = { peak: number; average: number };

/**
 * Advertised bandwidths, rising with resolution: an easy picture can cost a smaller rung more
 * bits than a larger one, and ABR players then treat the smaller rung as the top. A rung is
 * advertised at least one bit above the rung below it; declaring more than measured stays a
 * valid upper bound (RFC 8216 §4.3.4.2), declaring less would not.
 */
export function risingBandwidths<R extends { id: string; kind: 'video' | 'audio'; width: number; height: number }>(
  renditions: readonly R[],
  measured: (rendition: R) => Bandwidth,
): Map<string, Bandwidth> {
  const result = new Map<string, Bandwidth>();
  for (const rendition of renditions) result.set(rendition.id, measured(rendition));
  const video = renditions.filter((r) => r.kind === 'video').sort((a, b) => a.width * a.height - b.width * b.height);
  for (let i = 1; i < video.length; i++) {
    const below = result.get(video[i - 1]!.id)!;
    const own = result.get(video[i]!.id)!;
    result.set(video[i]!.id, { peak: Math.max(own.peak, below.peak + 1), average: Math.max(own.average, below.average + 1) });
  }
  return result;
}
