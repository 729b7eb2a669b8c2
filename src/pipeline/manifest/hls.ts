import type { CencScheme } from '../cmaf/encrypt.js';
import { imageStreamInf, type TrickPlay } from './trick-play.js';
import type { Pssh } from '../bmff/boxes.js';
import { serializeBoxes } from '../bmff/write.js';
import { measureBandwidth, risingBandwidths, type ManifestProtection, type PackagedRendition } from './packaged-rendition.js';
import { mediaPlaylistName, initSegmentName, segmentName, aes128KeyName, tsSegmentName } from '../../layout.js';

/** Seconds with millisecond precision from an integer duration in a timescale. */
function seconds(duration: number, timescale: number): string {
  return (duration / timescale).toFixed(3);
}

/** The EXT-X-KEY of sample encryption (§4.4.4.4) for the ClearKey key format: the KID rides in a data URI. */
export function sampleAesKeyTag(scheme: CencScheme, kid: Uint8Array): string {
  const method = scheme === 'cbcs' ? 'SAMPLE-AES' : 'SAMPLE-AES-CTR';
  return `#EXT-X-KEY:METHOD=${method},URI="data:text/plain;base64,${Buffer.from(kid).toString('base64')}",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"`;
}

const widevineSystemId = 'edef8ba979d64acea3c827dcd51d21ed';
const playreadySystemId = '9a04f07998404286ab92e65be0885f95';
const fairplaySystemId = '94ce86fb07ff4f43adb893d2fa968ca2';

/**
 * One EXT-X-KEY per DRM system the key source supplied a PSSH for, after ClearKey's, each in the
 * key format its players look for: Widevine the whole pssh box under its system UUID, PlayReady
 * its PlayReady Object (UTF-16), FairPlay an skd:// URI naming the KID. A player uses the tag of
 * the system it runs and ignores the rest.
 */
export function sampleAesKeyTags(scheme: CencScheme, kid: Uint8Array, pssh: readonly Pssh[]): string[] {
  const method = scheme === 'cbcs' ? 'SAMPLE-AES' : 'SAMPLE-AES-CTR';
  const tags = [sampleAesKeyTag(scheme, kid)];
  for (const box of pssh) {
    const system = Buffer.from(box.systemId).toString('hex');
    if (system === widevineSystemId) {
      tags.push(`#EXT-X-KEY:METHOD=${method},URI="data:text/plain;base64,${Buffer.from(serializeBoxes([box])).toString('base64')}",KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",KEYFORMATVERSIONS="1"`);
    } else if (system === playreadySystemId) {
      tags.push(`#EXT-X-KEY:METHOD=${method},URI="data:text/plain;charset=UTF-16;base64,${Buffer.from(box.data).toString('base64')}",KEYFORMAT="com.microsoft.playready",KEYFORMATVERSIONS="1"`);
    } else if (system === fairplaySystemId && scheme === 'cbcs') {
      tags.push(`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://${Buffer.from(kid).toString('hex')}",KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"`);
    }
  }
  return tags;
}

/**
 * A VOD media playlist (RFC 8216 §4.3). "The EXTINF duration of each Media Segment, when rounded
 * to the nearest integer, MUST be less than or equal to the target duration" (§4.3.3.1).
 * Sample encryption keys come before EXT-X-MAP (the init segment stays clear); the AES-128 key
 * after it, so only media segments are encrypted, their IV their media sequence number.
 * AES-128 titles are packaged as MPEG-TS (no map): GStreamer 1.22's hlsdemux2 decrypts a clear
 * init with the segment key and crashes on an encrypted one, and older set-top players read
 * only transport streams.
 */
export function writeVodMediaPlaylist(rendition: PackagedRendition, protection: ManifestProtection | null = null): string {
  const targetDuration = Math.max(1, ...rendition.segments.map((s) => Math.round(s.duration / rendition.timescale)));
  const sampleKey = protection && protection.scheme !== 'aes-128' ? sampleAesKeyTags(protection.scheme, protection.kid, protection.pssh) : [];
  const wholeSegmentKey = protection?.scheme === 'aes-128' ? [`#EXT-X-KEY:METHOD=AES-128,URI="../${aes128KeyName}"`] : [];
  const ts = rendition.transportStream === true;
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${targetDuration}`,
    '#EXT-X-MEDIA-SEQUENCE:1',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    ...sampleKey,
    ...(ts ? [] : [`#EXT-X-MAP:URI="${initSegmentName}"`]),
    ...wholeSegmentKey,
  ];
  for (const segment of rendition.segments) {
    lines.push(`#EXTINF:${seconds(segment.duration, rendition.timescale)},`, ts ? tsSegmentName(segment.number) : segmentName(segment.number));
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

/**
 * The multivariant playlist (§4.4): one variant per video rendition, audio as one EXT-X-MEDIA
 * group, and the EXT-X-IMAGE-STREAM-INF line of trick-play thumbnails when there are some.
 */
export function writeMultivariant(measured: readonly VariantInfo[], imageStream: string | null = null): string {
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
  if (imageStream) lines.push(imageStream);
  lines.push('');
  return lines.join('\n');
}

/** The multivariant playlist of a packaged VOD title, with bandwidths measured from its segments. */
export function writeMultivariantPlaylist(renditions: readonly PackagedRendition[], trickPlay: TrickPlay | null = null): string {
  return writeMultivariant(renditions.map(variantOf), trickPlay && imageStreamInf(trickPlay));
}
