import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import { parseAudioSpecificConfig } from '../codecs/aac.js';
import { videoLadder } from '../encode/ladder.js';
import type { VariantInfo } from '../manifest/hls.js';
import { segmentBandwidth } from '../manifest/packaged-rendition.js';
import type { MediaUnit, Sample, TrackInfo } from '../media.js';
import { aacTrack, avcTrack } from '../codecs/sample-entries.js';
import { LiveTrackPackager, type LiveProtection, type LiveTiming } from './packager.js';
import { LiveRendition, type LiveSegment } from './live-rendition.js';
import { MuxedLiveRendition } from './muxed-rendition.js';
import { LiveTranscoder } from './transcoder.js';
import { LiveThumbnails } from './thumbnails.js';
import type { ThumbnailCutter } from './thumbnail-cutter.js';

export const videoTimescale = 90_000;
/** The broadcast timeline, which every publisher session's units are placed on: 90 kHz ticks. */
const ticksPerSecond = 90_000;
const ticksPerMs = ticksPerSecond / 1000;

/** How video reaches the players: as the publisher sent it, or re-encoded into a ladder. */
export type BroadcastVideo = { mode: 'passthrough' } | { mode: 'ladder'; ffmpeg: string; preset: string };

export type CompletedLiveSegment = { renditionId: string; msn: number; bytes: Uint8Array; initVersion: number; init: Uint8Array | null };

export type BroadcastOptions = {
  video: BroadcastVideo;
  /** Encrypts every part (cenc or cbcs) with keys rotating by period; null for clear streams. */
  protection: LiveProtection | null;
  timing: LiveTiming;
  windowSeconds: number;
  /**
   * How HLS carries audio: inside each video rendition's fragments ('muxed', one playlist per
   * variant) or as its own rendition ('separate'). DASH always has the demuxed set. Protected
   * streams are always separate (their audio is encrypted as its own track).
   */
  hlsAudio: 'muxed' | 'separate';
  log: Logger;
  /** When set, every completed segment is also appended to `<dir>/<rendition>.mp4` (for live-to-VOD). */
  recordDir: string | null;
  /** Told of every completed segment with its init segment (to write it through to object storage); must not block. */
  onSegment?: (segment: CompletedLiveSegment) => void;
  /** Scrubbing thumbnails at the live edge: one `tileWidth`-wide tile every `intervalMs`; null for none. */
  thumbnails: { intervalMs: number; tileWidth: number; cut: ThumbnailCutter } | null;
  /** Called once, when every rendition has a complete segment: the stream can be offered. */
  onPlayable: () => void;
  /** Called when the publisher sends media we cannot package. */
  onUnsupported: (reason: string) => void;
};

type TrackState = {
  packager: LiveTrackPackager;
  rendition: LiveRendition;
  config: Uint8Array | null;
  /** Last decode time given out, in the track timescale. */
  lastDts: number | null;
  /** Estimated sample duration (video: last delta; audio: samples per frame). */
  duration: number;
  /** Audio only: decode time of the next frame by sample counting (a publisher clock coarser than the sample rate jitters). */
  nextAudioDts: number | null;
};

/** Common frame rates, as a publisher's frames per second are snapped to them (the nearest, within 0.5 %). */
const commonRates = [
  { num: 24000, den: 1001 }, { num: 24, den: 1 }, { num: 25, den: 1 }, { num: 30000, den: 1001 }, { num: 30, den: 1 },
  { num: 50, den: 1 }, { num: 60000, den: 1001 }, { num: 60, den: 1 },
] as const;

/** Frames per second over complete segments (FRAME-RATE of live variants); null before any. */
export function measuredFrameRate(segments: readonly Pick<LiveSegment, 'samples' | 'duration'>[], timescale: number): { num: number; den: number } | null {
  const frames = segments.reduce((sum, s) => sum + s.samples, 0);
  const ticks = segments.reduce((sum, s) => sum + s.duration, 0);
  if (frames === 0 || ticks === 0) return null;
  const fps = (frames * timescale) / ticks;
  const distance = (rate: { num: number; den: number }) => Math.abs(rate.num / rate.den - fps) / fps;
  const common = [...commonRates].sort((a, b) => distance(a) - distance(b))[0]!;
  if (distance(common) < 0.005) return { ...common };
  return { num: Math.round(fps * 1000), den: 1000 };
}

const sameBytes = (a: Uint8Array | null, b: Uint8Array): boolean => a !== null && a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * One broadcast of a live stream. Audio is always packaged as it arrives. Video is too in
 * passthrough mode; in ladder mode it goes through a live transcoder and each rendition's
 * output is packaged the same way. Reconnects within the window continue the same timeline,
 * marked as a discontinuity, so players and the recording see one continuous stream.
 */
export class LiveBroadcast {
  /** The demuxed CMAF renditions (DASH's set, and HLS's when audio is separate). */
  readonly renditions = new Map<string, LiveRendition>();
  /** HLS renditions of video with audio inside, by their own id (`<video id>-<audio id>`). */
  private readonly muxed = new Map<string, MuxedLiveRendition>();
  private readonly video: TrackState;
  private readonly audio: TrackState;
  private sessions = 0;
  /** Where the current publisher session starts on the broadcast timeline, and its first unit's own time (both in ticks). */
  private sessionOffset = 0;
  private sessionFirst: number | null = null;
  /** Wall clock minus broadcast time for the current publisher session: PDT = media time + offset. */
  private sessionAnchor: { offsetMs: number } | null = null;
  /** Wall-clock time of broadcast time 0 by the first session's anchor: LL-DASH availabilityStartTime. */
  timelineOriginMs: number | null = null;
  /** Ladder mode: the running transcoder, its renditions, and its output's time origin. */
  private transcoder: LiveTranscoder | null = null;
  private readonly ladder = new Map<string, { rendition: LiveRendition; packager: LiveTrackPackager }>();
  /** Ladder mode: the broadcast time of the transcoder's first input, its output's zero (ticks). */
  private transcoderOrigin = 0;
  private offered = false;
  /** Ladder mode: the rungs the transcoder was asked for, by id, with their target bitrates. */
  private readonly plannedRungs = new Map<string, number>();
  private refused = false;
  private recordQueue: Promise<void> = Promise.resolve();
  readonly startedAt = Date.now();
  /** Thumbnails of the publisher's keyframes, following the edge (null when switched off). */
  readonly thumbnails: LiveThumbnails | null;
  bytesIn = 0;
  lastMediaAt = Date.now();

  constructor(private readonly options: BroadcastOptions) {
    this.thumbnails = options.thumbnails && new LiveThumbnails({ ...options.thumbnails, windowSeconds: options.windowSeconds, log: options.log.child({ component: 'thumbnails' }) });
    this.video = this.trackState('v0', 'video');
    this.audio = this.trackState('a0', 'audio');
    if (options.video.mode === 'passthrough') this.muxVideo(this.video.rendition);
  }

  private get muxing(): boolean {
    return this.options.hlsAudio === 'muxed' && this.options.protection === null;
  }

  /** Muxed HLS: a rendition following this video rendition with the audio inside. */
  private muxVideo(video: LiveRendition): void {
    if (!this.muxing) return;
    const muxed = new MuxedLiveRendition(this.muxedIdOf(video.id), video, this.options.windowSeconds);
    if (this.audio.config) muxed.setAudioTrack(this.audio.rendition.track);
    this.muxed.set(muxed.rendition.id, muxed);
  }

  private muxedIdOf(videoId: string): string {
    return `${videoId}-${this.audio.rendition.id}`;
  }

  /** The renditions one HLS multivariant playlist lists: muxed variants once audio exists, or the demuxed set. */
  hlsRenditions(): LiveRendition[] {
    const demuxed = [...this.renditions.values()];
    const video = demuxed.filter((r) => r.kind === 'video');
    if (!this.muxing || !this.renditions.has(this.audio.rendition.id) || !video.every((r) => this.muxed.has(this.muxedIdOf(r.id)))) return demuxed;
    return video.map((r) => this.muxed.get(this.muxedIdOf(r.id))!.rendition);
  }

  /** Any rendition a media path may name (muxed ones included). */
  rendition(id: string): LiveRendition | undefined {
    return this.renditions.get(id) ?? this.muxed.get(id)?.rendition;
  }

  /** Every rendition, demuxed and muxed. */
  allRenditions(): LiveRendition[] {
    return [...this.renditions.values(), ...[...this.muxed.values()].map((m) => m.rendition)];
  }

  private trackState(id: string, kind: 'video' | 'audio'): TrackState {
    const placeholder: TrackInfo = { kind, timescale: kind === 'video' ? videoTimescale : 48_000, codec: '', sampleEntry: { type: 'raw', fourcc: 'none', payload: new Uint8Array() }, width: 0, height: 0, channels: 0, sampleRate: 0 };
    const rendition = new LiveRendition(id, kind, placeholder, this.options.windowSeconds);
    rendition.onSegmentComplete = (segment) => this.segmentCompleted(rendition, segment);
    const packager = new LiveTrackPackager(rendition, this.options.timing, 0, this.options.protection);
    return { packager, rendition, config: null, lastDts: null, duration: kind === 'video' ? 3000 : 1024, nextAudioDts: null };
  }

  /** A publisher (first or returning) begins sending. */
  startSession(): void {
    this.releaseHeldVideo(null); // the last frame belongs to the session before the discontinuity
    if (this.sessions > 0) {
      // Continue one frame after the furthest point either track reached, on a whole millisecond.
      const ends = [this.video, this.audio]
        .filter((t) => t.lastDts !== null)
        .map((t) => ((t.lastDts! + t.duration) * ticksPerSecond) / t.rendition.track.timescale);
      this.sessionOffset = (Math.ceil(Math.max(0, ...ends) / ticksPerMs) + 1) * ticksPerMs;
      for (const track of [this.video, this.audio]) track.packager.markDiscontinuity(this.sessionOffset / ticksPerMs);
      this.audio.nextAudioDts = null;
    }
    this.sessionFirst = null;
    this.sessionAnchor = null;
    this.ctoShift = null;
    this.stopTranscoder();
    for (const { packager } of this.ladder.values()) if (this.sessions > 0) packager.markDiscontinuity(this.sessionOffset / ticksPerMs);
    this.sessions++;
  }

  private stopTranscoder(): void {
    this.transcoder?.stop();
    this.transcoder = null;
    this.video.config = null; // the next session's configuration starts a new transcoder
  }

  /** The publisher went away: publish what is buffered. */
  endSession(): void {
    this.stopTranscoder();
    this.releaseHeldVideo(null);
    for (const packager of [this.video.packager, this.audio.packager, ...[...this.ladder.values()].map((l) => l.packager)]) {
      try {
        packager.flush();
      } catch (error) {
        this.options.log.error({ err: error }, 'flushing a live rendition failed');
      }
    }
  }

  /** The broadcast is over: players get EXT-X-ENDLIST and waiting requests are answered. */
  end(): Promise<void> {
    this.endSession();
    for (const rendition of new Set([this.video.rendition, this.audio.rendition, ...this.allRenditions()])) rendition.end();
    return Promise.all([this.recordQueue, this.thumbnails?.end()]).then(() => undefined);
  }

  /** One unit from the publisher, as it arrived. Never throws: a failure cuts the publisher. */
  ingest(unit: MediaUnit, arrivalMs: number): void {
    if (this.refused) return;
    try {
      this.ingestOrThrow(unit, arrivalMs);
    } catch (error) {
      this.refused = true;
      this.options.log.error({ err: error }, 'live packaging failed');
      this.options.onUnsupported(`live packaging failed: ${(error as Error).message}`);
    }
  }

  private ingestOrThrow(unit: MediaUnit, arrivalMs: number): void {
    if ('data' in unit) this.bytesIn += unit.data.length;
    if (this.options.video.mode === 'ladder' && (unit.kind === 'video' || unit.kind === 'video-config')) {
      this.feedLadder(unit, arrivalMs);
      return;
    }
    switch (unit.kind) {
      case 'unsupported':
        this.refused = true;
        this.options.onUnsupported(unit.reason);
        return;
      case 'video-config':
        this.configure(this.video, unit.avcC, () => avcTrack(unit.avcC, videoTimescale));
        return;
      case 'audio-config':
        this.configure(this.audio, unit.asc, () => aacTrack(unit.asc));
        return;
      case 'video':
        this.lastMediaAt = arrivalMs;
        if (!this.video.config) return;
        this.pushVideo(unit, arrivalMs);
        return;
      case 'audio':
        this.lastMediaAt = arrivalMs;
        if (!this.audio.config) return;
        this.pushAudio(unit, arrivalMs);
        return;
    }
  }

  private configure(track: TrackState, config: Uint8Array, build: () => TrackInfo): void {
    if (sameBytes(track.config, config)) return;
    let info: TrackInfo;
    try {
      info = build();
    } catch (error) {
      this.refused = true;
      this.options.onUnsupported(`the ${track.rendition.kind} decoder configuration cannot be read: ${(error as Error).message}`);
      return;
    }
    track.config = config;
    if (track.rendition.kind === 'audio') track.duration = parseAudioSpecificConfig(config).samplesPerFrame;
    track.packager.setTrack(info);
    if (!this.renditions.has(track.rendition.id)) this.renditions.set(track.rendition.id, track.rendition);
    if (track === this.audio) for (const muxed of this.muxed.values()) muxed.setAudioTrack(track.rendition.track);
  }

  /** A publisher time on the broadcast timeline, in ticks; the first unit of a session starts it. */
  private broadcastTicks(time: number, timescale: number, arrivalMs: number): number {
    const own = Math.round((time * ticksPerSecond) / timescale);
    this.sessionFirst ??= own;
    const ticks = own - this.sessionFirst + this.sessionOffset;
    const offsetMs = arrivalMs - ticks / ticksPerMs;
    if (!this.sessionAnchor) {
      this.sessionAnchor = { offsetMs };
      this.timelineOriginMs ??= offsetMs;
    } else if (!this.offered && offsetMs < this.sessionAnchor.offsetMs) {
      // An encoder starts in a burst: its first packets arrive late for their media time. Until
      // the stream is offered (nothing is visible yet), the anchor follows the packet that
      // arrived earliest for its time, closest to when it was captured.
      this.sessionAnchor.offsetMs = offsetMs;
      this.timelineOriginMs = offsetMs;
      this.restampProgramDateTimes();
    }
    return ticks;
  }

  /** Program date-time of a broadcast instant (ticks): the session's anchor plus media time. */
  private wallClockAt(ticks: number): number {
    const anchor = this.sessionAnchor;
    return anchor ? anchor.offsetMs + ticks / ticksPerMs : Date.now();
  }

  /** Before the stream is offered: the segments made so far take the improved anchor. */
  private restampProgramDateTimes(): void {
    for (const rendition of this.allRenditions()) {
      for (const segment of rendition.segments) segment.pdtMs = this.mediaWallClock(segment.startDts, rendition.track.timescale);
    }
    this.thumbnails?.restamp((ticks) => this.wallClockAt(ticks));
  }

  /** Ladder mode: start the transcoder on the first configuration, then feed it video from a keyframe. */
  private feedLadder(unit: Extract<MediaUnit, { kind: 'video' | 'video-config' }>, arrivalMs: number): void {
    if (unit.kind === 'video-config') {
      if (this.transcoder) return;
      let width: number;
      let height: number;
      try {
        ({ width, height } = avcTrack(unit.avcC, videoTimescale));
      } catch (error) {
        this.refused = true;
        this.options.onUnsupported(`the video decoder configuration cannot be read: ${(error as Error).message}`);
        return;
      }
      this.video.config = unit.avcC;
      this.pendingConfig = unit.avcC;
      this.startTranscoder(width, height);
      return;
    }
    this.lastMediaAt = arrivalMs;
    if (!this.transcoder) return;
    const ticks = this.broadcastTicks(unit.dts, unit.timescale, arrivalMs);
    if (this.pendingConfig) {
      if (!unit.keyframe) return; // the encoder's first input must be decodable
      this.transcoderOrigin = ticks;
      this.transcoder.writeConfig(this.pendingConfig);
      this.pendingConfig = null;
    }
    if (unit.keyframe) this.thumbnailOf(unit.data, ticks);
    const cto = Math.round(((unit.pts - unit.dts) * ticksPerSecond) / unit.timescale);
    this.transcoder.writeVideo({ dts: ticks - this.transcoderOrigin, cto, keyframe: unit.keyframe, data: unit.data }, ticksPerSecond);
  }

  /** A keyframe of the publisher's video at broadcast time `ticks` may become the next thumbnail. */
  private thumbnailOf(keyframe: Uint8Array, ticks: number): void {
    if (this.thumbnails && this.video.config) this.thumbnails.keyframe(this.video.config, keyframe, ticks, this.wallClockAt(ticks), this.sessionOffset / ticksPerMs);
  }

  private pendingConfig: Uint8Array | null = null;
  /** Passthrough: the newest video frame, until the next one gives its duration. */
  private heldVideo: Sample | null = null;
  /** Passthrough: the session's first keyframe composition offset, taken out of every frame. */
  private ctoShift: number | null = null;

  private startTranscoder(width: number, height: number): void {
    const video = this.options.video;
    if (video.mode !== 'ladder') return;
    const renditions = videoLadder(width, height, { num: 30, den: 1 });
    for (const rung of renditions) this.plannedRungs.set(rung.id, rung.bitrate);
    const log = this.options.log.child({ component: 'transcoder' });
    this.transcoder = new LiveTranscoder({
      ffmpeg: video.ffmpeg,
      preset: video.preset,
      segmentSeconds: this.options.timing.segmentTargetSeconds,
      renditions,
      log,
      output: {
        onTrack: (id, track) => {
          let entry = this.ladder.get(id);
          if (!entry) {
            const rendition = new LiveRendition(id, 'video', track, this.options.windowSeconds);
            rendition.onSegmentComplete = (segment) => this.segmentCompleted(rendition, segment);
            entry = { rendition, packager: new LiveTrackPackager(rendition, this.options.timing, 0, this.options.protection) };
            this.ladder.set(id, entry);
            this.renditions.set(id, rendition);
            this.muxVideo(rendition);
          }
          entry.packager.setTrack(track);
        },
        onSamples: (id, samples) => {
          const entry = this.ladder.get(id);
          if (!entry || this.refused) return;
          const timescale = entry.rendition.track.timescale;
          // ffmpeg's MP4 output starts at zero: put it back at the broadcast time it was fed.
          const origin = Math.round((this.transcoderOrigin * timescale) / ticksPerSecond);
          try {
            for (const sample of samples) {
              const shifted = { ...sample, dts: sample.dts + origin };
              this.push({ packager: entry.packager, rendition: entry.rendition }, shifted, this.mediaWallClock(shifted.dts, timescale));
            }
          } catch (error) {
            this.refused = true;
            log.error({ err: error }, 'live packaging failed');
            this.options.onUnsupported(`live packaging failed: ${(error as Error).message}`);
          }
        },
        onExit: (error) => {
          if (!error) return;
          log.error({ err: error.message }, 'live transcoder stopped');
          this.refused = true;
          this.options.onUnsupported(`the live transcoder stopped: ${error.message}`);
        },
      },
    });
    this.transcoder.start();
  }

  /**
   * Passthrough video. Each frame is held until the next arrives, so its duration is the real
   * gap to the next decode time and fragments stay contiguous (a one-frame delay). Decode times
   * move later by the session's first keyframe composition offset and offsets earlier by the
   * same, so presentation is unchanged and a segment's keyframe presents at its tfdt.
   */
  private pushVideo(unit: Extract<MediaUnit, { kind: 'video' }>, arrivalMs: number): void {
    const track = this.video;
    const { keyframe, data } = unit;
    const ticks = this.broadcastTicks(unit.dts, unit.timescale, arrivalMs);
    // Transport streams may carry media stamped before the session's first packet: it has no place.
    if (ticks < this.sessionOffset) return;
    const cto = Math.round(((unit.pts - unit.dts) * videoTimescale) / unit.timescale);
    if (this.ctoShift === null) {
      if (!keyframe) return; // nothing before the first keyframe can be decoded
      this.ctoShift = cto;
    }
    if (keyframe) this.thumbnailOf(data, ticks);
    let dts = Math.round((ticks * videoTimescale) / ticksPerSecond) + this.ctoShift;
    if (track.lastDts !== null && dts <= track.lastDts) dts = track.lastDts + 1; // decode times must rise
    track.lastDts = dts;
    const sample: Sample = { dts, duration: track.duration, cto: cto - this.ctoShift, isSync: keyframe, data };
    this.releaseHeldVideo(dts);
    this.heldVideo = sample;
  }

  /** Publishes the held frame, its duration measured up to `nextDts` (or estimated, at the end). */
  private releaseHeldVideo(nextDts: number | null): void {
    const held = this.heldVideo;
    if (!held) return;
    this.heldVideo = null;
    if (nextDts !== null) {
      held.duration = nextDts - held.dts;
      this.video.duration = held.duration;
    }
    this.push(this.video, held, this.mediaWallClock(held.dts, videoTimescale));
  }

  private pushAudio(unit: Extract<MediaUnit, { kind: 'audio' }>, arrivalMs: number): void {
    const track = this.audio;
    const { data } = unit;
    const rate = track.rendition.track.timescale;
    const ticks = this.broadcastTicks(unit.dts, unit.timescale, arrivalMs);
    if (ticks < this.sessionOffset) return;
    const measured = Math.round((ticks * rate) / ticksPerSecond);
    // Count samples for a steady clock where the publisher's clock is coarser than the sample
    // rate (FLV's milliseconds: 1024 samples at 48 kHz are 21.33 ms); jump only when it really moved.
    let dts = track.nextAudioDts ?? measured;
    if (Math.abs(measured - dts) > 2 * track.duration) dts = measured;
    if (track.lastDts !== null && dts <= track.lastDts) dts = track.lastDts + track.duration;
    track.nextAudioDts = dts + track.duration;
    track.lastDts = dts;
    const sample: Sample = { dts, duration: track.duration, cto: 0, isSync: true, data };
    this.push(track, sample, this.mediaWallClock(dts, rate));
    for (const muxed of this.muxed.values()) muxed.pushAudio(sample);
  }

  /**
   * Program date-time of a media instant: the session's anchor (see broadcastMs) plus media
   * time. Arrival times jitter and burst; media time does not, and audio and video (and HLS and
   * DASH, which both read it) share the one clock.
   */
  private mediaWallClock(dts: number, timescale: number): number {
    return this.wallClockAt((dts * ticksPerSecond) / timescale);
  }

  /** `wallMs`: the program date-time of the sample, from media time. */
  private push(track: Pick<TrackState, 'packager' | 'rendition'>, sample: Sample, wallMs: number): void {
    track.packager.push(sample, wallMs);
    if (!this.offered && this.everyRenditionHasASegment()) {
      this.offered = true;
      // What the publisher sent so far (its GOP) decides TARGETDURATION, before anyone reads it.
      for (const rendition of this.allRenditions()) rendition.fixTarget(this.options.timing.segmentTargetSeconds);
      this.options.onPlayable();
    }
  }

  /**
   * A stream is offered once every rendition it will list has a complete segment. Players read
   * the multivariant playlist once, so a rung missing then is missing for good; a playlist of
   * parts alone cannot cover PART-HOLD-BACK, and plain HLS clients (GStreamer, many set-top
   * boxes) refuse a playlist without one EXTINF.
   */
  private everyRenditionHasASegment(): boolean {
    const hasSegment = (rendition: LiveRendition | undefined) => rendition?.segments.some((s) => s.complete) ?? false;
    const video =
      this.options.video.mode === 'passthrough'
        ? [this.video.rendition]
        : [...this.plannedRungs.keys()].map((id) => this.ladder.get(id)?.rendition);
    if (video.length === 0 || !video.every(hasSegment)) return false;
    if (!this.renditions.has(this.audio.rendition.id)) return true;
    if (!hasSegment(this.audio.rendition)) return false;
    // Muxed variants begin with the first segment begun with audio known: one later, when audio came late.
    return !this.muxing || video.every((rendition) => hasSegment(this.muxed.get(this.muxedIdOf(rendition!.id))?.rendition));
  }

  /** Renditions as a multivariant playlist describes them; bandwidth from the recent segments. */
  variants(renditions: readonly LiveRendition[] = [...this.renditions.values()]): VariantInfo[] {
    return renditions.map((rendition) => {
      const complete = rendition.segments.filter((s) => s.complete).slice(-5);
      const timescale = rendition.track.timescale;
      const measured = segmentBandwidth(complete.map((s) => ({ bytes: s.bytes!.length, duration: s.duration })), timescale);
      // Until a segment is measured: a rung's configured rate (its encoder's maxrate is 1.2 × that),
      // so the ladder's bandwidths differ from the start; a passthrough track's is unknown.
      const videoId = this.muxed.get(rendition.id)?.videoId;
      const planned = this.plannedRungs.get(videoId ?? rendition.id);
      const audioAllowance = videoId !== undefined ? 128_000 : 0;
      const fallback = (planned !== undefined ? Math.round(planned * 1.2) : rendition.kind === 'video' ? 3_000_000 : 128_000) + audioAllowance;
      const peak = measured.peak;
      const average = measured.average || (planned ?? fallback);
      return {
        id: rendition.id,
        kind: rendition.kind,
        codec: rendition.track.codec,
        width: rendition.track.width,
        height: rendition.track.height,
        frameRate: rendition.kind === 'video' ? measuredFrameRate(complete, timescale) : null,
        channels: rendition.track.channels,
        peakBandwidth: peak || fallback,
        averageBandwidth: average,
      };
    });
  }

  private segmentCompleted(rendition: LiveRendition, segment: LiveSegment): void {
    if (rendition.overlongSegments > 0 && !this.warnedOverlong.has(rendition.id)) {
      this.warnedOverlong.add(rendition.id);
      this.options.log.warn({ renditionId: rendition.id, targetSeconds: rendition.targetSeconds }, 'the publisher lengthened its keyframe interval after going live: segments now exceed TARGETDURATION, which cannot change');
    }
    this.record(rendition, segment.bytes!);
    this.options.onSegment?.({ renditionId: rendition.id, msn: segment.msn, bytes: segment.bytes!, initVersion: segment.initVersion, init: rendition.init(segment.initVersion) ?? null });
  }

  /** Appends to the recording in order, off the ingest path. */
  private record(rendition: LiveRendition, segmentBytes: Uint8Array): void {
    const renditionId = rendition.id;
    const dir = this.options.recordDir;
    if (!dir) return;
    const init = rendition.init(rendition.currentInitVersion);
    const path = join(dir, `${renditionId}.mp4`);
    this.recordQueue = this.recordQueue
      .then(async () => {
        await mkdir(dir, { recursive: true });
        if (!this.recordedInit.has(renditionId) && init) {
          await appendFile(path, init);
          this.recordedInit.add(renditionId);
        }
        await appendFile(path, segmentBytes);
      })
      .catch((error: unknown) => this.options.log.error({ err: error, renditionId }, 'recording a live segment failed'));
  }

  private readonly recordedInit = new Set<string>();
  private readonly warnedOverlong = new Set<string>();
}
