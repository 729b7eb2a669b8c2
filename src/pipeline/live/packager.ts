import { buildInitSegment } from '../cmaf/init-segment.js';
import { protectTrack, psshBoxes, SampleEncryptor, type CencScheme, type SourcedKey } from '../cmaf/encrypt.js';
import { encodeFragment } from '../cmaf/fragment.js';
import type { Sample, TrackInfo } from '../media.js';
import type { LiveRendition, LiveSegment } from './live-rendition.js';

export type LiveTiming = {
  /** Part target in seconds (EXT-X-PART-INF PART-TARGET): no part is longer. */
  partTargetSeconds: number;
  /** Target segment duration in seconds; video segments also wait for a keyframe. */
  segmentTargetSeconds: number;
};

/** Live encryption: the key of each period is prepared ahead, since parts are cut on the ingest path. */
export type LiveProtection = {
  scheme: CencScheme;
  /** A new key every this many segments; 0 keeps one key. */
  rotationSegments: number;
  keyFor(period: number): SourcedKey | undefined;
  /** Told when a period begins, so the key after it can be prepared. */
  onPeriod(period: number): void;
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
  private sessionStartMs = 0;
  private clearTrack: TrackInfo | null = null;
  private period = -1;
  private encryptor: SampleEncryptor | null = null;

  constructor(
    private readonly rendition: LiveRendition,
    private readonly timing: LiveTiming,
    private nextMsn = 0,
    private readonly protection: LiveProtection | null = null,
  ) {}

  /** A (new) decoder configuration: writes the init segment the following segments refer to. */
  setTrack(track: TrackInfo): void {
    if (this.segment) this.closeSegment();
    this.clearTrack = track;
    this.writeInit(this.protection ? this.keyOf(Math.max(0, this.period)) : null);
  }

  private keyOf(period: number): SourcedKey {
    const key = this.protection!.keyFor(period);
    // Never publish clear media on a protected stream: without its key the stream cannot go on.
    if (!key) throw new Error(`the key of period ${period} is not ready`);
    return key;
  }

  /** Init for the current key: protected entries with tenc's KID and the pssh boxes, or clear. */
  private writeInit(key: SourcedKey | null): void {
    const track = this.clearTrack!;
    if (!key || !this.protection) {
      this.rendition.setInit(track, buildInitSegment(track));
      return;
    }
    const protectedTrack = protectTrack(track, this.protection.scheme, key);
    this.rendition.setInit(protectedTrack, buildInitSegment(protectedTrack, psshBoxes(key, key.pssh)));
    this.rendition.currentKid = Buffer.from(key.kid).toString('hex');
    this.rendition.scheme = this.protection.scheme;
    this.encryptor = new SampleEncryptor(this.protection.scheme, key, track.kind);
  }

  /** At a segment boundary: switch keys when a new rotation period begins. */
  private enterPeriodFor(msn: number): void {
    if (!this.protection || !this.clearTrack) return;
    const period = this.protection.rotationSegments > 0 ? Math.floor(msn / this.protection.rotationSegments) : 0;
    if (period === this.period) return;
    if (this.period >= 0 || !this.encryptor) this.writeInit(this.keyOf(period));
    this.period = period;
    this.protection.onPeriod(period);
  }

  /** The next segment starts a new publisher session (EXT-X-DISCONTINUITY) at broadcast time `sessionStartMs`. */
  markDiscontinuity(sessionStartMs: number): void {
    if (this.segment) this.closeSegment();
    this.discontinuity = true;
    this.sessionStartMs = sessionStartMs;
  }

  /** The track this packager writes, once configured. */
  get track(): TrackInfo | null {
    return this.rendition.currentInitVersion >= 0 ? this.rendition.track : null;
  }

  push(sample: Sample, wallMs: number): void {
    const timescale = this.rendition.track.timescale;
    const half = sample.duration / 2;
    const partTarget = Math.round(this.timing.partTargetSeconds * timescale);
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
      this.enterPeriodFor(this.nextMsn);
      this.segment = this.rendition.startSegment(this.nextMsn++, sample.dts, wallMs, this.discontinuity, this.sessionStartMs);
      this.discontinuity = false;
    }
    // A part never outgrows PART-TARGET (advertised exactly), and every keyframe opens a part, so
    // players find an INDEPENDENT part at each one rather than only where parts happened to align.
    if (this.pending.length > 0 && (this.pendingDuration + sample.duration > partTarget || (sample.isSync && this.rendition.kind === 'video'))) this.flushPart();
    this.pending.push(sample);
    this.segment.samples++;
    this.pendingDuration += sample.duration;
    if (this.pendingDuration >= partTarget - half) this.flushPart();
  }

  private flushPart(): void {
    const segment = this.segment;
    if (!segment || this.pending.length === 0) return;
    const encrypted = this.encryptor?.encrypt(this.pending);
    const fragment = encodeFragment({
      sequenceNumber: this.sequence++,
      samples: encrypted?.samples ?? this.pending,
      // A segment is its parts joined: its first part opens with the segment type box.
      withStyp: segment.parts.length === 0,
      protection: encrypted ? { ivSize: encrypted.ivSize, aux: encrypted.aux } : undefined,
    });
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
      this.rendition.abandonSegment(segment);
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
