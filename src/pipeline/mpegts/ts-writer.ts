import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Box } from '../bmff/boxes.js';
import type { Chunk, ChunkSink } from '../cmaf/chunker.js';
import type { SegmentRecord } from '../cmaf/segment-writer.js';
import { parseAvcConfig } from '../codecs/h264.js';
import type { TrackInfo } from '../media.js';
import { tsSegmentName } from '../../layout.js';

/**
 * MPEG-2 transport stream segments (ISO/IEC 13818-1) for HLS players that read no fragmented
 * MP4 or cannot decrypt it: one elementary stream per rendition (H.264 or AAC in ADTS), each
 * segment opening with PAT and PMT and a keyframe, so it decodes on its own.
 */

const packetSize = 188;
const pmtPid = 0x1000;
const mediaPid = 0x100;
const streamType = { h264: 0x1b, aacAdts: 0x0f } as const;
/** Every timestamp sits this far in (1.4 s, as ffmpeg's muxer does): AAC priming and B-frame reordering need room before zero. */
const timestampBase = 126_000;
/** Fewer packets than this and a segment is padded (see below). */
const minimumPackets = 8;
const adtsFrequencies = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** CRC-32/MPEG-2 of a PSI section (13818-1 Annex B). */
function crc32Mpeg(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return crc >>> 0;
}

/** A PSI section (PAT or PMT) with its CRC, as the payload of one packet (pointer field first). */
function psiPayload(tableId: number, idExtension: number, body: number[]): Buffer {
  const length = 5 + body.length + 4; // after section_length: id extension, version, section numbers, body, CRC
  const section = Buffer.from([tableId, 0xb0 | (length >> 8), length & 0xff, idExtension >> 8, idExtension & 0xff, 0xc1, 0, 0, ...body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32Mpeg(section));
  return Buffer.concat([Buffer.from([0]), section, crc]);
}

/** The 33-bit timestamp field of a PES header (13818-1 §2.4.3.7), with its 4-bit prefix. */
function timestampField(prefix: number, value: number): Buffer {
  const ts = ((value % 2 ** 33) + 2 ** 33) % 2 ** 33;
  const high = Math.floor(ts / 2 ** 30);
  const mid = Math.floor(ts / 2 ** 15) & 0x7fff;
  const low = ts & 0x7fff;
  return Buffer.from([(prefix << 4) | (high << 1) | 1, mid >> 7, ((mid & 0x7f) << 1) | 1, low >> 7, ((low & 0x7f) << 1) | 1]);
}

function pesPacket(streamId: number, pts: number, dts: number, payload: Buffer): Buffer {
  const withDts = dts !== pts;
  const fields = withDts ? Buffer.concat([timestampField(0b0011, pts), timestampField(0b0001, dts)]) : timestampField(0b0010, pts);
  const header = Buffer.from([0, 0, 1, streamId, 0, 0, 0x80, withDts ? 0xc0 : 0x80, fields.length]);
  const length = 3 + fields.length + payload.length;
  // Video PES may be longer than the 16-bit length allows: 0 means unbounded (§2.4.3.7).
  header.writeUInt16BE(length <= 0xffff && streamId !== 0xe0 ? length : 0, 4);
  return Buffer.concat([header, fields, payload]);
}

/** The decoder configuration a writer needs from the track's sample entry. */
function configOf(track: TrackInfo): { kind: 'video'; parameterSets: Buffer; nalLengthSize: number } | { kind: 'audio'; adts: (length: number) => Buffer } {
  const entry = track.sampleEntry as Box & { boxes?: Box[] };
  if (track.kind === 'video') {
    const avcC = entry.boxes?.find((b) => b.type === 'avcC') as { record: Uint8Array } | undefined;
    if (!avcC) throw new RangeError(`a ${entry.type} sample entry without avcC cannot go into a transport stream`);
    const config = parseAvcConfig(avcC.record);
    const startCode = Buffer.from([0, 0, 0, 1]);
    return { kind: 'video', nalLengthSize: config.nalLengthSize, parameterSets: Buffer.concat([...config.sps, ...config.pps].flatMap((unit) => [startCode, Buffer.from(unit)])) };
  }
  const esds = entry.boxes?.find((b) => b.type === 'esds') as { decoderSpecificInfo: Uint8Array } | undefined;
  if (!esds) throw new RangeError(`a ${entry.type} sample entry without esds cannot go into a transport stream`);
  const asc = esds.decoderSpecificInfo;
  const objectType = asc[0]! >> 3;
  const frequencyIndex = adtsFrequencies.indexOf(track.sampleRate);
  if (objectType < 1 || objectType > 4 || frequencyIndex < 0) throw new RangeError(`AAC object type ${objectType} at ${track.sampleRate} Hz has no ADTS form`);
  const channels = track.channels;
  // ADTS fixed and variable header (14496-3 §1.A.2.2), no CRC: 7 bytes before each raw frame.
  return {
    kind: 'audio',
    adts: (length) => {
      const frameLength = length + 7;
      return Buffer.from([
        0xff, 0xf1, ((objectType - 1) << 6) | (frequencyIndex << 2) | (channels >> 2), ((channels & 3) << 6) | (frameLength >> 11),
        (frameLength >> 3) & 0xff, ((frameLength & 7) << 5) | 0x1f, 0xfc,
      ]);
    },
  };
}

/** Length-prefixed NAL units as Annex B, behind an access unit delimiter (and the parameter sets, at a keyframe). */
function annexB(data: Uint8Array, nalLengthSize: number, parameterSets: Buffer | null): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 0, 0, 1, 0x09, 0xf0])];
  if (parameterSets) parts.push(parameterSets);
  let offset = 0;
  while (offset + nalLengthSize <= data.length) {
    let length = 0;
    for (let i = 0; i < nalLengthSize; i++) length = length * 256 + data[offset + i]!;
    offset += nalLengthSize;
    const type = data[offset]! & 0x1f;
    // Delimiters and parameter sets already stand in front.
    if (type !== 9 && !(parameterSets && (type === 7 || type === 8))) parts.push(Buffer.from([0, 0, 0, 1]), Buffer.from(data.subarray(offset, offset + length)));
    offset += length;
  }
  return Buffer.concat(parts);
}

/**
 * The transport stream writer of one rendition, a chunker's last stage in place of the fMP4
 * writer. Continuity counters run on across segments, as one stream cut into files.
 */
export class TsSegmentWriter implements ChunkSink {
  private readonly counters = new Map<number, number>();
  private readonly config;
  private readonly scale: number;

  constructor(
    private readonly dir: string,
    private readonly track: TrackInfo,
    private readonly onWritten: (record: SegmentRecord) => void,
    private readonly seal?: (bytes: Buffer, number: number) => Buffer,
  ) {
    this.config = configOf(track);
    this.scale = 90_000 / track.timescale;
  }

  /** Splits a payload into packets of one PID; the first carries the unit start (and PCR, when given). */
  private packets(pid: number, payload: Buffer, pcr: number | null = null, randomAccess = false): Buffer[] {
    const out: Buffer[] = [];
    let offset = 0;
    let first = true;
    while (offset < payload.length || first) {
      const packet = Buffer.alloc(packetSize, 0xff);
      const counter = this.counters.get(pid) ?? 0;
      this.counters.set(pid, (counter + 1) & 0x0f);
      packet[0] = 0x47;
      packet[1] = (first ? 0x40 : 0) | (pid >> 8);
      packet[2] = pid & 0xff;
      let adaptation: Buffer | null = null;
      if (first && pcr !== null) {
        // PCR at each PES start, equal to its decode time: 33-bit base, 6 reserved bits, 9-bit extension 0.
        const base = Math.max(0, Math.floor(pcr)) % 2 ** 33;
        const byte = (shift: number) => Math.floor(base / 2 ** shift) & 0xff;
        adaptation = Buffer.from([7, (randomAccess ? 0x40 : 0) | 0x10, byte(25), byte(17), byte(9), byte(1), ((base % 2) << 7) | 0x7e, 0]);
      }
      const room = packetSize - 4 - (adaptation?.length ?? 0);
      const take = Math.min(room, payload.length - offset);
      if (take < room) {
        // The last packet is padded with adaptation-field stuffing (§2.4.3.5).
        const stuffing = room - take;
        if (adaptation) adaptation = Buffer.concat([Buffer.from([adaptation[0]! + stuffing]), adaptation.subarray(1), Buffer.alloc(stuffing, 0xff)]);
        else adaptation = stuffing === 1 ? Buffer.from([0]) : Buffer.concat([Buffer.from([stuffing - 1, 0]), Buffer.alloc(stuffing - 2, 0xff)]);
      }
      packet[3] = (adaptation ? 0x30 : 0x10) | counter;
      let at = 4;
      if (adaptation) at += adaptation.copy(packet, at);
      payload.copy(packet, at, offset, offset + take);
      offset += take;
      first = false;
      out.push(packet);
    }
    return out;
  }

  async chunk(chunk: Chunk): Promise<void> {
    const video = this.config.kind === 'video';
    const pat = psiPayload(0x00, 1, [0, 1, 0xe0 | (pmtPid >> 8), pmtPid & 0xff]);
    const pmt = psiPayload(0x02, 1, [0xe0 | (mediaPid >> 8), mediaPid & 0xff, 0xf0, 0, video ? streamType.h264 : streamType.aacAdts, 0xe0 | (mediaPid >> 8), mediaPid & 0xff, 0xf0, 0]);
    const packets = [...this.packets(0, pat), ...this.packets(pmtPid, pmt)];
    const shift = chunk.compositionShift ?? 0;
    const mediaStart = this.track.mediaStart ?? 0;
    for (const sample of chunk.samples) {
      let pts: number;
      let dts: number;
      let payload: Buffer;
      if (this.config.kind === 'video') {
        // The chunker moved presentation earlier by its composition shift; decoding stays that much ahead of it here.
        pts = timestampBase + Math.round((sample.dts + sample.cto) * this.scale);
        dts = timestampBase + Math.round((sample.dts - shift) * this.scale);
        payload = annexB(sample.data, this.config.nalLengthSize, sample.isSync ? this.config.parameterSets : null);
      } else {
        // No edit list in a transport stream: the priming samples present before the video starts.
        pts = dts = timestampBase + Math.round((sample.dts - mediaStart) * this.scale);
        payload = Buffer.concat([this.config.adts(sample.data.length), Buffer.from(sample.data)]);
      }
      packets.push(...this.packets(mediaPid, pesPacket(video ? 0xe0 : 0xc0, pts, dts, payload), dts, sample.isSync));
    }
    // A runt segment (the last AAC frame or two) is padded with null packets: GStreamer's type
    // finder does not recognise a transport stream of three packets and stops the whole playlist.
    const nullPacket = Buffer.concat([Buffer.from([0x47, 0x1f, 0xff, 0x10]), Buffer.alloc(packetSize - 4, 0xff)]);
    while (packets.length < minimumPackets) packets.push(nullPacket);
    const written = Buffer.concat(packets);
    const bytes = this.seal ? this.seal(written, chunk.number) : written;
    await mkdir(this.dir, { recursive: true });
    await writeFile(join(this.dir, tsSegmentName(chunk.number)), bytes);
    this.onWritten({ number: chunk.number, startDts: chunk.startDts, duration: chunk.duration, bytes: bytes.length });
  }

  async flush(): Promise<void> {}
}
