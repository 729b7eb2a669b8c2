import { BitReader } from './bit-reader.js';

export type AvcConfig = {
  profile: number;
  compatibility: number;
  level: number;
  /** Bytes per NAL length prefix in samples (1, 2 or 4). */
  nalLengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
};

/** Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1). */
export function parseAvcConfig(record: Uint8Array): AvcConfig {
  if (record.length < 7 || record[0] !== 1) {
    throw new RangeError(`not an AVCDecoderConfigurationRecord: ${record.length} bytes, version ${record[0]}`);
  }
  const nalLengthSize = (record[4]! & 0x03) + 1;
  // Byte 5 holds the SPS count; the first SPS length follows it.
  let offset = 6;
  const read = (count: number): Uint8Array[] => {
    const units: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const length = (record[offset]! << 8) | record[offset + 1]!;
      offset += 2;
      if (offset + length > record.length) throw new RangeError('parameter set runs past the end of the avcC record');
      units.push(record.subarray(offset, offset + length));
      offset += length;
    }
    return units;
  };
  const sps = read(record[5]! & 0x1f);
  const pps = read(record[offset++] ?? 0);
  if (sps.length === 0) throw new RangeError('avcC record holds no SPS');
  return { profile: record[1]!, compatibility: record[2]!, level: record[3]!, nalLengthSize, sps, pps };
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00), §7.4.1. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let length = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out[length++] = byte;
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, length);
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** The coded picture size from a sequence parameter set (§7.3.2.1.1), cropping applied. */
export function parseSpsDimensions(spsNal: Uint8Array): { width: number; height: number } {
  const r = new BitReader(unescapeRbsp(spsNal.subarray(1)));
  const profile = r.u(8);
  r.u(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  let chromaFormat = 1;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    chromaFormat = r.ue();
    if (chromaFormat === 3) r.u(1); // separate_colour_plane_flag
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.u(1); // qpprime_y_zero_transform_bypass_flag
    if (r.flag()) {
      for (let i = 0; i < (chromaFormat !== 3 ? 8 : 12); i++) if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.u(1);
    r.se();
    r.se();
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1;
  const heightInMapUnits = r.ue() + 1;
  const frameMbsOnly = r.u(1);
  if (!frameMbsOnly) r.u(1); // mb_adaptive_frame_field_flag
  r.u(1); // direct_8x8_inference_flag
  let crop = { left: 0, right: 0, top: 0, bottom: 0 };
  if (r.flag()) crop = { left: r.ue(), right: r.ue(), top: r.ue(), bottom: r.ue() };
  const cropUnitX = chromaFormat === 0 || chromaFormat === 3 ? 1 : 2;
  const cropUnitY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return {
    width: widthInMbs * 16 - cropUnitX * (crop.left + crop.right),
    height: (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (crop.top + crop.bottom),
  };
}
