import { initSegmentName, segmentTemplate } from '../cmaf/segment-writer.js';
import { measureBandwidth, totalDuration, type PackagedRendition } from './rendition.js';

export const dashManifestName = 'manifest.mpd';

/** ISO 8601 duration with millisecond precision, as MPD attributes want (PT12.345S). */
function isoDuration(milliseconds: number): string {
  return `PT${(milliseconds / 1000).toFixed(3)}S`;
}

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

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

function representation(rendition: PackagedRendition): string {
  const { peak } = measureBandwidth(rendition);
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

/**
 * A static MPD (ISO/IEC 23009-1, DASH-IF IOP live/on-demand profile) over the same CMAF
 * segments the HLS playlists name.
 */
export function writeStaticMpd(renditions: readonly PackagedRendition[], contentProtection = ''): string {
  const durationMs = Math.max(0, ...renditions.map((r) => Math.round((totalDuration(r) * 1000) / r.timescale)));
  const video = renditions.filter((r) => r.kind === 'video');
  const audio = renditions.filter((r) => r.kind === 'audio');
  const maxWidth = Math.max(0, ...video.map((r) => r.width));
  const maxHeight = Math.max(0, ...video.map((r) => r.height));
  const sets: string[] = [];
  if (video.length > 0) {
    sets.push(
      `<AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="${maxWidth}" maxHeight="${maxHeight}">` +
        contentProtection +
        video.map(representation).join('') +
        '</AdaptationSet>',
    );
  }
  if (audio.length > 0) {
    sets.push(
      `<AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">` +
        contentProtection +
        audio.map(representation).join('') +
        '</AdaptationSet>',
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" type="static" mediaPresentationDuration="${isoDuration(durationMs)}" minBufferTime="PT2S">`,
    `<Period id="0" start="PT0S">`,
    ...sets,
    '</Period>',
    '</MPD>',
    '',
  ].join('\n');
}
