import type { Box } from '../bmff/boxes.js';
import { parseAudioSpecificConfig } from './aac.js';
import { aacCodecString, avcCodecString } from './codec-strings.js';
import { parseAvcConfig, parseSpsDimensions } from './h264.js';
import type { TrackInfo } from '../media.js';

/** Track description for H.264 from its decoder configuration record, as a live ingest receives it. */
export function avcTrack(avcC: Uint8Array, timescale: number): TrackInfo {
  const config = parseAvcConfig(avcC);
  const { width, height } = parseSpsDimensions(config.sps[0]!);
  const sampleEntry: Box = {
    type: 'avc1',
    dataReferenceIndex: 1,
    width,
    height,
    compressorName: 'Weir',
    boxes: [{ type: 'avcC', record: Uint8Array.from(avcC) }],
  };
  return { kind: 'video', timescale, codec: avcCodecString(avcC), sampleEntry, width, height, channels: 0, sampleRate: 0 };
}

/** Track description for AAC from its AudioSpecificConfig; the timescale is the sample rate. */
export function aacTrack(asc: Uint8Array): TrackInfo {
  const config = parseAudioSpecificConfig(asc);
  const sampleEntry: Box = {
    type: 'mp4a',
    dataReferenceIndex: 1,
    channelCount: config.channels,
    sampleSize: 16,
    sampleRate: config.sampleRate,
    boxes: [{ type: 'esds', objectTypeIndication: 0x40, bufferSizeDb: 0, maxBitrate: 0, avgBitrate: 0, decoderSpecificInfo: Uint8Array.from(asc) }],
  };
  return { kind: 'audio', timescale: config.sampleRate, codec: aacCodecString(asc), sampleEntry, width: 0, height: 0, channels: config.channels, sampleRate: config.sampleRate };
}
