/**
 * MPEG-TS (ISO/IEC 13818-1) demuxer for live ingest: PAT → PMT → PES, H.264 (stream type 0x1b)
 * and AAC in ADTS (0x0f). Access units come out with 90 kHz timestamps unwrapped past 2^33.
 */

import type { MediaUnit } from '../media.js';

export const tsPacketSize = 188;
const syncByte = 0x47;
const wrap33 = 2 ** 33;

/** What comes out: the ingest media units, timed at the transport stream's 90 kHz. */
export type TsAccessUnit = Exclude<MediaUnit, { kind: 'unsupported' }>;
const tsTimescale = 90_000;

export type TsStats = { packets: number; continuityErrors: number; resyncs: number; unsupportedStreams: number[] };

type PesBuffer = { chunks: Uint8Array[]; length: number; expected: number | null };

const streamTypes = { h264: 0x1b, aacAdts: 0x0f } as const;

/** Splits Annex B (start-code delimited) NAL units. */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        while (end > start && data[end - 1] === 0) end--; // trailing zeros belong to the next start code
        units.push(data.subarray(start, end));
      }
      start = i + 3;
      i += 3;
      continue;
    }
    i++;
  }
  if (start >= 0 && start < data.length) units.push(data.subarray(start));
  return units;
}

/** An AVCDecoderConfigurationRecord (14496-15 §5.3.3.1) from one SPS and one PPS. */
export function buildAvcC(sps: Uint8Array, pps: Uint8Array): Uint8Array {
  const profile = sps[1]!;
  const high = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile);
  const out = [1, profile, sps[2]!, sps[3]!, 0xff, 0xe1, sps.length >> 8, sps.length & 0xff, ...sps, 1, pps.length >> 8, pps.length & 0xff, ...pps];
  // High profiles carry chroma format and bit depths (assumed 4:2:0, 8-bit, as ingest encoders send).
  if (high) out.push(0xfc | 1, 0xf8, 0xf8, 0);
  return Uint8Array.from(out);
}

const adtsRates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/**
 * Demuxes a byte stream of TS packets (any chunking). Video PES are emitted when the next one
 * starts (their length is usually unbounded); audio PES as soon as their declared length arrives.
 */
export class TsDemuxer {
  readonly stats: TsStats = { packets: 0, continuityErrors: 0, resyncs: 0, unsupportedStreams: [] };
  private pending: Uint8Array = new Uint8Array(0);
  private pmtPid: number | null = null;
  private videoPid: number | null = null;
  private audioPid: number | null = null;
  private readonly continuity = new Map<number, number>();
  private readonly pes = new Map<number, PesBuffer>();
  private readonly lastTimestamp = new Map<number, number>();
  private sps: Uint8Array | null = null;
  private pps: Uint8Array | null = null;
  private avcC: Uint8Array | null = null;
  private asc: string | null = null;

  constructor(private readonly emit: (unit: TsAccessUnit) => void) {}

  push(chunk: Uint8Array): void {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    while (offset + tsPacketSize <= data.length) {
      if (data[offset] !== syncByte) {
        this.stats.resyncs++;
        const next = data.indexOf(syncByte, offset + 1);
        if (next < 0) {
          offset = data.length;
          break;
        }
        offset = next;
        continue;
      }
      this.packet(data.subarray(offset, offset + tsPacketSize));
      offset += tsPacketSize;
    }
    this.pending = Uint8Array.from(data.subarray(offset));
    data = new Uint8Array(0);
  }

  /** Emits what is buffered (the stream ended). */
  flush(): void {
    for (const pid of [...this.pes.keys()]) this.finishPes(pid);
  }

  private packet(p: Uint8Array): void {
    this.stats.packets++;
    const pusi = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    const adaptation = (p[3]! >> 4) & 0x3;
    const counter = p[3]! & 0x0f;
    if (pid === 0x1fff) return; // null packets
    let offset = 4;
    if (adaptation & 0x2) {
      const discontinuity = p[4]! > 0 && (p[5]! & 0x80) !== 0;
      if (discontinuity) this.continuity.delete(pid);
      offset += 1 + p[4]!;
    }
    if (!(adaptation & 0x1) || offset >= tsPacketSize) return;
    // §2.4.3.3: the counter rises by one per packet with payload; one duplicate is allowed.
    const last = this.continuity.get(pid);
    if (last !== undefined && counter !== ((last + 1) & 0x0f)) {
      if (counter === last) return;
      this.stats.continuityErrors++;
      this.pes.delete(pid); // a PES with a hole is not worth emitting
    }
    this.continuity.set(pid, counter);
    const payload = p.subarray(offset);
    if (pid === 0) return this.pat(payload, pusi);
    if (pid === this.pmtPid) return this.pmt(payload, pusi);
    if (pid === this.videoPid || pid === this.audioPid) this.pesPayload(pid, payload, pusi);
  }

  private section(payload: Uint8Array, pusi: boolean): Uint8Array | null {
    if (!pusi) return null;
    const pointer = payload[0]!;
    const table = payload.subarray(1 + pointer);
    const length = ((table[1]! & 0x0f) << 8) | table[2]!;
    return table.subarray(0, 3 + length);
  }

  private pat(payload: Uint8Array, pusi: boolean): void {
    const table = this.section(payload, pusi);
    if (!table || table[0] !== 0x00) return;
    // Programs start after the 8-byte header and end before the CRC; take the first real program.
    for (let i = 8; i + 4 <= table.length - 4; i += 4) {
      const program = (table[i]! << 8) | table[i + 1]!;
      if (program !== 0) {
        this.pmtPid = ((table[i + 2]! & 0x1f) << 8) | table[i + 3]!;
        return;
      }
    }
  }

  private pmt(payload: Uint8Array, pusi: boolean): void {
    const table = this.section(payload, pusi);
    if (!table || table[0] !== 0x02) return;
    const infoLength = ((table[10]! & 0x0f) << 8) | table[11]!;
    for (let i = 12 + infoLength; i + 5 <= table.length - 4; ) {
      const type = table[i]!;
      const pid = ((table[i + 1]! & 0x1f) << 8) | table[i + 2]!;
      const esInfo = ((table[i + 3]! & 0x0f) << 8) | table[i + 4]!;
      if (type === streamTypes.h264) this.videoPid ??= pid;
      else if (type === streamTypes.aacAdts) this.audioPid ??= pid;
      else if (!this.stats.unsupportedStreams.includes(type)) this.stats.unsupportedStreams.push(type);
      i += 5 + esInfo;
    }
  }

  private pesPayload(pid: number, payload: Uint8Array, pusi: boolean): void {
    if (pusi) {
      this.finishPes(pid);
      if (payload[0] !== 0 || payload[1] !== 0 || payload[2] !== 1) return;
      const declared = (payload[4]! << 8) | payload[5]!;
      this.pes.set(pid, { chunks: [Uint8Array.from(payload)], length: payload.length, expected: declared > 0 ? declared + 6 : null });
    } else {
      const buffer = this.pes.get(pid);
      if (!buffer) return;
      buffer.chunks.push(Uint8Array.from(payload));
      buffer.length += payload.length;
    }
    const buffer = this.pes.get(pid);
    if (buffer?.expected !== null && buffer !== undefined && buffer.length >= buffer.expected) this.finishPes(pid);
  }

  private unwrap(pid: number, value: number): number {
    const last = this.lastTimestamp.get(pid);
    let unwrapped = value;
    if (last !== undefined) {
      // Choose the candidate (value + k·2^33) nearest the previous timestamp.
      const base = last - (last % wrap33);
      unwrapped = base + value;
      if (unwrapped - last > wrap33 / 2) unwrapped -= wrap33;
      else if (last - unwrapped > wrap33 / 2) unwrapped += wrap33;
    }
    this.lastTimestamp.set(pid, unwrapped);
    return unwrapped;
  }

  private finishPes(pid: number): void {
    const buffer = this.pes.get(pid);
    this.pes.delete(pid);
    if (!buffer) return;
    const pes = buffer.chunks.length === 1 ? buffer.chunks[0]! : Buffer.concat(buffer.chunks);
    const flags = pes[7]!;
    const headerLength = pes[8]!;
    const timestamp = (at: number) => (pes[at]! & 0x0e) * 2 ** 29 + (((pes[at + 1]! << 8) | pes[at + 2]!) >> 1) * 2 ** 15 + (((pes[at + 3]! << 8) | pes[at + 4]!) >> 1);
    if (!(flags & 0x80)) return; // no PTS: nothing to time it by
    const pts = this.unwrap(pid, timestamp(9));
    const dts = flags & 0x40 ? pts - ((timestamp(9) - timestamp(14) + wrap33) % wrap33) : pts;
    const body = pes.subarray(9 + headerLength, buffer.expected ?? pes.length);
    if (pid === this.videoPid) this.video(body, pts, dts);
    else this.audio(body, pts);
  }

  private video(annexB: Uint8Array, pts: number, dts: number): void {
    const units = splitAnnexB(annexB).filter((u) => u.length > 0);
    let keyframe = false;
    const parts: Uint8Array[] = [];
    for (const unit of units) {
      const type = unit[0]! & 0x1f;
      if (type === 9) continue; // access unit delimiters are not carried in MP4 samples
      if (type === 7) this.sps = Uint8Array.from(unit);
      if (type === 8) this.pps = Uint8Array.from(unit);
      if (type === 5) keyframe = true;
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(unit.length);
      parts.push(prefix, unit);
    }
    if (this.sps && this.pps) {
      const avcC = buildAvcC(this.sps, this.pps);
      if (!this.avcC || Buffer.compare(Buffer.from(avcC), Buffer.from(this.avcC)) !== 0) {
        this.avcC = avcC;
        this.emit({ kind: 'video-config', avcC });
      }
    }
    if (parts.length === 0 || !this.avcC) return;
    this.emit({ kind: 'video', timescale: tsTimescale, dts, pts, keyframe, data: Buffer.concat(parts) });
  }

  private audio(adts: Uint8Array, pts: number): void {
    let offset = 0;
    let index = 0;
    while (offset + 7 <= adts.length) {
      if (adts[offset] !== 0xff || (adts[offset + 1]! & 0xf0) !== 0xf0) {
        offset++;
        continue;
      }
      const protectionAbsent = adts[offset + 1]! & 0x01;
      const objectType = (adts[offset + 2]! >> 6) + 1;
      const frequencyIndex = (adts[offset + 2]! >> 2) & 0x0f;
      const channels = ((adts[offset + 2]! & 0x01) << 2) | (adts[offset + 3]! >> 6);
      const frameLength = ((adts[offset + 3]! & 0x03) << 11) | (adts[offset + 4]! << 3) | (adts[offset + 5]! >> 5);
      const headerLength = protectionAbsent ? 7 : 9;
      if (frameLength < headerLength || offset + frameLength > adts.length) break;
      const rate = adtsRates[frequencyIndex] ?? 48000;
      const asc = Uint8Array.of((objectType << 3) | (frequencyIndex >> 1), ((frequencyIndex & 1) << 7) | (channels << 3));
      const key = Buffer.from(asc).toString('hex');
      if (key !== this.asc) {
        this.asc = key;
        this.emit({ kind: 'audio-config', asc });
      }
      // A PES may carry several frames: each after the last by 1024 samples.
      this.emit({ kind: 'audio', timescale: tsTimescale, dts: pts + Math.round((index * 1024 * tsTimescale) / rate), data: Uint8Array.from(adts.subarray(offset + headerLength, offset + frameLength)) });
      offset += frameLength;
      index++;
    }
  }
}
