import { containerTypes, type Box, type ContainerType, type TrunSample } from './boxes.js';
import { tfhdFlags, trunFlags } from './write.js';

export class BoxParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BoxParseError';
  }
}

/** A bounds-checked big-endian cursor over bytes. */
export class BoxReader {
  private offset: number;
  private readonly view: Buffer;

  constructor(bytes: Uint8Array, offset = 0, private readonly end = bytes.length) {
    this.view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private take(bytes: number): number {
    if (this.offset + bytes > this.end) {
      throw new BoxParseError(`needed ${bytes} bytes at offset ${this.offset}, only ${this.end - this.offset} remain`);
    }
    const at = this.offset;
    this.offset += bytes;
    return at;
  }

  u8(): number {
    return this.view.readUInt8(this.take(1));
  }
  u16(): number {
    return this.view.readUInt16BE(this.take(2));
  }
  i16(): number {
    return this.view.readInt16BE(this.take(2));
  }
  u24(): number {
    const at = this.take(3);
    return (this.view.readUInt16BE(at) << 8) | this.view.readUInt8(at + 2);
  }
  u32(): number {
    return this.view.readUInt32BE(this.take(4));
  }
  i32(): number {
    return this.view.readInt32BE(this.take(4));
  }
  u64(): bigint {
    return this.view.readBigUInt64BE(this.take(8));
  }
  i64(): bigint {
    return this.view.readBigInt64BE(this.take(8));
  }
  fourcc(): string {
    const at = this.take(4);
    return this.view.toString('latin1', at, at + 4);
  }
  bytes(count: number): Uint8Array {
    const at = this.take(count);
    return this.view.subarray(at, at + count);
  }
  skip(count: number): void {
    this.take(count);
  }
  cstring(): string {
    const start = this.offset;
    let end = start;
    while (end < this.end && this.view[end] !== 0) end++;
    const text = this.view.toString('utf8', start, end);
    this.offset = Math.min(end + 1, this.end);
    return text;
  }
  /** A sub-reader over the next `count` bytes; this reader moves past them. */
  sub(count: number): BoxReader {
    const at = this.take(count);
    return new BoxReader(this.view, at, at + count);
  }
}

export type BoxHeader = { type: string; size: number; headerSize: number };

/** Reads a box header (§4.2): 32-bit size, or 1 then a 64-bit size, or 0 for "to the end". */
export function readBoxHeader(r: BoxReader): BoxHeader {
  const size32 = r.u32();
  const type = r.fourcc();
  if (size32 === 1) {
    const size = Number(r.u64());
    return { type, size, headerSize: 16 };
  }
  if (size32 === 0) return { type, size: r.remaining + 8, headerSize: 8 };
  if (size32 < 8) throw new BoxParseError(`box ${JSON.stringify(type)} declares size ${size32}, less than its header`);
  return { type, size: size32, headerSize: 8 };
}

function readFullBoxHeader(r: BoxReader): { version: number; flags: number } {
  const version = r.u8();
  const flags = r.u24();
  return { version, flags };
}

function isContainer(type: string): type is ContainerType {
  return (containerTypes as readonly string[]).includes(type);
}

function readDescriptor(r: BoxReader): { tag: number; body: BoxReader } {
  const tag = r.u8();
  let size = 0;
  for (let i = 0; i < 4; i++) {
    const byte = r.u8();
    size = (size << 7) | (byte & 0x7f);
    if ((byte & 0x80) === 0) break;
  }
  return { tag, body: r.sub(size) };
}

function readEsdsBody(r: BoxReader): Box {
  readFullBoxHeader(r);
  const es = readDescriptor(r);
  if (es.tag !== 0x03) throw new BoxParseError(`esds must open with ES_Descriptor (tag 3), found tag ${es.tag}`);
  const body = es.body;
  body.u16(); // ES_ID
  const flags = body.u8();
  if (flags & 0x80) body.u16(); // dependsOn_ES_ID
  if (flags & 0x40) body.skip(body.u8()); // URL
  if (flags & 0x20) body.u16(); // OCR_ES_Id
  while (body.remaining > 0) {
    const descriptor = readDescriptor(body);
    if (descriptor.tag !== 0x04) continue;
    const config = descriptor.body;
    const objectTypeIndication = config.u8();
    config.u8(); // streamType, upStream
    const bufferSizeDb = config.u24();
    const maxBitrate = config.u32();
    const avgBitrate = config.u32();
    let decoderSpecificInfo: Uint8Array = new Uint8Array(0);
    while (config.remaining > 0) {
      const inner = readDescriptor(config);
      if (inner.tag === 0x05) decoderSpecificInfo = Uint8Array.from(inner.body.bytes(inner.body.remaining));
    }
    return { type: 'esds', objectTypeIndication, bufferSizeDb, maxBitrate, avgBitrate, decoderSpecificInfo };
  }
  throw new BoxParseError('esds has no DecoderConfigDescriptor (tag 4)');
}

function readBoxBody(type: string, r: BoxReader): Box {
  if (isContainer(type)) return { type, boxes: readBoxList(r) };
  switch (type) {
    case 'ftyp':
    case 'styp': {
      const majorBrand = r.fourcc();
      const minorVersion = r.u32();
      const compatibleBrands: string[] = [];
      while (r.remaining >= 4) compatibleBrands.push(r.fourcc());
      return { type, majorBrand, minorVersion, compatibleBrands };
    }
    case 'mvhd': {
      const { version } = readFullBoxHeader(r);
      if (version === 1) r.skip(16);
      else r.skip(8);
      const timescale = r.u32();
      const duration = version === 1 ? Number(r.u64()) : r.u32();
      r.skip(4 + 2 + 10 + 36 + 24);
      return { type, timescale, duration, nextTrackId: r.u32() };
    }
    case 'tkhd': {
      const { version, flags } = readFullBoxHeader(r);
      r.skip(version === 1 ? 16 : 8);
      const trackId = r.u32();
      r.skip(4);
      const duration = version === 1 ? Number(r.u64()) : r.u32();
      r.skip(8 + 2 + 2);
      const volume = r.u16();
      r.skip(2 + 36);
      const width = Math.round(r.u32() / 0x10000);
      const height = Math.round(r.u32() / 0x10000);
      return { type, flags, trackId, duration, volume, width, height };
    }
    case 'mdhd': {
      const { version } = readFullBoxHeader(r);
      r.skip(version === 1 ? 16 : 8);
      const timescale = r.u32();
      const duration = version === 1 ? Number(r.u64()) : r.u32();
      const packed = r.u16();
      const language = [10, 5, 0].map((shift) => String.fromCharCode(((packed >> shift) & 0x1f) + 0x60)).join('');
      return { type, timescale, duration, language };
    }
    case 'hdlr': {
      readFullBoxHeader(r);
      r.skip(4);
      const handlerType = r.fourcc();
      r.skip(12);
      return { type, handlerType, name: r.remaining > 0 ? r.cstring() : '' };
    }
    case 'vmhd':
    case 'smhd':
    case 'stts':
    case 'stsc':
    case 'stsz':
    case 'stco':
      return { type };
    case 'dref':
    case 'stsd': {
      readFullBoxHeader(r);
      r.u32(); // entry_count: the children that follow are the truth
      return { type, entries: readBoxList(r) };
    }
    case 'url ':
      return { type, flags: readFullBoxHeader(r).flags };
    case 'avc1':
    case 'avc3':
    case 'encv': {
      r.skip(6);
      const dataReferenceIndex = r.u16();
      r.skip(16);
      const width = r.u16();
      const height = r.u16();
      r.skip(14);
      const nameLength = Math.min(r.u8(), 31);
      const nameBytes = r.bytes(31);
      const compressorName = Buffer.from(nameBytes.subarray(0, nameLength)).toString('utf8');
      r.skip(4);
      return { type, dataReferenceIndex, width, height, compressorName, boxes: readBoxList(r) };
    }
    case 'avcC':
      return { type, record: Uint8Array.from(r.bytes(r.remaining)) };
    case 'pasp':
      return { type, hSpacing: r.u32(), vSpacing: r.u32() };
    case 'btrt':
      return { type, bufferSizeDb: r.u32(), maxBitrate: r.u32(), avgBitrate: r.u32() };
    case 'mp4a':
    case 'enca': {
      r.skip(6);
      const dataReferenceIndex = r.u16();
      r.skip(8);
      const channelCount = r.u16();
      const sampleSize = r.u16();
      r.skip(4);
      const sampleRate = r.u32() >>> 16;
      return { type, dataReferenceIndex, channelCount, sampleSize, sampleRate, boxes: readBoxList(r) };
    }
    case 'esds':
      return readEsdsBody(r);
    case 'trex': {
      readFullBoxHeader(r);
      return {
        type,
        trackId: r.u32(),
        defaultSampleDescriptionIndex: r.u32(),
        defaultSampleDuration: r.u32(),
        defaultSampleSize: r.u32(),
        defaultSampleFlags: r.u32(),
      };
    }
    case 'mfhd':
      readFullBoxHeader(r);
      return { type, sequenceNumber: r.u32() };
    case 'tfhd': {
      const { flags } = readFullBoxHeader(r);
      const box: Box = { type, trackId: r.u32(), defaultBaseIsMoof: (flags & tfhdFlags.defaultBaseIsMoof) !== 0 };
      if (flags & tfhdFlags.baseDataOffset) box.baseDataOffset = r.u64();
      if (flags & tfhdFlags.sampleDescriptionIndex) box.sampleDescriptionIndex = r.u32();
      if (flags & tfhdFlags.defaultSampleDuration) box.defaultSampleDuration = r.u32();
      if (flags & tfhdFlags.defaultSampleSize) box.defaultSampleSize = r.u32();
      if (flags & tfhdFlags.defaultSampleFlags) box.defaultSampleFlags = r.u32();
      return box;
    }
    case 'tfdt': {
      const { version } = readFullBoxHeader(r);
      return { type, baseMediaDecodeTime: version === 1 ? r.u64() : BigInt(r.u32()) };
    }
    case 'trun': {
      const { version, flags } = readFullBoxHeader(r);
      const count = r.u32();
      const box: Box = { type, version: version === 1 ? 1 : 0, samples: [] };
      if (flags & trunFlags.dataOffset) box.dataOffset = r.i32();
      if (flags & trunFlags.firstSampleFlags) box.firstSampleFlags = r.u32();
      const perSample =
        (flags & trunFlags.sampleDuration ? 4 : 0) +
        (flags & trunFlags.sampleSize ? 4 : 0) +
        (flags & trunFlags.sampleFlags ? 4 : 0) +
        (flags & trunFlags.sampleCompositionTimeOffset ? 4 : 0);
      if (perSample * count > r.remaining) {
        throw new BoxParseError(`trun declares ${count} samples, more than its ${r.remaining} bytes hold`);
      }
      for (let i = 0; i < count; i++) {
        const sample: TrunSample = {};
        if (flags & trunFlags.sampleDuration) sample.duration = r.u32();
        if (flags & trunFlags.sampleSize) sample.size = r.u32();
        if (flags & trunFlags.sampleFlags) sample.flags = r.u32();
        if (flags & trunFlags.sampleCompositionTimeOffset) sample.compositionTimeOffset = version === 1 ? r.i32() : r.u32();
        box.samples.push(sample);
      }
      return box;
    }
    case 'elst': {
      const { version } = readFullBoxHeader(r);
      const count = r.u32();
      const entries = [];
      for (let i = 0; i < count; i++) {
        const segmentDuration = version === 1 ? r.u64() : BigInt(r.u32());
        const mediaTime = version === 1 ? r.i64() : BigInt(r.i32());
        entries.push({ segmentDuration, mediaTime, rateInteger: r.i16(), rateFraction: r.i16() });
      }
      return { type, entries };
    }
    case 'mdat':
      return { type, data: r.bytes(r.remaining) };
    case 'frma':
      return { type, dataFormat: r.fourcc() };
    case 'schm': {
      readFullBoxHeader(r);
      return { type, schemeType: r.fourcc(), schemeVersion: r.u32() };
    }
    case 'tenc': {
      const { version } = readFullBoxHeader(r);
      r.u8();
      const pattern = r.u8();
      const isProtected = r.u8();
      const perSampleIvSize = r.u8();
      const kid = Uint8Array.from(r.bytes(16));
      const constantIv = isProtected === 1 && perSampleIvSize === 0 ? Uint8Array.from(r.bytes(r.u8())) : null;
      return {
        type,
        version: version === 1 ? 1 : 0,
        cryptByteBlock: version === 1 ? pattern >> 4 : 0,
        skipByteBlock: version === 1 ? pattern & 0x0f : 0,
        isProtected,
        perSampleIvSize,
        kid,
        constantIv,
      };
    }
    case 'pssh': {
      const { version } = readFullBoxHeader(r);
      const systemId = Uint8Array.from(r.bytes(16));
      const kids: Uint8Array[] = [];
      if (version === 1) for (let i = r.u32(); i > 0; i--) kids.push(Uint8Array.from(r.bytes(16)));
      const data = Uint8Array.from(r.bytes(r.u32()));
      return { type, version: version === 1 ? 1 : 0, systemId, kids, data };
    }
    case 'senc': {
      // The IV size lives in tenc, not here: readers of senc must be told it (see readSenc).
      return { type: 'raw', fourcc: 'senc', payload: Uint8Array.from(r.bytes(r.remaining)) };
    }
    case 'saiz': {
      const { flags } = readFullBoxHeader(r);
      if (flags & 1) r.skip(8); // aux_info_type and parameter
      const defaultSize = r.u8();
      const sampleCount = r.u32();
      const sizes: number[] = [];
      if (defaultSize === 0) for (let i = 0; i < sampleCount; i++) sizes.push(r.u8());
      return { type, defaultSize, sizes, sampleCount };
    }
    case 'saio': {
      const { version, flags } = readFullBoxHeader(r);
      if (flags & 1) r.skip(8);
      const offsets: number[] = [];
      for (let i = r.u32(); i > 0; i--) offsets.push(version === 1 ? Number(r.u64()) : r.u32());
      return { type, offsets };
    }
    default:
      return { type: 'raw', fourcc: type, payload: Uint8Array.from(r.bytes(r.remaining)) };
  }
}

/** Reads one box at the reader's position. */
export function readBox(r: BoxReader): Box {
  const header = readBoxHeader(r);
  const bodySize = header.size - header.headerSize;
  if (bodySize > r.remaining) {
    throw new BoxParseError(`box ${JSON.stringify(header.type)} declares ${header.size} bytes, only ${r.remaining + header.headerSize} remain`);
  }
  return readBoxBody(header.type, r.sub(bodySize));
}

export function readBoxList(r: BoxReader): Box[] {
  const boxes: Box[] = [];
  while (r.remaining >= 8) boxes.push(readBox(r));
  return boxes;
}

/** Parses a senc payload (kept raw by the generic reader) given the track's per-sample IV size. */
export function readSenc(payload: Uint8Array, ivSize: number): import('./boxes.js').Senc {
  const r = new BoxReader(payload);
  const { flags } = readFullBoxHeader(r);
  const useSubsamples = (flags & 0x2) !== 0;
  const samples = [];
  for (let i = r.u32(); i > 0; i--) {
    const iv = Uint8Array.from(r.bytes(ivSize));
    const subsamples = [];
    if (useSubsamples) for (let j = r.u16(); j > 0; j--) subsamples.push({ clear: r.u16(), protected: r.u32() });
    samples.push({ iv, subsamples });
  }
  return { type: 'senc', ivSize, useSubsamples, samples };
}

/** Parses a buffer holding whole boxes. */
export function parseBoxes(bytes: Uint8Array): Box[] {
  return readBoxList(new BoxReader(bytes));
}
