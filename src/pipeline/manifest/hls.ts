import { initSegmentName, segmentName } from '../cmaf/segment-writer.js';
import { measureBandwidth, type PackagedRendition } from './rendition.js';

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
export function writeVodMediaPlaylist(rendition: PackagedRendition): string {
  const targetDuration = Math.max(1, ...rendition.segments.map((s) => Math.round(s.duration / rendition.timescale)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${targetDuration}`,
    '#EXT-X-MEDIA-SEQUENCE:1',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI="${initSegmentName}"`,
  ];
  for (const segment of rendition.segments) {
    lines.push(`#EXTINF:${seconds(segment.duration, rendition.timescale)},`, segmentName(segment.number));
  }
  lines.push('#EXT-X-ENDLIST', '');
  return lines.join('\n');
}

function frameRateAttribute(rendition: PackagedRendition): string {
  return rendition.frameRate ? (rendition.frameRate.num / rendition.frameRate.den).toFixed(3) : '';
}

/** The multivariant playlist (§4.4): one variant per video rendition, audio as one EXT-X-MEDIA group. */
export function writeMultivariantPlaylist(renditions: readonly PackagedRendition[]): string {
  const video = renditions.filter((r) => r.kind === 'video');
  const audio = renditions.find((r) => r.kind === 'audio');
  const audioBandwidth = audio ? measureBandwidth(audio) : { peak: 0, average: 0 };
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="${audio.channels}",URI="${audio.id}/${mediaPlaylistName}"`,
    );
  }
  const byBandwidth = [...video].sort((a, b) => measureBandwidth(b).peak - measureBandwidth(a).peak);
  for (const rendition of byBandwidth) {
    const own = measureBandwidth(rendition);
    const codecs = audio ? `${rendition.codec},${audio.codec}` : rendition.codec;
    const attributes = [
      `BANDWIDTH=${own.peak + audioBandwidth.peak}`,
      `AVERAGE-BANDWIDTH=${own.average + audioBandwidth.average}`,
      `CODECS="${codecs}"`,
      `RESOLUTION=${rendition.width}x${rendition.height}`,
    ];
    const rate = frameRateAttribute(rendition);
    if (rate) attributes.push(`FRAME-RATE=${rate}`);
    if (audio) attributes.push('AUDIO="audio"');
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, `${rendition.id}/${mediaPlaylistName}`);
  }
  lines.push('');
  return lines.join('\n');
}
