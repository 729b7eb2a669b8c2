import type { Rate } from '../probe.js';
import type { TrackInfo } from '../media.js';
import type { SegmentRecord } from '../cmaf/segment-writer.js';

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

/** Peak and average bits per second over the segments (HLS BANDWIDTH / AVERAGE-BANDWIDTH). */
export function measureBandwidth(rendition: PackagedRendition): { peak: number; average: number } {
  let peak = 0;
  let bytes = 0;
  let duration = 0;
  for (const segment of rendition.segments) {
    const seconds = segment.duration / rendition.timescale;
    if (seconds > 0) peak = Math.max(peak, Math.ceil((segment.bytes * 8) / seconds));
    bytes += segment.bytes;
    duration += segment.duration;
  }
  const average = duration > 0 ? Math.ceil((bytes * 8 * rendition.timescale) / duration) : 0;
  return { peak, average };
}

export function totalDuration(rendition: PackagedRendition): number {
  return rendition.segments.reduce((sum, s) => sum + s.duration, 0);
}
