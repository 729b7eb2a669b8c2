import { canSkipUntil, hintedPart, partHoldBack, partListingSeconds } from '../live/llhls-rules.js';
import type { LiveRendition, LiveSegment } from '../live/live-rendition.js';
import { sampleAesKeyTag } from './hls.js';
import { liveInitName, liveSegmentName, livePartName } from '../../layout.js';

export type LlHlsSettings = {
  /** Advertised EXT-X-PART-INF PART-TARGET, seconds; fixed for the life of a broadcast. */
  partTargetSeconds: number;
  /** Configured segment target; TARGETDURATION never goes below it. */
  segmentTargetSeconds: number;
};

export type RenditionReport = { uri: string; lastMsn: number; lastPart: number };

const seconds = (value: number): string => value.toFixed(3);

/**
 * TARGETDURATION: "EXTINF duration … rounded to the nearest integer MUST be ≤ the target
 * duration" (§4.4.3.1) and it MUST NOT change (§6.2.2): fixed when the stream is offered.
 */
export function targetDuration(rendition: LiveRendition, settings: LlHlsSettings): number {
  return rendition.targetSeconds ?? Math.max(Math.ceil(settings.segmentTargetSeconds), Math.round(rendition.maxSegmentSeconds));
}

/** Server-control values (RFC 8216bis §4.4.3.8), by the rules in llhls-rules.ts. */
export function serverControl(rendition: LiveRendition, settings: LlHlsSettings) {
  return { partHoldBack: partHoldBack(settings.partTargetSeconds), canSkipUntil: canSkipUntil(targetDuration(rendition, settings)) };
}

/**
 * An LL-HLS media playlist (RFC 8216bis): parts for the last three target durations, a preload
 * hint for the next part, program date-times from ingest wall-clock, and, when asked, a delta
 * update that replaces segments older than CAN-SKIP-UNTIL with EXT-X-SKIP.
 */
export function writeLlHlsPlaylist(rendition: LiveRendition, settings: LlHlsSettings, options: { skip: boolean; reports: RenditionReport[] }): string {
  const timescale = rendition.track.timescale;
  const target = targetDuration(rendition, settings);
  const control = serverControl(rendition, settings);
  const segments = rendition.segments;
  const first = segments[0];
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(control.partHoldBack)},CAN-SKIP-UNTIL=${seconds(control.canSkipUntil)}`,
    `#EXT-X-PART-INF:PART-TARGET=${seconds(settings.partTargetSeconds)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first?.msn ?? 0}`,
  ];
  if (rendition.discontinuitySequence > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${rendition.discontinuitySequence}`);

  // Distance of each segment's start from the playlist's end, for skipping and part listing.
  const total = segments.reduce((sum, s) => sum + s.duration, 0);
  let fromEnd = total;
  let skipped = 0;
  if (options.skip) {
    for (const segment of segments) {
      if (!segment.complete || fromEnd / timescale <= control.canSkipUntil) break;
      fromEnd -= segment.duration;
      skipped++;
    }
    // "The EXT-X-SKIP tag … SKIPPED-SEGMENTS … the number of Media Segments replaced" (§4.4.5.2).
    if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
  }

  let mapVersion = -1;
  let keyKid: string | null = null;
  const partWindow = partListingSeconds(target) * timescale;
  for (const segment of segments.slice(skipped)) {
    if (segment.discontinuity && segment !== first) lines.push('#EXT-X-DISCONTINUITY');
    if (segment.kid && segment.kid !== keyKid) {
      // A rotated key, signalled as for titles.
      lines.push(sampleAesKeyTag(rendition.scheme ?? 'cenc', Buffer.from(segment.kid, 'hex')));
      keyKid = segment.kid;
    }
    if (segment.initVersion !== mapVersion) {
      lines.push(`#EXT-X-MAP:URI="${liveInitName(segment.initVersion)}"`);
      mapVersion = segment.initVersion;
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.pdtMs).toISOString()}`);
    if (fromEnd <= partWindow) lines.push(...partLines(segment, timescale));
    fromEnd -= segment.duration;
    if (segment.complete) lines.push(`#EXTINF:${seconds(segment.duration / timescale)},`, liveSegmentName(segment.msn));
  }

  if (rendition.isEnded) {
    // An ended playlist has no live edge to report; ENDLIST closes the file, as players expect.
    lines.push('#EXT-X-ENDLIST', '');
    return lines.join('\n');
  }
  const next = hintedPart(rendition);
  if (next) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${livePartName(next.msn, next.part)}"`);
  for (const report of options.reports) {
    lines.push(`#EXT-X-RENDITION-REPORT:URI="${report.uri}",LAST-MSN=${report.lastMsn},LAST-PART=${report.lastPart}`);
  }
  lines.push('');
  return lines.join('\n');
}

function partLines(segment: LiveSegment, timescale: number): string[] {
  return segment.parts.map(
    (part) => `#EXT-X-PART:DURATION=${seconds(part.duration / timescale)},URI="${livePartName(segment.msn, part.index)}"${part.independent ? ',INDEPENDENT=YES' : ''}`,
  );
}
