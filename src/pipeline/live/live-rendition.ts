import type { TrackInfo } from '../media.js';
import { lastPart, reached, type PlaylistPosition } from './llhls-rules.js';

/** A CMAF chunk published as an LL-HLS part: one moof+mdat. */
export type LivePart = {
  index: number;
  duration: number;
  independent: boolean;
  bytes: Uint8Array;
  /** Epoch ms at which the part was complete (for measuring how fast waiting requests are answered). */
  completedAt: number;
};

export type LiveSegment = {
  msn: number;
  startDts: number;
  /** Program date-time (epoch ms) of its first sample: the session's anchor plus media time. */
  pdtMs: number;
  parts: LivePart[];
  duration: number;
  /** Samples (frames) in the segment so far. */
  samples: number;
  complete: boolean;
  /** Broadcast time (ms) at which this segment's publisher session began: its DASH Period's start. */
  sessionStartMs: number;
  /** A new publisher session begins here (EXT-X-DISCONTINUITY). */
  discontinuity: boolean;
  initVersion: number;
  /** Protected streams: the KID (hex) its samples are encrypted with. */
  kid: string | null;
  /** The whole segment, joined once when it completes (served and recorded from here). */
  bytes: Uint8Array | null;
};

export type { PlaylistPosition };

type Waiter = { ready: () => boolean; wake: () => void };

/** Told of each change to a rendition's media, in order (a muxed rendition follows its video this way). */
export type RenditionFollower = {
  initChanged(track: TrackInfo): void;
  segmentStarted(segment: LiveSegment): void;
  partAdded(segment: LiveSegment, part: LivePart): void;
  segmentCompleted(segment: LiveSegment): void;
  segmentAbandoned(segment: LiveSegment): void;
};

/**
 * One live rendition: its init segments, the sliding window of segments and parts, and the
 * requests waiting for parts that do not exist yet. Waiters are woken when a part completes
 * (never polled); each check is a comparison, so thousands of them cost microseconds.
 */
export class LiveRendition {
  readonly segments: LiveSegment[] = [];
  /** Init segments by version, with the track each describes (older periods keep theirs). */
  private readonly inits = new Map<number, { bytes: Uint8Array; track: TrackInfo }>();
  private readonly waiters = new Set<Waiter>();
  private initVersion = -1;
  private ended = false;
  /** Largest complete segment duration seen, in seconds: TARGETDURATION is its ceiling. */
  maxSegmentSeconds = 0;
  /**
   * TARGETDURATION, fixed when the stream is offered (RFC 8216 §6.2.2: it MUST NOT change);
   * null before. A later segment longer than it is published as it is and counted here.
   */
  targetSeconds: number | null = null;
  overlongSegments = 0;
  /** EXT-X-DISCONTINUITY-SEQUENCE: discontinuities that slid out of the window. */
  discontinuitySequence = 0;
  /** The KID new segments are encrypted with (null when clear), and the scheme. */
  currentKid: string | null = null;
  scheme: 'cenc' | 'cbcs' | null = null;
  /** Bumped on every change a playlist can show: playlists are cached by it. */
  version = 0;
  /** Parts published, and those that came later than half a part again after the one before (ingest or packaging ran behind). */
  partsPublished = 0;
  lateParts = 0;
  /** Called after each part or segment completes, for recording and live events. */
  onSegmentComplete: ((segment: LiveSegment) => void) | null = null;
  follower: RenditionFollower | null = null;

  constructor(
    readonly id: string,
    readonly kind: 'video' | 'audio',
    public track: TrackInfo,
    private readonly windowSeconds: number,
  ) {}

  get isEnded(): boolean {
    return this.ended;
  }

  get currentInitVersion(): number {
    return this.initVersion;
  }

  setInit(track: TrackInfo, bytes: Uint8Array): number {
    this.track = track;
    this.initVersion++;
    this.inits.set(this.initVersion, { bytes, track });
    this.version++; // the track (size, codec) shows in manifests
    this.follower?.initChanged(track);
    return this.initVersion;
  }

  init(version: number): Uint8Array | undefined {
    return this.inits.get(version)?.bytes;
  }

  /** The track an init segment describes (its picture size, codec): older periods keep theirs. */
  trackOf(version: number): TrackInfo {
    return this.inits.get(version)?.track ?? this.track;
  }

  /** The segment being produced, if any. */
  get open(): LiveSegment | undefined {
    const last = this.segments[this.segments.length - 1];
    return last && !last.complete ? last : undefined;
  }

  startSegment(msn: number, startDts: number, pdtMs: number, discontinuity: boolean, sessionStartMs = 0): LiveSegment {
    const segment: LiveSegment = { msn, startDts, pdtMs, parts: [], duration: 0, samples: 0, complete: false, discontinuity, sessionStartMs, initVersion: this.initVersion, kid: this.currentKid, bytes: null };
    this.segments.push(segment);
    this.follower?.segmentStarted(segment);
    return segment;
  }

  /** The open segment received no part (its media went elsewhere): it never existed. */
  abandonSegment(segment: LiveSegment): void {
    if (this.segments[this.segments.length - 1] !== segment) return;
    this.segments.pop();
    this.follower?.segmentAbandoned(segment);
  }

  addPart(segment: LiveSegment, part: LivePart): void {
    const previous = segment.parts.at(-1) ?? this.segments.at(-2)?.parts.at(-1);
    this.partsPublished++;
    if (previous && part.completedAt - previous.completedAt > 1.5 * ((part.duration * 1000) / this.track.timescale)) this.lateParts++;
    segment.parts.push(part);
    segment.duration += part.duration;
    this.follower?.partAdded(segment, part);
    this.notify();
  }

  completeSegment(segment: LiveSegment): void {
    segment.complete = true;
    const whole = Buffer.concat(segment.parts.map((p) => p.bytes));
    segment.bytes = whole;
    // Each part becomes a view into the whole segment, so the window holds its media once, not
    // twice (parts and segment), and the parts' own buffers are freed.
    let offset = 0;
    for (const part of segment.parts) {
      const length = part.bytes.byteLength;
      part.bytes = whole.subarray(offset, offset + length);
      offset += length;
    }
    this.maxSegmentSeconds = Math.max(this.maxSegmentSeconds, segment.duration / this.track.timescale);
    if (this.targetSeconds !== null && Math.round(segment.duration / this.track.timescale) > this.targetSeconds) this.overlongSegments++;
    this.trim();
    this.onSegmentComplete?.(segment);
    this.follower?.segmentCompleted(segment);
    this.notify();
  }

  /** Fixes TARGETDURATION from the segments so far: the publisher's GOP decides it, once. */
  fixTarget(configuredSeconds: number): void {
    this.targetSeconds ??= Math.max(Math.ceil(configuredSeconds), Math.round(this.maxSegmentSeconds));
  }

  /** The broadcast is over: every waiter is answered with what exists. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  private trim(): void {
    const timescale = this.track.timescale;
    let total = this.segments.reduce((sum, s) => sum + s.duration, 0) / timescale;
    while (this.segments.length > 1 && total - this.segments[0]!.duration / timescale >= this.windowSeconds) {
      const dropped = this.segments.shift()!;
      total -= dropped.duration / timescale;
      if (this.segments[0]?.discontinuity) this.discontinuitySequence++;
    }
    const oldest = this.segments[0]?.initVersion ?? this.initVersion;
    for (const version of this.inits.keys()) if (version < oldest) this.inits.delete(version);
  }

  private notify(): void {
    this.version++;
    for (const waiter of this.waiters) {
      if (this.ended || waiter.ready()) {
        this.waiters.delete(waiter);
        waiter.wake();
      }
    }
  }

  segment(msn: number): LiveSegment | undefined {
    const first = this.segments[0];
    if (!first) return undefined;
    return this.segments[msn - first.msn];
  }

  /** The last complete part: the playlist's newest position. */
  lastPosition(): { msn: number; part: number } | null {
    return lastPart(this);
  }

  /** Whether a playlist answering `_HLS_msn`/`_HLS_part` can be produced now. */
  reached(position: PlaylistPosition): boolean {
    return reached(this, position);
  }

  waitFor(position: PlaylistPosition, timeoutMs: number, signal?: AbortSignal): Promise<'ready' | 'ended' | 'timeout'> {
    if (this.reached(position)) return Promise.resolve('ready');
    if (this.ended) return Promise.resolve('ended');
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout;
      const waiter: Waiter = {
        ready: () => this.reached(position),
        wake: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(this.ended && !this.reached(position) ? 'ended' : 'ready');
        },
      };
      const onAbort = () => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve('timeout');
      };
      timer = setTimeout(onAbort, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Resolves when part `index` of segment `msn` exists (for preload hints and chunked DASH). */
  waitForPart(msn: number, index: number, timeoutMs: number, signal?: AbortSignal): Promise<LivePart | undefined> {
    return this.waitFor({ msn, part: index }, timeoutMs, signal).then(() => this.segment(msn)?.parts[index]);
  }

  get waiting(): number {
    return this.waiters.size;
  }
}
