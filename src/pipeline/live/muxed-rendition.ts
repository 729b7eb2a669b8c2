import { encodeFragment } from '../cmaf/fragment.js';
import { buildInitSegment, buildMuxedInitSegment } from '../cmaf/init-segment.js';
import type { Sample, TrackInfo } from '../media.js';
import { LiveRendition, type LivePart, type LiveSegment, type RenditionFollower } from './live-rendition.js';

const audioTrackId = 2;
/** Audio waiting for video (a publisher whose video stalls): about ten seconds at most. */
const maxQueuedAudio = 500;

/**
 * An HLS rendition that carries a video rendition's segments and parts with the audio of the
 * same moments inside them (one moof+mdat per track), so a player follows one playlist. With
 * audio in a playlist of its own, hls.js must load and align two playlists before it starts and
 * keep two blocking reloads in step at the edge: it started later and stalled where the video
 * playlist alone held steady (bench:live). DASH keeps the demuxed CMAF set; this rendition
 * mirrors the video one exactly (same media sequence numbers, parts, durations, program
 * date-times) from the first segment begun with audio known, adding only bytes.
 */
export class MuxedLiveRendition implements RenditionFollower {
  readonly rendition: LiveRendition;
  private videoTrack: TrackInfo | null = null;
  private audioTrack: TrackInfo | null = null;
  /** Whether the current init segment describes the audio track. */
  private initHasAudio = false;
  private queue: Sample[] = [];
  private sequence = 1;
  private current: { video: LiveSegment; muxed: LiveSegment } | null = null;

  constructor(
    id: string,
    private readonly video: LiveRendition,
    windowSeconds: number,
  ) {
    this.rendition = new LiveRendition(id, 'video', video.track, windowSeconds);
    video.follower = this;
  }

  /** The id of the video rendition this one follows. */
  get videoId(): string {
    return this.video.id;
  }

  /** The audio track (a new one applies from the next segment on). */
  setAudioTrack(track: TrackInfo): void {
    this.audioTrack = track;
    this.queue = [];
    if (this.videoTrack) this.writeInit();
  }

  pushAudio(sample: Sample): void {
    if (!this.audioTrack) return;
    if (this.queue.length >= maxQueuedAudio) this.queue.shift();
    this.queue.push(sample);
  }

  initChanged(track: TrackInfo): void {
    this.videoTrack = track;
    this.writeInit();
  }

  private writeInit(): void {
    const video = this.videoTrack!;
    const audio = this.audioTrack;
    this.initHasAudio = audio !== null;
    const track = audio ? { ...video, codec: `${video.codec},${audio.codec}` } : video;
    this.rendition.setInit(track, audio ? buildMuxedInitSegment(video, audio) : buildInitSegment(video));
  }

  segmentStarted(segment: LiveSegment): void {
    // A segment begun before any audio was known is left out: video alone, then video and audio
    // under a new init, is a change of tracks MSE players cannot follow (hls.js: "Attempting to
    // append to the audiovideo SourceBuffer, but it does not exist"). A publisher whose audio
    // reaches the demuxer a moment after its video (SRT or UDP joined mid-stream) starts so.
    if (!this.initHasAudio) {
      this.current = null;
      return;
    }
    const muxed = this.rendition.startSegment(segment.msn, segment.startDts, segment.pdtMs, segment.discontinuity, segment.sessionStartMs);
    this.current = { video: segment, muxed };
    // Audio that ends well before the segment's first frame belongs to nothing a player will see;
    // the frame just before it stays (encoders stamp their priming frame there).
    const rate = this.audioTrack?.timescale ?? 48_000;
    const startSeconds = segment.startDts / this.video.track.timescale;
    this.queue = this.queue.filter((sample) => (sample.dts + 2 * sample.duration) / rate > startSeconds);
  }

  partAdded(segment: LiveSegment, part: LivePart): void {
    const current = this.current;
    if (current?.video !== segment) return;
    const audio = this.queue.splice(0);
    let bytes = part.bytes;
    if (audio.length > 0) {
      const fragment = encodeFragment({ sequenceNumber: this.sequence++, samples: audio, withStyp: false, trackId: audioTrackId });
      bytes = Buffer.concat([part.bytes, fragment.header, ...fragment.payload]);
    }
    current.muxed.samples = segment.samples; // frames, for FRAME-RATE
    this.rendition.addPart(current.muxed, { ...part, bytes });
  }

  segmentCompleted(segment: LiveSegment): void {
    if (this.current?.video !== segment) return;
    this.rendition.completeSegment(this.current.muxed);
    this.current = null;
  }

  segmentAbandoned(segment: LiveSegment): void {
    if (this.current?.video !== segment) return;
    this.rendition.abandonSegment(this.current.muxed);
    this.current = null;
  }
}
