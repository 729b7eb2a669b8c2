/**
 * One type per ISO-BMFF box we write or read, each with its literal FourCC. Clause numbers are
 * ISO/IEC 14496-12 (ISOBMFF) unless noted; 14496-15 for avcC, 14496-14 for esds.
 * 32-bit fields are numbers; 64-bit fields are bigint.
 */

/** §4.3 FileTypeBox and §8.16.2 SegmentTypeBox share one layout. */
export type Ftyp = { type: 'ftyp' | 'styp'; majorBrand: string; minorVersion: number; compatibleBrands: string[] };

/** Plain containers: their payload is only child boxes. */
export const containerTypes = ['moov', 'trak', 'mdia', 'minf', 'dinf', 'stbl', 'mvex', 'moof', 'traf', 'edts', 'sinf', 'schi'] as const;
export type ContainerType = (typeof containerTypes)[number];
/** One member per container FourCC, so narrowing on `type` picks exactly one. */
export type Container = { [K in ContainerType]: { type: K; boxes: Box[] } }[ContainerType];

/** §8.2.2 MovieHeaderBox (written as version 0). */
export type Mvhd = { type: 'mvhd'; timescale: number; duration: number; nextTrackId: number };

/** §8.3.2 TrackHeaderBox (version 0); width and height in whole pixels (stored 16.16). */
export type Tkhd = {
  type: 'tkhd';
  flags: number;
  trackId: number;
  duration: number;
  volume: number;
  width: number;
  height: number;
};

/** §8.4.2 MediaHeaderBox (version 0); language is ISO-639-2/T, e.g. 'und'. */
export type Mdhd = { type: 'mdhd'; timescale: number; duration: number; language: string };

/** §8.4.3 HandlerBox. */
export type Hdlr = { type: 'hdlr'; handlerType: string; name: string };

/** §12.1.2 VideoMediaHeaderBox and §12.2.2 SoundMediaHeaderBox. */
export type Vmhd = { type: 'vmhd' };
export type Smhd = { type: 'smhd' };

/** §8.7.2 DataReferenceBox with its self-contained 'url ' entry. */
export type Dref = { type: 'dref'; entries: Box[] };
export type Url = { type: 'url '; flags: number };

/** §8.5.2 SampleDescriptionBox. */
export type Stsd = { type: 'stsd'; entries: Box[] };

/** §12.1.3 VisualSampleEntry as 'avc1' (14496-15 §5.4.2), or 'encv' when protected (23001-7 §4.1). */
export type Avc1 = {
  type: 'avc1' | 'avc3' | 'encv';
  dataReferenceIndex: number;
  width: number;
  height: number;
  compressorName: string;
  boxes: Box[];
};

/** 14496-15 §5.3.3 AVCDecoderConfigurationRecord, kept as its bytes. */
export type AvcC = { type: 'avcC'; record: Uint8Array };

/** §12.1.4 PixelAspectRatioBox. */
export type Pasp = { type: 'pasp'; hSpacing: number; vSpacing: number };

/** §8.5.2.2 BitRateBox. */
export type Btrt = { type: 'btrt'; bufferSizeDb: number; maxBitrate: number; avgBitrate: number };

/** §12.2.3 AudioSampleEntry as 'mp4a' (14496-14 §5.6). */
export type Mp4a = {
  type: 'mp4a' | 'enca';
  dataReferenceIndex: number;
  channelCount: number;
  sampleSize: number;
  sampleRate: number;
  boxes: Box[];
};

/** 14496-14 §5.6 ESDBox: an ES_Descriptor whose DecoderSpecificInfo is the AudioSpecificConfig. */
export type Esds = {
  type: 'esds';
  objectTypeIndication: number;
  bufferSizeDb: number;
  maxBitrate: number;
  avgBitrate: number;
  decoderSpecificInfo: Uint8Array;
};

/** Empty sample tables of a fragmented file's init segment (§8.6.1.2, §8.7.4, §8.7.3, §8.7.5). */
export type Stts = { type: 'stts' };
export type Stsc = { type: 'stsc' };
export type Stsz = { type: 'stsz' };
export type Stco = { type: 'stco' };

/** §8.8.3 TrackExtendsBox. */
export type Trex = {
  type: 'trex';
  trackId: number;
  defaultSampleDescriptionIndex: number;
  defaultSampleDuration: number;
  defaultSampleSize: number;
  defaultSampleFlags: number;
};

/** §8.8.5 MovieFragmentHeaderBox. */
export type Mfhd = { type: 'mfhd'; sequenceNumber: number };

/** §8.8.7 TrackFragmentHeaderBox; each optional field present sets its flag. */
export type Tfhd = {
  type: 'tfhd';
  trackId: number;
  defaultBaseIsMoof: boolean;
  baseDataOffset?: bigint;
  sampleDescriptionIndex?: number;
  defaultSampleDuration?: number;
  defaultSampleSize?: number;
  defaultSampleFlags?: number;
};

/** §8.8.12 TrackFragmentBaseMediaDecodeTimeBox (written as version 1). */
export type Tfdt = { type: 'tfdt'; baseMediaDecodeTime: bigint };

/** One row of a trun; a field present on the first sample must be present on all. */
export type TrunSample = { duration?: number; size?: number; flags?: number; compositionTimeOffset?: number };

/** §8.8.8 TrackRunBox; version 1 makes composition offsets signed (CMAF prefers it). */
export type Trun = {
  type: 'trun';
  version: 0 | 1;
  dataOffset?: number;
  firstSampleFlags?: number;
  samples: TrunSample[];
};

/** §8.8.2-like edit list (§8.6.6). */
export type Elst = {
  type: 'elst';
  entries: { segmentDuration: bigint; mediaTime: bigint; rateInteger: number; rateFraction: number }[];
};

/** §8.1.1 MediaDataBox. */
export type Mdat = { type: 'mdat'; data: Uint8Array };

/** §8.12.2 OriginalFormatBox. */
export type Frma = { type: 'frma'; dataFormat: string };

/** §8.12.5 SchemeTypeBox: 'cenc' or 'cbcs', version 0x00010000 (23001-7 §4.2). */
export type Schm = { type: 'schm'; schemeType: string; schemeVersion: number };

/**
 * ISO/IEC 23001-7 §8.2 TrackEncryptionBox. Version 1 carries the pattern (cbcs); a zero
 * per-sample IV size means a constant IV follows.
 */
export type Tenc = {
  type: 'tenc';
  version: 0 | 1;
  cryptByteBlock: number;
  skipByteBlock: number;
  isProtected: number;
  perSampleIvSize: number;
  kid: Uint8Array;
  constantIv: Uint8Array | null;
};

/** 23001-7 §8.1 ProtectionSystemSpecificHeaderBox (version 1 lists KIDs). */
export type Pssh = { type: 'pssh'; version: 0 | 1; systemId: Uint8Array; kids: Uint8Array[]; data: Uint8Array };

export type Subsample = { clear: number; protected: number };

/** 23001-7 §7.2 SampleEncryptionBox; flag 2 means subsamples are listed. */
export type Senc = { type: 'senc'; ivSize: number; useSubsamples: boolean; samples: { iv: Uint8Array; subsamples: Subsample[] }[] };

/** §8.7.8 SampleAuxiliaryInformationSizesBox (no aux_info_type). */
export type Saiz = { type: 'saiz'; defaultSize: number; sizes: number[]; sampleCount: number };

/** §8.7.9 SampleAuxiliaryInformationOffsetsBox (version 0, one offset). */
export type Saio = { type: 'saio'; offsets: number[] };

/** Any box we do not model, kept as its payload so it can be written back unchanged. */
export type RawBox = { type: 'raw'; fourcc: string; payload: Uint8Array };

export type Box =
  | Ftyp
  | Container
  | Mvhd
  | Tkhd
  | Mdhd
  | Hdlr
  | Vmhd
  | Smhd
  | Dref
  | Url
  | Stsd
  | Avc1
  | AvcC
  | Pasp
  | Btrt
  | Mp4a
  | Esds
  | Stts
  | Stsc
  | Stsz
  | Stco
  | Trex
  | Mfhd
  | Tfhd
  | Tfdt
  | Trun
  | Elst
  | Mdat
  | Frma
  | Schm
  | Tenc
  | Pssh
  | Senc
  | Saiz
  | Saio
  | RawBox;

/** Sample flags (§8.8.3.1) for a sync sample and for a sample that depends on others. */
export const sampleFlags = {
  sync: 0x02000000,
  nonSync: 0x01010000,
} as const;

export function isSyncSampleFlags(flags: number): boolean {
  return (flags & 0x00010000) === 0;
}

/** Finds the first box of a type in a list, descending into containers. */
export function findBox<T extends Box['type']>(boxes: readonly Box[], type: T): Extract<Box, { type: T }> | undefined {
  for (const box of boxes) {
    if (box.type === type) return box as Extract<Box, { type: T }>;
    const children = childBoxes(box);
    if (children) {
      const found = findBox(children, type);
      if (found) return found;
    }
  }
  return undefined;
}

/** All boxes of a type among direct children. */
export function filterBoxes<T extends Box['type']>(boxes: readonly Box[], type: T): Extract<Box, { type: T }>[] {
  return boxes.filter((box): box is Extract<Box, { type: T }> => box.type === type);
}

export function childBoxes(box: Box): Box[] | undefined {
  if ('boxes' in box) return box.boxes;
  if (box.type === 'stsd' || box.type === 'dref') return box.entries;
  return undefined;
}
