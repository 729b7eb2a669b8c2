import { BoxWriter } from './box-writer.js';
import type {
  Avc1,
  AvcC,
  Box,
  Btrt,
  Container,
  Dref,
  Elst,
  Esds,
  Frma,
  Pssh,
  Saio,
  Saiz,
  Schm,
  Senc,
  Tenc,
  Ftyp,
  Hdlr,
  Mdat,
  Mdhd,
  Mfhd,
  Mp4a,
  Mvhd,
  Pasp,
  RawBox,
  Stsd,
  Tfdt,
  Tfhd,
  Tkhd,
  Trex,
  Trun,
  Url,
} from './boxes.js';

/** Unity transform (§8.2.2): 16.16 and 2.30 fixed point. */
const unityMatrix = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000] as const;

function writeMatrix(w: BoxWriter): void {
  for (const value of unityMatrix) w.u32(value);
}

/** §4.3 / §8.16.2 */
export function writeFtyp(w: BoxWriter, box: Ftyp): void {
  w.box(box.type, () => {
    w.fourcc(box.majorBrand);
    w.u32(box.minorVersion);
    for (const brand of box.compatibleBrands) w.fourcc(brand);
  });
}

export function writeContainer(w: BoxWriter, box: Container): void {
  w.box(box.type, () => writeBoxList(w, box.boxes));
}

/** §8.2.2, version 0. */
export function writeMvhd(w: BoxWriter, box: Mvhd): void {
  w.fullBox('mvhd', 0, 0, () => {
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(box.timescale);
    w.u32(box.duration);
    w.u32(0x00010000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(2 + 8); // reserved
    writeMatrix(w);
    w.zeros(24); // pre_defined
    w.u32(box.nextTrackId);
  });
}

/** §8.3.2, version 0. */
export function writeTkhd(w: BoxWriter, box: Tkhd): void {
  w.fullBox('tkhd', 0, box.flags, () => {
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(box.trackId);
    w.u32(0); // reserved
    w.u32(box.duration);
    w.zeros(8); // reserved
    w.i16(0); // layer
    w.i16(0); // alternate_group
    w.u16(box.volume);
    w.u16(0); // reserved
    writeMatrix(w);
    w.u32(box.width * 0x10000);
    w.u32(box.height * 0x10000);
  });
}

/** §8.4.2, version 0; language packed as three 5-bit letters offset by 0x60. */
export function writeMdhd(w: BoxWriter, box: Mdhd): void {
  if (!/^[a-z]{3}$/.test(box.language)) {
    throw new RangeError(`mdhd language must be three lowercase letters, received ${JSON.stringify(box.language)}`);
  }
  w.fullBox('mdhd', 0, 0, () => {
    w.u32(0);
    w.u32(0);
    w.u32(box.timescale);
    w.u32(box.duration);
    const [a, b, c] = [...box.language].map((ch) => ch.charCodeAt(0) - 0x60) as [number, number, number];
    w.u16((a << 10) | (b << 5) | c);
    w.u16(0); // pre_defined
  });
}

/** §8.4.3 */
export function writeHdlr(w: BoxWriter, box: Hdlr): void {
  w.fullBox('hdlr', 0, 0, () => {
    w.u32(0); // pre_defined
    w.fourcc(box.handlerType);
    w.zeros(12); // reserved
    w.cstring(box.name);
  });
}

/** §12.1.2: flags 1 is required. */
export function writeVmhd(w: BoxWriter): void {
  w.fullBox('vmhd', 0, 1, () => {
    w.u16(0); // graphicsmode copy
    w.zeros(6); // opcolor
  });
}

/** §12.2.2 */
export function writeSmhd(w: BoxWriter): void {
  w.fullBox('smhd', 0, 0, () => {
    w.i16(0); // balance
    w.u16(0);
  });
}

/** §8.7.2 */
export function writeDref(w: BoxWriter, box: Dref): void {
  w.fullBox('dref', 0, 0, () => {
    w.u32(box.entries.length);
    writeBoxList(w, box.entries);
  });
}

/** §8.7.2: flag 1 means "media is in this file", with no location string. */
export function writeUrl(w: BoxWriter, box: Url): void {
  w.fullBox('url ', 0, box.flags, () => {});
}

/** §8.5.2 */
export function writeStsd(w: BoxWriter, box: Stsd): void {
  w.fullBox('stsd', 0, 0, () => {
    w.u32(box.entries.length);
    writeBoxList(w, box.entries);
  });
}

/** §8.5.2.2 SampleEntry header: six reserved bytes then data_reference_index. */
function writeSampleEntryHeader(w: BoxWriter, dataReferenceIndex: number): void {
  w.zeros(6);
  w.u16(dataReferenceIndex);
}

/** §12.1.3 VisualSampleEntry. */
export function writeAvc1(w: BoxWriter, box: Avc1): void {
  w.box(box.type, () => {
    writeSampleEntryHeader(w, box.dataReferenceIndex);
    w.u16(0); // pre_defined
    w.u16(0); // reserved
    w.zeros(12); // pre_defined
    w.u16(box.width);
    w.u16(box.height);
    w.u32(0x00480000); // 72 dpi
    w.u32(0x00480000);
    w.u32(0); // reserved
    w.u16(1); // frame_count
    const name = Buffer.from(box.compressorName, 'utf8').subarray(0, 31);
    w.u8(name.length);
    w.bytes(name);
    w.zeros(31 - name.length);
    w.u16(0x0018); // depth: colour, no alpha
    w.i16(-1); // pre_defined
    writeBoxList(w, box.boxes);
  });
}

/** 14496-15 §5.3.3 */
export function writeAvcC(w: BoxWriter, box: AvcC): void {
  w.box('avcC', () => w.bytes(box.record));
}

/** §12.1.4 */
export function writePasp(w: BoxWriter, box: Pasp): void {
  w.box('pasp', () => {
    w.u32(box.hSpacing);
    w.u32(box.vSpacing);
  });
}

/** §8.5.2.2 */
export function writeBtrt(w: BoxWriter, box: Btrt): void {
  w.box('btrt', () => {
    w.u32(box.bufferSizeDb);
    w.u32(box.maxBitrate);
    w.u32(box.avgBitrate);
  });
}

/** §12.2.3 AudioSampleEntry (version 0); samplerate is 16.16. */
export function writeMp4a(w: BoxWriter, box: Mp4a): void {
  w.box(box.type, () => {
    writeSampleEntryHeader(w, box.dataReferenceIndex);
    w.zeros(8); // reserved
    w.u16(box.channelCount);
    w.u16(box.sampleSize);
    w.u16(0); // pre_defined
    w.u16(0); // reserved
    w.u32(box.sampleRate * 0x10000);
    writeBoxList(w, box.boxes);
  });
}

/** 14496-1 §8.3.3: descriptor sizes below 128 take one byte. */
function writeDescriptor(w: BoxWriter, tag: number, body: BoxWriter): void {
  const bytes = body.finish();
  if (bytes.length > 0x0fffffff) throw new RangeError('descriptor larger than 2^28 bytes');
  w.u8(tag);
  const sizeBytes: number[] = [];
  let size = bytes.length;
  do {
    sizeBytes.unshift(size & 0x7f);
    size >>>= 7;
  } while (size > 0);
  sizeBytes.forEach((value, i) => w.u8(i < sizeBytes.length - 1 ? value | 0x80 : value));
  w.bytes(bytes);
}

/** 14496-14 §5.6: ES_Descriptor(3) ⊃ DecoderConfigDescriptor(4) ⊃ DecoderSpecificInfo(5), SLConfig(6). */
export function writeEsds(w: BoxWriter, box: Esds): void {
  w.fullBox('esds', 0, 0, () => {
    const decoderSpecific = new BoxWriter(64);
    decoderSpecific.bytes(box.decoderSpecificInfo);
    const decoderConfig = new BoxWriter(64);
    decoderConfig.u8(box.objectTypeIndication);
    decoderConfig.u8((0x05 << 2) | 1); // streamType audio, upStream 0, reserved 1
    decoderConfig.u24(box.bufferSizeDb);
    decoderConfig.u32(box.maxBitrate);
    decoderConfig.u32(box.avgBitrate);
    writeDescriptor(decoderConfig, 0x05, decoderSpecific);
    const slConfig = new BoxWriter(8);
    slConfig.u8(0x02); // predefined: MP4
    const es = new BoxWriter(64);
    es.u16(0); // ES_ID
    es.u8(0); // no dependency, URL or OCR stream
    writeDescriptor(es, 0x04, decoderConfig);
    writeDescriptor(es, 0x06, slConfig);
    writeDescriptor(w, 0x03, es);
  });
}

/** Empty tables for fragmented files: entry_count 0 (stsz also sample_size 0). */
export function writeEmptyTable(w: BoxWriter, type: 'stts' | 'stsc' | 'stco' | 'stsz'): void {
  w.fullBox(type, 0, 0, () => {
    if (type === 'stsz') w.u32(0); // sample_size
    w.u32(0);
  });
}

/** §8.8.3 */
export function writeTrex(w: BoxWriter, box: Trex): void {
  w.fullBox('trex', 0, 0, () => {
    w.u32(box.trackId);
    w.u32(box.defaultSampleDescriptionIndex);
    w.u32(box.defaultSampleDuration);
    w.u32(box.defaultSampleSize);
    w.u32(box.defaultSampleFlags);
  });
}

/** §8.8.5 */
export function writeMfhd(w: BoxWriter, box: Mfhd): void {
  w.fullBox('mfhd', 0, 0, () => w.u32(box.sequenceNumber));
}

export const tfhdFlags = {
  baseDataOffset: 0x000001,
  sampleDescriptionIndex: 0x000002,
  defaultSampleDuration: 0x000008,
  defaultSampleSize: 0x000010,
  defaultSampleFlags: 0x000020,
  durationIsEmpty: 0x010000,
  defaultBaseIsMoof: 0x020000,
} as const;

/** §8.8.7: flags follow from which optional fields are present. */
export function writeTfhd(w: BoxWriter, box: Tfhd): void {
  let flags = box.defaultBaseIsMoof ? tfhdFlags.defaultBaseIsMoof : 0;
  if (box.baseDataOffset !== undefined) flags |= tfhdFlags.baseDataOffset;
  if (box.sampleDescriptionIndex !== undefined) flags |= tfhdFlags.sampleDescriptionIndex;
  if (box.defaultSampleDuration !== undefined) flags |= tfhdFlags.defaultSampleDuration;
  if (box.defaultSampleSize !== undefined) flags |= tfhdFlags.defaultSampleSize;
  if (box.defaultSampleFlags !== undefined) flags |= tfhdFlags.defaultSampleFlags;
  w.fullBox('tfhd', 0, flags, () => {
    w.u32(box.trackId);
    if (box.baseDataOffset !== undefined) w.u64(box.baseDataOffset);
    if (box.sampleDescriptionIndex !== undefined) w.u32(box.sampleDescriptionIndex);
    if (box.defaultSampleDuration !== undefined) w.u32(box.defaultSampleDuration);
    if (box.defaultSampleSize !== undefined) w.u32(box.defaultSampleSize);
    if (box.defaultSampleFlags !== undefined) w.u32(box.defaultSampleFlags);
  });
}

/** §8.8.12, version 1 (64-bit time) always: long VOD and live timelines outgrow 32 bits. */
export function writeTfdt(w: BoxWriter, box: Tfdt): void {
  w.fullBox('tfdt', 1, 0, () => w.u64(box.baseMediaDecodeTime));
}

export const trunFlags = {
  dataOffset: 0x000001,
  firstSampleFlags: 0x000004,
  sampleDuration: 0x000100,
  sampleSize: 0x000200,
  sampleFlags: 0x000400,
  sampleCompositionTimeOffset: 0x000800,
} as const;

/** §8.8.8: per-sample fields are present for all samples or none, decided by the first. */
export function writeTrun(w: BoxWriter, box: Trun): void {
  const first = box.samples[0] ?? {};
  let flags = 0;
  if (box.dataOffset !== undefined) flags |= trunFlags.dataOffset;
  if (box.firstSampleFlags !== undefined) flags |= trunFlags.firstSampleFlags;
  if (first.duration !== undefined) flags |= trunFlags.sampleDuration;
  if (first.size !== undefined) flags |= trunFlags.sampleSize;
  if (first.flags !== undefined) flags |= trunFlags.sampleFlags;
  if (first.compositionTimeOffset !== undefined) flags |= trunFlags.sampleCompositionTimeOffset;
  w.fullBox('trun', box.version, flags, () => {
    w.u32(box.samples.length);
    if (box.dataOffset !== undefined) w.i32(box.dataOffset);
    if (box.firstSampleFlags !== undefined) w.u32(box.firstSampleFlags);
    box.samples.forEach((sample, index) => {
      const field = (name: keyof typeof sample, value: number | undefined): number => {
        if (value === undefined) throw new RangeError(`trun sample ${index} lacks ${name}, which sample 0 has`);
        return value;
      };
      if (flags & trunFlags.sampleDuration) w.u32(field('duration', sample.duration));
      if (flags & trunFlags.sampleSize) w.u32(field('size', sample.size));
      if (flags & trunFlags.sampleFlags) w.u32(field('flags', sample.flags));
      if (flags & trunFlags.sampleCompositionTimeOffset) {
        const offset = field('compositionTimeOffset', sample.compositionTimeOffset);
        if (box.version === 0 && offset < 0) throw new RangeError(`trun version 0 cannot hold negative offset ${offset}`);
        if (box.version === 0) w.u32(offset);
        else w.i32(offset);
      }
    });
  });
}

/** §8.6.6, version 1. */
export function writeElst(w: BoxWriter, box: Elst): void {
  w.fullBox('elst', 1, 0, () => {
    w.u32(box.entries.length);
    for (const entry of box.entries) {
      w.u64(entry.segmentDuration);
      w.i64(entry.mediaTime);
      w.i16(entry.rateInteger);
      w.i16(entry.rateFraction);
    }
  });
}

/** §8.1.1 */
export function writeMdat(w: BoxWriter, box: Mdat): void {
  w.box('mdat', () => w.bytes(box.data));
}

/** §8.12.2 */
export function writeFrma(w: BoxWriter, box: Frma): void {
  w.box('frma', () => w.fourcc(box.dataFormat));
}

/** §8.12.5 */
export function writeSchm(w: BoxWriter, box: Schm): void {
  w.fullBox('schm', 0, 0, () => {
    w.fourcc(box.schemeType);
    w.u32(box.schemeVersion);
  });
}

/** 23001-7 §8.2 */
export function writeTenc(w: BoxWriter, box: Tenc): void {
  if (box.kid.length !== 16) throw new RangeError(`tenc KID must be 16 bytes, received ${box.kid.length}`);
  w.fullBox('tenc', box.version, 0, () => {
    w.u8(0); // reserved
    w.u8(box.version === 0 ? 0 : ((box.cryptByteBlock & 0x0f) << 4) | (box.skipByteBlock & 0x0f));
    w.u8(box.isProtected);
    w.u8(box.perSampleIvSize);
    w.bytes(box.kid);
    if (box.isProtected === 1 && box.perSampleIvSize === 0) {
      if (!box.constantIv) throw new RangeError('tenc without a per-sample IV needs a constant IV');
      w.u8(box.constantIv.length);
      w.bytes(box.constantIv);
    }
  });
}

/** 23001-7 §8.1 */
export function writePssh(w: BoxWriter, box: Pssh): void {
  w.fullBox('pssh', box.version, 0, () => {
    w.bytes(box.systemId);
    if (box.version === 1) {
      w.u32(box.kids.length);
      for (const kid of box.kids) w.bytes(kid);
    }
    w.u32(box.data.length);
    w.bytes(box.data);
  });
}

/** 23001-7 §7.2 */
export function writeSenc(w: BoxWriter, box: Senc): void {
  w.fullBox('senc', 0, box.useSubsamples ? 0x2 : 0, () => {
    w.u32(box.samples.length);
    for (const sample of box.samples) {
      if (sample.iv.length !== box.ivSize) throw new RangeError(`senc IV must be ${box.ivSize} bytes, received ${sample.iv.length}`);
      w.bytes(sample.iv);
      if (box.useSubsamples) {
        w.u16(sample.subsamples.length);
        for (const sub of sample.subsamples) {
          w.u16(sub.clear);
          w.u32(sub.protected);
        }
      }
    }
  });
}

/** §8.7.8 */
export function writeSaiz(w: BoxWriter, box: Saiz): void {
  w.fullBox('saiz', 0, 0, () => {
    w.u8(box.defaultSize);
    w.u32(box.sampleCount);
    if (box.defaultSize === 0) for (const size of box.sizes) w.u8(size);
  });
}

/** §8.7.9 */
export function writeSaio(w: BoxWriter, box: Saio): void {
  w.fullBox('saio', 0, 0, () => {
    w.u32(box.offsets.length);
    for (const offset of box.offsets) w.u32(offset);
  });
}

export function writeRaw(w: BoxWriter, box: RawBox): void {
  w.box(box.fourcc, () => w.bytes(box.payload));
}

export function writeBox(w: BoxWriter, box: Box): void {
  switch (box.type) {
    case 'ftyp':
    case 'styp':
      return writeFtyp(w, box);
    case 'moov':
    case 'trak':
    case 'mdia':
    case 'minf':
    case 'dinf':
    case 'stbl':
    case 'mvex':
    case 'moof':
    case 'traf':
    case 'edts':
    case 'sinf':
    case 'schi':
      return writeContainer(w, box);
    case 'mvhd':
      return writeMvhd(w, box);
    case 'tkhd':
      return writeTkhd(w, box);
    case 'mdhd':
      return writeMdhd(w, box);
    case 'hdlr':
      return writeHdlr(w, box);
    case 'vmhd':
      return writeVmhd(w);
    case 'smhd':
      return writeSmhd(w);
    case 'dref':
      return writeDref(w, box);
    case 'url ':
      return writeUrl(w, box);
    case 'stsd':
      return writeStsd(w, box);
    case 'avc1':
    case 'avc3':
    case 'encv':
      return writeAvc1(w, box);
    case 'avcC':
      return writeAvcC(w, box);
    case 'pasp':
      return writePasp(w, box);
    case 'btrt':
      return writeBtrt(w, box);
    case 'mp4a':
    case 'enca':
      return writeMp4a(w, box);
    case 'esds':
      return writeEsds(w, box);
    case 'stts':
    case 'stsc':
    case 'stsz':
    case 'stco':
      return writeEmptyTable(w, box.type);
    case 'trex':
      return writeTrex(w, box);
    case 'mfhd':
      return writeMfhd(w, box);
    case 'tfhd':
      return writeTfhd(w, box);
    case 'tfdt':
      return writeTfdt(w, box);
    case 'trun':
      return writeTrun(w, box);
    case 'elst':
      return writeElst(w, box);
    case 'mdat':
      return writeMdat(w, box);
    case 'frma':
      return writeFrma(w, box);
    case 'schm':
      return writeSchm(w, box);
    case 'tenc':
      return writeTenc(w, box);
    case 'pssh':
      return writePssh(w, box);
    case 'senc':
      return writeSenc(w, box);
    case 'saiz':
      return writeSaiz(w, box);
    case 'saio':
      return writeSaio(w, box);
    case 'raw':
      return writeRaw(w, box);
  }
}

export function writeBoxList(w: BoxWriter, boxes: readonly Box[]): void {
  for (const box of boxes) writeBox(w, box);
}

/** Serializes boxes into one buffer. */
export function serializeBoxes(boxes: readonly Box[]): Uint8Array {
  const w = new BoxWriter();
  writeBoxList(w, boxes);
  return w.finish();
}
