import type { LiveBroadcast } from '../live/broadcast.js';
import type { LiveRendition, LiveSegment } from '../live/live-rendition.js';
import { clearKeyContentProtection, mpdNamespaces } from './dash.js';
import { risingBandwidths } from './packaged-rendition.js';
import { liveInitName } from '../../layout.js';
import { liveThumbnailAdaptationSet } from './live-trick-play.js';

export type LiveDashSettings = { partTargetSeconds: number; segmentTargetSeconds: number; windowSeconds: number; utcTimingUrl: string };

const iso = (ms: number): string => new Date(ms).toISOString();
const duration = (seconds: number): string => `PT${seconds.toFixed(3)}S`;

/** The segments of one publisher session: a DASH Period (a new session may bring a new picture size). */
type Run = { sequence: number; segments: LiveSegment[] };

/** Splits a rendition's window at its discontinuities, numbered like EXT-X-DISCONTINUITY-SEQUENCE. */
function runsOf(rendition: LiveRendition): Run[] {
  const runs: Run[] = [];
  let sequence = rendition.discontinuitySequence;
  for (const [index, segment] of rendition.segments.entries()) {
    if (index > 0 && segment.discontinuity) sequence++;
    if (runs.length === 0 || runs[runs.length - 1]!.sequence !== sequence) runs.push({ sequence, segments: [] });
    runs[runs.length - 1]!.segments.push(segment);
  }
  return runs;
}

/**
 * SegmentTimeline of one period. The open segment is announced with the target duration so
 * low-latency clients request it early and receive its chunks as they are made; once it closes,
 * the next MPD carries its real duration.
 */
function timeline(rendition: LiveRendition, segments: LiveSegment[], segmentTargetSeconds: number): string {
  const timescale = rendition.track.timescale;
  const entries: string[] = [];
  let previousEnd: number | null = null;
  // The open segment is announced at the stream's fixed target (the publisher's GOP), so a
  // steady publisher's announced durations are the ones its segments then have.
  const announced = Math.round((rendition.targetSeconds ?? segmentTargetSeconds) * timescale);
  for (const segment of segments) {
    const d = segment.complete ? segment.duration : Math.max(segment.duration, announced);
    const t = previousEnd === null || segment.startDts !== previousEnd ? ` t="${segment.startDts}"` : '';
    entries.push(`<S${t} d="${d}"/>`);
    previousEnd = segment.startDts + d;
  }
  return entries.join('');
}

function representation(rendition: LiveRendition, segments: LiveSegment[], mediaStartSeconds: number, bandwidth: number, settings: LiveDashSettings): string {
  const initVersion = segments[segments.length - 1]!.initVersion;
  const track = rendition.trackOf(initVersion);
  const attributes =
    rendition.kind === 'video' ? ` width="${track.width}" height="${track.height}" sar="1:1"` : ` audioSamplingRate="${track.sampleRate}"`;
  const channels =
    rendition.kind === 'audio' ? `<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${track.channels}"/>` : '';
  // Chunks of a segment become available one part after it starts (DASH-IF IOP LL §9.X.4.5).
  const availabilityTimeOffset = Math.max(0, settings.segmentTargetSeconds - settings.partTargetSeconds).toFixed(3);
  // The media time at which the period begins, in this representation's timescale.
  const presentationTimeOffset = Math.round(mediaStartSeconds * track.timescale);
  return (
    `<Representation id="${rendition.id}" bandwidth="${bandwidth}" codecs="${track.codec}"${attributes}>${channels}` +
    `<SegmentTemplate timescale="${track.timescale}" presentationTimeOffset="${presentationTimeOffset}" initialization="${rendition.id}/${liveInitName(initVersion)}" media="${rendition.id}/seg-$Number$.m4s" startNumber="${segments[0]!.msn}" availabilityTimeOffset="${availabilityTimeOffset}" availabilityTimeComplete="false">` +
    `<SegmentTimeline>${timeline(rendition, segments, settings.segmentTargetSeconds)}</SegmentTimeline></SegmentTemplate></Representation>`
  );
}

/** A dynamic MPD (LL-DASH, DASH-IF IOP v5 low-latency) over the same CMAF chunks as LL-HLS. */
export function writeLiveMpd(broadcast: LiveBroadcast, settings: LiveDashSettings, now = Date.now()): string {
  const rates = risingBandwidths(broadcast.variants(), (v) => ({ peak: v.peakBandwidth, average: v.averageBandwidth }));
  const variants = new Map([...rates].map(([id, rate]) => [id, rate.peak]));
  const renditions = [...broadcast.renditions.values()].filter((r) => r.segments.length > 0);
  const runs = new Map(renditions.map((r) => [r, runsOf(r)]));
  const all = [...new Set([...runs.values()].flatMap((list) => list.map((run) => run.sequence)))].sort((a, b) => a - b);
  // A returning publisher's Period is listed once every rendition has media in it: a player
  // entering a Period of audio alone would never learn of the video that follows.
  const newest = all.at(-1);
  const sequences = all.filter((sequence) => sequence !== newest || renditions.every((r) => runs.get(r)!.some((run) => run.sequence === sequence)));
  const set = (kind: 'video' | 'audio', id: number, sequence: number, periodStart: number) => {
    const members = renditions.flatMap((r) => {
      const run = r.kind === kind ? runs.get(r)!.find((x) => x.sequence === sequence) : undefined;
      return run ? [{ rendition: r, segments: run.segments }] : [];
    });
    if (members.length === 0) return '';
    const mime = kind === 'video' ? 'video/mp4' : 'audio/mp4';
    const scheme = members[0]!.rendition.scheme;
    // Keys may rotate, so no default KID: players take KIDs from each init segment's pssh.
    const protection = scheme ? `<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${scheme}"/>${clearKeyContentProtection}` : '';
    return (
      `<AdaptationSet id="${id}" contentType="${kind}" mimeType="${mime}" segmentAlignment="true" startWithSAP="1">` +
      protection +
      members.map((m) => representation(m.rendition, m.segments, periodStart, variants.get(m.rendition.id) ?? 1, settings)).join('') +
      '</AdaptationSet>'
    );
  };
  // The broadcast timeline starts at 0 when its first sample arrived: that instant is the anchor.
  const availabilityStart = broadcast.timelineOriginMs ?? now;
  const ended = renditions.length > 0 && renditions.every((r) => r.isEnded);
  // A Period per publisher session in the window: a returning publisher may change the picture,
  // which in DASH needs a new Period (HLS marks it with EXT-X-DISCONTINUITY and a new EXT-X-MAP).
  // Media time continues across sessions but the wall clock jumped while the publisher was away:
  // a live Period starts where its session's own anchor puts it; an ended one follows the last.
  const periods = sequences.map((sequence) => {
    const [first, rendition] = renditions.flatMap((r) => runs.get(r)!.filter((run) => run.sequence === sequence).map((run) => [run.segments[0]!, r] as const))[0]!;
    const mediaStartMs = first.sessionStartMs;
    const sessionAnchorMs = first.pdtMs - (first.startDts * 1000) / rendition.track.timescale;
    const startMs = ended ? mediaStartMs : sessionAnchorMs + mediaStartMs - availabilityStart;
    const thumbnails = broadcast.thumbnails ? liveThumbnailAdaptationSet(broadcast.thumbnails, 2, mediaStartMs) : '';
    return `<Period id="${sequence}" start="${duration(Math.max(0, startMs) / 1000)}">${set('video', 0, sequence, mediaStartMs / 1000)}${set('audio', 1, sequence, mediaStartMs / 1000)}${thumbnails}</Period>`;
  });
  const targetLatencyMs = Math.round((3 * settings.partTargetSeconds + settings.segmentTargetSeconds / 2) * 1000);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD ${mpdNamespaces} profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019" type="${ended ? 'static' : 'dynamic'}"` +
      (ended
        ? ` mediaPresentationDuration="${duration(Math.max(0, ...renditions.map((r) => r.segments.reduce((s, x) => s + x.duration, 0) / r.track.timescale)))}"`
        : ` availabilityStartTime="${iso(availabilityStart)}" publishTime="${iso(now)}" minimumUpdatePeriod="PT${settings.segmentTargetSeconds}S" timeShiftBufferDepth="${duration(settings.windowSeconds)}" maxSegmentDuration="${duration(settings.segmentTargetSeconds * 2)}"`) +
      ` minBufferTime="${duration(settings.partTargetSeconds * 2)}">`,
    `<ServiceDescription id="0"><Latency referenceId="0" target="${targetLatencyMs}" min="${Math.round(targetLatencyMs / 2)}" max="${targetLatencyMs * 3}"/><PlaybackRate min="0.96" max="1.04"/></ServiceDescription>`,
    ...periods,
    `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="${settings.utcTimingUrl}"/>`,
    '</MPD>',
    '',
  ].join('\n');
}
