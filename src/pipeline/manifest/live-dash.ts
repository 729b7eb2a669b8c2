import type { LiveBroadcast } from '../live/broadcast.js';
import type { LiveRendition } from '../live/rendition.js';
import { clearKeyContentProtection, mpdNamespaces } from './dash.js';
import { risingBandwidths } from './rendition.js';
import { liveInitName } from './llhls.js';

export type LiveDashSettings = { partTargetSeconds: number; segmentTargetSeconds: number; windowSeconds: number; utcTimingUrl: string };

const iso = (ms: number): string => new Date(ms).toISOString();
const duration = (seconds: number): string => `PT${seconds.toFixed(3)}S`;

/**
 * SegmentTimeline of the window. The open segment is announced with the target duration so
 * low-latency clients request it early and receive its chunks as they are made; once it closes,
 * the next MPD carries its real duration.
 */
function timeline(rendition: LiveRendition, segmentTargetSeconds: number): { xml: string; startNumber: number } {
  const timescale = rendition.track.timescale;
  const entries: string[] = [];
  let previousEnd: number | null = null;
  for (const segment of rendition.segments) {
    const d = segment.complete ? segment.duration : Math.max(segment.duration, Math.round(segmentTargetSeconds * timescale));
    const t = previousEnd === null || segment.startDts !== previousEnd ? ` t="${segment.startDts}"` : '';
    entries.push(`<S${t} d="${d}"/>`);
    previousEnd = segment.startDts + d;
  }
  return { xml: entries.join(''), startNumber: rendition.segments[0]?.msn ?? 0 };
}

function representation(rendition: LiveRendition, bandwidth: number, settings: LiveDashSettings): string {
  const track = rendition.track;
  const { xml, startNumber } = timeline(rendition, settings.segmentTargetSeconds);
  const initVersion = rendition.segments[rendition.segments.length - 1]?.initVersion ?? rendition.currentInitVersion;
  const attributes =
    rendition.kind === 'video' ? ` width="${track.width}" height="${track.height}" sar="1:1"` : ` audioSamplingRate="${track.sampleRate}"`;
  const channels =
    rendition.kind === 'audio' ? `<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${track.channels}"/>` : '';
  // Chunks of a segment become available one part after it starts (DASH-IF IOP LL §9.X.4.5).
  const availabilityTimeOffset = Math.max(0, settings.segmentTargetSeconds - settings.partTargetSeconds).toFixed(3);
  return (
    `<Representation id="${rendition.id}" bandwidth="${bandwidth}" codecs="${track.codec}"${attributes}>${channels}` +
    `<SegmentTemplate timescale="${track.timescale}" initialization="${rendition.id}/${liveInitName(initVersion)}" media="${rendition.id}/seg-$Number$.m4s" startNumber="${startNumber}" availabilityTimeOffset="${availabilityTimeOffset}" availabilityTimeComplete="false">` +
    `<SegmentTimeline>${xml}</SegmentTimeline></SegmentTemplate></Representation>`
  );
}

/** A dynamic MPD (LL-DASH, DASH-IF IOP v5 low-latency) over the same CMAF chunks as LL-HLS. */
export function writeLiveMpd(broadcast: LiveBroadcast, settings: LiveDashSettings, now = Date.now()): string {
  const rates = risingBandwidths(broadcast.variants(), (v) => ({ peak: v.peakBandwidth, average: v.averageBandwidth }));
  const variants = new Map([...rates].map(([id, rate]) => [id, rate.peak]));
  const renditions = [...broadcast.renditions.values()];
  const set = (kind: 'video' | 'audio', id: number) => {
    const members = renditions.filter((r) => r.kind === kind && r.segments.length > 0);
    if (members.length === 0) return '';
    const mime = kind === 'video' ? 'video/mp4' : 'audio/mp4';
    const scheme = members[0]!.scheme;
    // Keys may rotate, so no default KID: players take KIDs from each init segment's pssh.
    const protection = scheme
      ? `<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${scheme}"/>${clearKeyContentProtection}`
      : '';
    return (
      `<AdaptationSet id="${id}" contentType="${kind}" mimeType="${mime}" segmentAlignment="true" startWithSAP="1">` +
      protection +
      members.map((r) => representation(r, variants.get(r.id) ?? 1, settings)).join('') +
      '</AdaptationSet>'
    );
  };
  // The broadcast timeline starts at 0 when its first sample arrived: that instant is the anchor.
  const anchor = renditions.flatMap((r) => r.segments.slice(0, 1).map((s) => s.pdtMs - (s.startDts * 1000) / r.track.timescale));
  const availabilityStart = Math.min(...(anchor.length > 0 ? anchor : [now]));
  const targetLatencyMs = Math.round((3 * settings.partTargetSeconds + settings.segmentTargetSeconds / 2) * 1000);
  const ended = renditions.length > 0 && renditions.every((r) => r.isEnded);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD ${mpdNamespaces} profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" type="${ended ? 'static' : 'dynamic'}"` +
      (ended
        ? ` mediaPresentationDuration="${duration(Math.max(0, ...renditions.map((r) => r.segments.reduce((s, x) => s + x.duration, 0) / r.track.timescale)))}"`
        : ` availabilityStartTime="${iso(availabilityStart)}" publishTime="${iso(now)}" minimumUpdatePeriod="PT${settings.segmentTargetSeconds}S" timeShiftBufferDepth="${duration(settings.windowSeconds)}" maxSegmentDuration="${duration(settings.segmentTargetSeconds * 2)}"`) +
      ` minBufferTime="${duration(settings.partTargetSeconds * 2)}">`,
    `<ServiceDescription id="0"><Latency referenceId="0" target="${targetLatencyMs}" min="${Math.round(targetLatencyMs / 2)}" max="${targetLatencyMs * 3}"/><PlaybackRate min="0.96" max="1.04"/></ServiceDescription>`,
    '<Period id="0" start="PT0S">',
    set('video', 0),
    set('audio', 1),
    '</Period>',
    `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${settings.utcTimingUrl}"/>`,
    '</MPD>',
    '',
  ].join('\n');
}
