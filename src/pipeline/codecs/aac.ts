/** Sampling frequencies by index (ISO/IEC 14496-3 §1.6.3.4). */
const samplingFrequencies = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350] as const;

export type AacConfig = { objectType: number; sampleRate: number; channels: number; samplesPerFrame: number };

/** Parses the start of an AudioSpecificConfig (§1.6.2.1): object type, sample rate, channels. */
export function parseAudioSpecificConfig(asc: Uint8Array): AacConfig {
  if (asc.length < 2) throw new RangeError(`AudioSpecificConfig needs at least 2 bytes, received ${asc.length}`);
  const objectType = asc[0]! >> 3;
  const frequencyIndex = ((asc[0]! & 0x07) << 1) | (asc[1]! >> 7);
  let sampleRate: number;
  let channelConfig: number;
  if (frequencyIndex === 15) {
    if (asc.length < 5) throw new RangeError('AudioSpecificConfig with an explicit rate needs 5 bytes');
    sampleRate = ((asc[1]! & 0x7f) << 17) | (asc[2]! << 9) | (asc[3]! << 1) | (asc[4]! >> 7);
    channelConfig = (asc[4]! >> 3) & 0x0f;
  } else {
    const rate = samplingFrequencies[frequencyIndex];
    if (rate === undefined) throw new RangeError(`AudioSpecificConfig has reserved sampling index ${frequencyIndex}`);
    sampleRate = rate;
    channelConfig = (asc[1]! >> 3) & 0x0f;
  }
  const frameLengthFlag = frequencyIndex === 15 ? 0 : (asc[1]! >> 2) & 1;
  return { objectType, sampleRate, channels: channelConfig === 7 ? 8 : channelConfig, samplesPerFrame: frameLengthFlag ? 960 : 1024 };
}
