import { initSegmentName, segmentName } from '../cmaf/segment-writer.js';
import { measureBandwidth, risingBandwidths, type PackagedRendition } from './packaged-rendition.js';

export const multivariantName = 'master.m3u8';
export const mediaPlaylistName = 'index.m3u8';

/** Seconds with millisecond precision from an integer duration in a timescale. */
function seconds(duration: number, timescale: number): string {
  return (duration / timescale).toFixed(3);
}

/**
 * A VOD media playlist (RFC 8216 §4.3). "The EXTINF duration of each Media Segment, when rounded
 * to the nearest integer, MUST be less than or equal to the target duration" (§4.3.3.1).
 */
/**
 * EXT-X-KEY lines of a protected rendition (§4.4.4.4). Sample encryption keys come before
 * EXT-X-MAP (the init segment stays clear); AES-128 keys after it, so only media segments are
 * encrypted and their IV is their media sequence number.
 */
export type HlsKeyTags = { beforeMap: string[]; afterMap: string[] };

export function writeVodMediaPlaylist(rendition: PackagedRendition, keys: HlsKeyTags = { beforeMap: [], afterMap: [] }): string {
  const targetDuration = Math.max(1, ...rendition.segments.map((s) => Math.round(s.duration / rendition.timescale)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${targetDuration}`,
    '#EXT-X-MEDIA-SEQUENCE:1',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    ...keys.beforeMap,
    `#EXT-X-MAP:URI="${initSegmentName}"`,
    ...keys.afterMap,
  ];
  for (const segment of rendition.segments) {
    lines.push(`#EXTINF:${seconds(segment.duration, rendition.timescale)},`, segmentName(segment.number));
  }
  lines.push('#EXT-X-ENDLIST', '');
  return lines.join('\n');
}

/** A rendition as the multivariant playlist describes it; bandwidths in bits per second. */
export type VariantInfo = {
  id: string;
  kind: 'video' | 'audio';
  codec: string;
  width: number;
  height: number;
  frameRate: { num: number; den: number } | null;
  channels: number;
  peakBandwidth: number;
  averageBandwidth: number;
};

export function variantOf(rendition: PackagedRendition): VariantInfo {
  const { peak, average } = measureBandwidth(rendition);
  return { ...rendition, peakBandwidth: peak, averageBandwidth: average };
}

/** The multivariant playlist (§4.4): one variant per video rendition, audio as one EXT-X-MEDIA group. */
export function writeMultivariant(measured: readonly VariantInfo[]): string {
  const rates = risingBandwidths(measured, (v) => ({ peak: v.peakBandwidth, average: v.averageBandwidth }));
  const variants = measured.map((v) => ({ ...v, peakBandwidth: rates.get(v.id)!.peak, averageBandwidth: rates.get(v.id)!.average }));
  const video = variants.filter((r) => r.kind === 'video');
  const audio = variants.find((r) => r.kind === 'audio');
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="${audio.channels}",URI="${audio.id}/${mediaPlaylistName}"`,
    );
  }
  for (const rendition of [...video].sort((a, b) => b.peakBandwidth - a.peakBandwidth)) {
    const attributes = [
      `BANDWIDTH=${rendition.peakBandwidth + (audio?.peakBandwidth ?? 0)}`,
      `AVERAGE-BANDWIDTH=${rendition.averageBandwidth + (audio?.averageBandwidth ?? 0)}`,
      `CODECS="${audio ? `${rendition.codec},${audio.codec}` : rendition.codec}"`,
      `RESOLUTION=${rendition.width}x${rendition.height}`,
    ];
    if (rendition.frameRate) attributes.push(`FRAME-RATE=${(rendition.frameRate.num / rendition.frameRate.den).toFixed(3)}`);
    if (audio) attributes.push('AUDIO="audio"');
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, `${rendition.id}/${mediaPlaylistName}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** The multivariant playlist of a packaged VOD title, with bandwidths measured from its segments. */
export function writeMultivariantPlaylist(renditions: readonly PackagedRendition[]): string {
  return writeMultivariant(renditions.map(variantOf));
}
