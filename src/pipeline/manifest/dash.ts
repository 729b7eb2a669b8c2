import { serializeBoxes } from '../bmff/write.js';
import { thumbnailAdaptationSet, type TrickPlay } from './trick-play.js';
import { measureBandwidth, risingBandwidths, totalDuration, type ManifestProtection, type PackagedRendition } from './packaged-rendition.js';
import { initSegmentName, segmentTemplate, clearKeyLicenseName } from '../../layout.js';

/** Namespaces an MPD root declares: CENC for default KIDs and pssh, DASH-IF for license URLs. */
export const mpdNamespaces = 'xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" xmlns:dashif="https://dashif.org/CPS"';

/**
 * DASH-IF's ClearKey ContentProtection (IOP 4.3 §7.6.2.4) with the license URL in dashif:Laurl:
 * dash.js and devices without out-of-band configuration find the license only there. The URL
 * is written relative to the MPD (ISO/IEC 23009-1 §5.6.4); delivery makes it absolute for
 * each session, since players fetch it as written.
 */
export const clearKeyContentProtection = `<ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0"><dashif:Laurl>${clearKeyLicenseName}</dashif:Laurl></ContentProtection>`;

/** Resolves the relative license URLs of an MPD against the URL it was requested at. */
export function withAbsoluteLicenseUrls(mpd: string, manifestUrl: string): string {
  return mpd.replace(/<dashif:Laurl>([^<]*)<\/dashif:Laurl>/g, (_whole, url: string) => `<dashif:Laurl>${escapeXml(new URL(url, manifestUrl).href)}</dashif:Laurl>`);
}

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** ISO 8601 duration with millisecond precision, as MPD attributes want (PT12.345S). */
function isoDuration(milliseconds: number): string {
  return `PT${(milliseconds / 1000).toFixed(3)}S`;
}

/** S elements with runs of equal durations folded into @r (ISO/IEC 23009-1 §5.3.9.6). */
function segmentTimeline(rendition: PackagedRendition): string {
  const entries: string[] = [];
  let index = 0;
  const { segments } = rendition;
  while (index < segments.length) {
    const first = segments[index]!;
    let repeat = 0;
    while (index + repeat + 1 < segments.length && segments[index + repeat + 1]!.duration === first.duration) repeat++;
    const t = index === 0 ? ` t="${first.startDts}"` : '';
    entries.push(`<S${t} d="${first.duration}"${repeat > 0 ? ` r="${repeat}"` : ''}/>`);
    index += repeat + 1;
  }
  return entries.join('');
}

function representation(rendition: PackagedRendition, peak: number): string {
  const common = `id="${escapeXml(rendition.id)}" bandwidth="${peak}" codecs="${escapeXml(rendition.codec)}"`;
  const media =
    rendition.kind === 'video'
      ? ` width="${rendition.width}" height="${rendition.height}"${rendition.frameRate ? ` frameRate="${rendition.frameRate.num}/${rendition.frameRate.den}"` : ''} sar="1:1"`
      : ` audioSamplingRate="${rendition.sampleRate}"`;
  const channels =
    rendition.kind === 'audio'
      ? `<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${rendition.channels}"/>`
      : '';
  const firstNumber = rendition.segments[0]?.number ?? 1;
  return [
    `<Representation ${common}${media}>`,
    channels,
    `<SegmentTemplate timescale="${rendition.timescale}" initialization="${rendition.id}/${initSegmentName}" media="${rendition.id}/${segmentTemplate}" startNumber="${firstNumber}">`,
    `<SegmentTimeline>${segmentTimeline(rendition)}</SegmentTimeline>`,
    '</SegmentTemplate>',
    '</Representation>',
  ].join('');
}

const uuid = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

/** A title's ContentProtection: mp4protection with the default KID, ClearKey, and the systems its key source supplied. */
function titleContentProtection(protection: ManifestProtection | null): string {
  if (!protection) return '';
  if (protection.scheme === 'aes-128') throw new RangeError('whole-segment AES-128 is HLS only: a DASH manifest cannot signal it');
  const systems = protection.pssh.map(
    (p) => `<ContentProtection schemeIdUri="urn:uuid:${uuid(p.systemId)}"><cenc:pssh>${Buffer.from(serializeBoxes([p])).toString('base64')}</cenc:pssh></ContentProtection>`,
  );
  return [
    `<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${protection.scheme}" cenc:default_KID="${uuid(protection.kid)}"/>`,
    clearKeyContentProtection,
    ...systems,
  ].join('');
}

/**
 * A static MPD (ISO/IEC 23009-1, DASH-IF IOP live/on-demand profile) over the same CMAF
 * segments the HLS playlists name.
 */
export function writeStaticMpd(renditions: readonly PackagedRendition[], protection: ManifestProtection | null = null, trickPlay: TrickPlay | null = null): string {
  const contentProtection = titleContentProtection(protection);
  const durationMs = Math.max(0, ...renditions.map((r) => Math.round((totalDuration(r) * 1000) / r.timescale)));
  const rates = risingBandwidths(renditions, measureBandwidth);
  const representations = (members: PackagedRendition[]) => members.map((r) => representation(r, rates.get(r.id)!.peak)).join('');
  const video = renditions.filter((r) => r.kind === 'video');
  const audio = renditions.filter((r) => r.kind === 'audio');
  const maxWidth = Math.max(0, ...video.map((r) => r.width));
  const maxHeight = Math.max(0, ...video.map((r) => r.height));
  const sets: string[] = [];
  if (video.length > 0) {
    sets.push(
      `<AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="${maxWidth}" maxHeight="${maxHeight}">` +
        contentProtection +
        representations(video) +
        '</AdaptationSet>',
    );
  }
  if (audio.length > 0) {
    sets.push(
      `<AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">` +
        contentProtection +
        representations(audio) +
        '</AdaptationSet>',
    );
  }
  if (trickPlay) sets.push(thumbnailAdaptationSet(trickPlay, 2));
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD ${mpdNamespaces} profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" type="static" mediaPresentationDuration="${isoDuration(durationMs)}" minBufferTime="PT2S">`,
    `<Period id="0" start="PT0S">`,
    ...sets,
    '</Period>',
    '</MPD>',
    '',
  ].join('\n');
}
