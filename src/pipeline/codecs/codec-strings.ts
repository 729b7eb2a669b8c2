/** RFC 6381 `codecs` values for the sample entries we package. */

const hex2 = (value: number): string => value.toString(16).padStart(2, '0');

/** `avc1.PPCCLL` from the profile, compatibility and level bytes of an AVCDecoderConfigurationRecord. */
export function avcCodecString(avcC: Uint8Array, entry = 'avc1'): string {
  if (avcC.length < 4) throw new RangeError(`avcC record is ${avcC.length} bytes, expected at least 4`);
  return `${entry}.${hex2(avcC[1]!)}${hex2(avcC[2]!)}${hex2(avcC[3]!)}`;
}

/** `mp4a.40.N` where N is the AudioSpecificConfig's audio object type (2 for AAC-LC). */
export function aacCodecString(audioSpecificConfig: Uint8Array): string {
  if (audioSpecificConfig.length < 1) throw new RangeError('AudioSpecificConfig is empty');
  let objectType = audioSpecificConfig[0]! >> 3;
  if (objectType === 31 && audioSpecificConfig.length >= 2) {
    objectType = 32 + (((audioSpecificConfig[0]! & 0x07) << 3) | (audioSpecificConfig[1]! >> 5));
  }
  return `mp4a.40.${objectType}`;
}
