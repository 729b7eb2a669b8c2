/**
 * FLV tag bodies as RTMP carries them (Adobe FLV spec v10.1 §E.4.2–E.4.3). node-media-server
 * reads the composition time unsigned and mislabels some packets, so bodies are parsed here.
 */
export type FlvMediaEvent =
  | { kind: 'video-config'; avcC: Uint8Array }
  | { kind: 'video'; dtsMs: number; ctsMs: number; keyframe: boolean; data: Uint8Array }
  | { kind: 'audio-config'; asc: Uint8Array }
  | { kind: 'audio'; dtsMs: number; data: Uint8Array }
  | { kind: 'end-of-sequence' }
  | { kind: 'ignored' }
  | { kind: 'unsupported'; reason: string };

export const flvTagType = { audio: 8, video: 9, script: 18 } as const;

const videoCodecNames: Record<number, string> = { 2: 'Sorenson H.263', 3: 'Screen video', 4: 'VP6', 5: 'VP6 alpha', 6: 'Screen video 2', 7: 'H.264', 12: 'HEVC (legacy)' };
const audioFormatNames: Record<number, string> = { 0: 'PCM', 1: 'ADPCM', 2: 'MP3', 3: 'PCM LE', 4: 'Nellymoser 16k', 5: 'Nellymoser 8k', 6: 'Nellymoser', 7: 'G.711 A-law', 8: 'G.711 mu-law', 10: 'AAC', 11: 'Speex', 14: 'MP3 8k' };

/** Reads a signed 24-bit big-endian integer. */
function int24(bytes: Uint8Array, at: number): number {
  const value = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
  return value & 0x800000 ? value - 0x1000000 : value;
}

/** Turns one FLV tag body (type 8 or 9) into a media event; copies what it keeps. */
export function parseFlvTag(tagType: number, timestampMs: number, body: Uint8Array): FlvMediaEvent {
  if (tagType === flvTagType.video) {
    if (body.length < 1) return { kind: 'ignored' };
    if (body[0]! & 0x80) return { kind: 'unsupported', reason: 'Enhanced RTMP video (HEVC, AV1, VP9) is not supported yet; send H.264' };
    const frameType = body[0]! >> 4;
    const codecId = body[0]! & 0x0f;
    if (codecId !== 7) return { kind: 'unsupported', reason: `video codec ${videoCodecNames[codecId] ?? `id ${codecId}`} is not supported; send H.264` };
    if (frameType === 5) return { kind: 'ignored' }; // video info / command frame
    if (body.length < 5) return { kind: 'ignored' };
    const packetType = body[1]!;
    if (packetType === 0) return { kind: 'video-config', avcC: Uint8Array.from(body.subarray(5)) };
    if (packetType === 2) return { kind: 'end-of-sequence' };
    if (packetType !== 1) return { kind: 'ignored' };
    return { kind: 'video', dtsMs: timestampMs, ctsMs: int24(body, 2), keyframe: frameType === 1, data: Uint8Array.from(body.subarray(5)) };
  }
  if (tagType === flvTagType.audio) {
    if (body.length < 2) return { kind: 'ignored' };
    const format = body[0]! >> 4;
    if (format !== 10) return { kind: 'unsupported', reason: `audio format ${audioFormatNames[format] ?? `id ${format}`} is not supported; send AAC` };
    if (body[1] === 0) return { kind: 'audio-config', asc: Uint8Array.from(body.subarray(2)) };
    return { kind: 'audio', dtsMs: timestampMs, data: Uint8Array.from(body.subarray(2)) };
  }
  return { kind: 'ignored' };
}
