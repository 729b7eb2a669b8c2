/**
 * FLV tag bodies as RTMP carries them (Adobe FLV spec v10.1 §E.4.2–E.4.3), as media units in
 * milliseconds. node-media-server reads the composition time unsigned and mislabels some
 * packets, so bodies are parsed here.
 */
import type { MediaUnit } from '../media.js';

export const flvTagType = { audio: 8, video: 9, script: 18 } as const;

const videoCodecNames: Record<number, string> = { 2: 'Sorenson H.263', 3: 'Screen video', 4: 'VP6', 5: 'VP6 alpha', 6: 'Screen video 2', 7: 'H.264', 12: 'HEVC (legacy)' };
const audioFormatNames: Record<number, string> = { 0: 'PCM', 1: 'ADPCM', 2: 'MP3', 3: 'PCM LE', 4: 'Nellymoser 16k', 5: 'Nellymoser 8k', 6: 'Nellymoser', 7: 'G.711 A-law', 8: 'G.711 mu-law', 10: 'AAC', 11: 'Speex', 14: 'MP3 8k' };

/** Reads a signed 24-bit big-endian integer. */
function int24(bytes: Uint8Array, at: number): number {
  const value = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
  return value & 0x800000 ? value - 0x1000000 : value;
}

const flvTimescale = 1000;

/** One FLV tag body (type 8 or 9) as a media unit, copied out of the body; null for what carries no media. */
export function flvTagToUnit(tagType: number, timestampMs: number, body: Uint8Array): MediaUnit | null {
  if (tagType === flvTagType.video) {
    if (body.length < 1) return null;
    if (body[0]! & 0x80) return { kind: 'unsupported', reason: 'Enhanced RTMP video (HEVC, AV1, VP9) is not supported yet; send H.264' };
    const frameType = body[0]! >> 4;
    const codecId = body[0]! & 0x0f;
    if (codecId !== 7) return { kind: 'unsupported', reason: `video codec ${videoCodecNames[codecId] ?? `id ${codecId}`} is not supported; send H.264` };
    if (frameType === 5) return null; // video info / command frame
    if (body.length < 5) return null;
    const packetType = body[1]!;
    if (packetType === 0) return { kind: 'video-config', avcC: Uint8Array.from(body.subarray(5)) };
    // packetType 2 (end of sequence) and others carry no frame.
    if (packetType !== 1) return null;
    return { kind: 'video', timescale: flvTimescale, dts: timestampMs, pts: timestampMs + int24(body, 2), keyframe: frameType === 1, data: Uint8Array.from(body.subarray(5)) };
  }
  if (tagType === flvTagType.audio) {
    if (body.length < 2) return null;
    const format = body[0]! >> 4;
    if (format !== 10) return { kind: 'unsupported', reason: `audio format ${audioFormatNames[format] ?? `id ${format}`} is not supported; send AAC` };
    if (body[1] === 0) return { kind: 'audio-config', asc: Uint8Array.from(body.subarray(2)) };
    return { kind: 'audio', timescale: flvTimescale, dts: timestampMs, data: Uint8Array.from(body.subarray(2)) };
  }
  return null;
}
