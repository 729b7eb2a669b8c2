import type { Box } from './bmff/boxes.js';

/** What the packager knows about one elementary stream. Times are in `timescale` units. */
export type TrackInfo = {
  kind: 'video' | 'audio';
  timescale: number;
  /** RFC 6381 codecs value, e.g. avc1.64001f or mp4a.40.2. */
  codec: string;
  /** The sample entry (avc1 or mp4a box) to describe the track in init segments. */
  sampleEntry: Box;
  width: number;
  height: number;
  channels: number;
  sampleRate: number;
  /**
   * Media time at which presentation starts (an edit list's media_time): AAC encoders prime
   * with samples that are decoded but not meant to be heard. Absent or 0: from the start.
   */
  mediaStart?: number;
};

/**
 * One access unit. `dts` is the decode time; `cto` the signed composition offset, so the
 * presentation time is dts + cto. Both integers in the track's timescale.
 */
export type Sample = {
  dts: number;
  duration: number;
  cto: number;
  isSync: boolean;
  data: Uint8Array;
};

/**
 * What a live publisher hands its broadcast, whatever the protocol (RTMP, SRT): decoder
 * configurations, then access units with integer times in the publisher's own `timescale`
 * (1000 for FLV's milliseconds, 90 000 for MPEG-TS). Video data is AVC length-prefixed NAL
 * units; audio data one raw AAC frame. The broadcast converts to its track timescales.
 */
export type MediaUnit =
  | { kind: 'video-config'; avcC: Uint8Array }
  | { kind: 'audio-config'; asc: Uint8Array }
  | { kind: 'video'; timescale: number; dts: number; pts: number; keyframe: boolean; data: Uint8Array }
  | { kind: 'audio'; timescale: number; dts: number; data: Uint8Array }
  | { kind: 'unsupported'; reason: string };
