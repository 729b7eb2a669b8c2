import { buildInitSegment } from '../cmaf/init-segment.js';
import { encodeFragment } from '../cmaf/fragment.js';
import type { Sample, TrackInfo } from '../media.js';
import type { LiveRendition, LiveSegment } from './rendition.js';

export type LiveTiming = {
  /** Target part duration in seconds; parts close within half a sample of it. */
  partTargetSeconds: number;
  /** Target segment duration in seconds; video segments also wait for a keyframe. */
  segmentTargetSeconds: number;
};

/**
 * Cuts one track into LL-HLS parts and segments as samples arrive. A part is published the
 * moment its last sample arrives (no look-ahead); a segment closes at the first independent
 * sample past its target, so video segments always open on a keyframe.
 */
export class LiveTrackPackager {
  private segment: LiveSegment | null = null;
  private pending: Sample[] = [];
  private pendingDuration = 0;
  private sequence = 1;
  private discontinuity = false;

  constructor(
    private readonly rendition: LiveRendition,
    private readonly timing: LiveTiming,
    private nextMsn = 0,
  ) {}

  /** A (new) decoder configuration: writes the init segment the following segments refer to. */
  setTrack(track: TrackInfo): void {
    if (this.segment) this.closeSegment();
    this.rendition.setInit(track, buildInitSegment(track));
  }

  /** The next segment starts a new publisher session (EXT-X-DISCONTINUITY). */
  markDiscontinuity(): void {
    if (this.segment) this.closeSegment();
    this.discontinuity = true;
  }

  /** The track this packager writes, once configured. */
  get track(): TrackInfo | null {
    return this.rendition.currentInitVersion >= 0 ? this.rendition.track : null;
  }

  push(sample: Sample, arrivalMs: number): void {
    const timescale = this.rendition.track.timescale;
    const half = sample.duration / 2;
    const segment = this.segment;
    if (!segment) {
      // Video starts on a keyframe; nothing before it can be decoded.
      if (this.rendition.kind === 'video' && !sample.isSync) return;
    } else {
      const elapsed = sample.dts - segment.startDts;
      const due = elapsed >= this.timing.segmentTargetSeconds * timescale - half;
      if (due && (sample.isSync || this.rendition.kind === 'audio')) this.closeSegment();
    }
    if (!this.segment) {
      this.segment = this.rendition.startSegment(this.nextMsn++, sample.dts, arrivalMs, this.discontinuity);
      this.discontinuity = false;
    }
    this.pending.push(sample);
    this.pendingDuration += sample.duration;
    if (this.pendingDuration >= this.timing.partTargetSeconds * timescale - half) this.flushPart();
  }

  private flushPart(): void {
    const segment = this.segment;
    if (!segment || this.pending.length === 0) return;
    const fragment = encodeFragment({ sequenceNumber: this.sequence++, samples: this.pending, withStyp: false });
    const bytes = Buffer.concat([fragment.header, ...fragment.payload]);
    const part = { index: segment.parts.length, duration: this.pendingDuration, independent: this.pending[0]!.isSync, bytes, completedAt: Date.now() };
    this.pending = [];
    this.pendingDuration = 0;
    this.rendition.addPart(segment, part);
  }

  private closeSegment(): void {
    this.flushPart();
    const segment = this.segment;
    this.segment = null;
    if (!segment) return;
    if (segment.parts.length === 0) {
      this.rendition.segments.pop();
      this.nextMsn--;
      return;
    }
    this.rendition.completeSegment(segment);
  }

  /** The publisher is gone: publish what is buffered and close the open segment. */
  flush(): void {
    this.closeSegment();
  }
}
