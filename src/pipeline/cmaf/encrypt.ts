import { createCipheriv, randomBytes } from 'node:crypto';
import type { Box, Pssh, Subsample } from '../bmff/boxes.js';
import type { Sample, TrackInfo } from '../media.js';
import type { Chunk, ChunkSink } from './chunker.js';

/** Common-encryption schemes of ISO/IEC 23001-7 that the packager writes. */
export type CencScheme = 'cenc' | 'cbcs';

export type ContentKey = {
  kid: Uint8Array;
  key: Uint8Array;
  /** cbcs: the constant IV (16 bytes). cenc does not use it: its per-sample IVs start at random. */
  iv: Uint8Array;
};

/** A key as a key source hands it out: the content key plus any DRM systems' pssh boxes. */
export type SourcedKey = ContentKey & { pssh: Pssh[] };

/**
 * Per-sample auxiliary information (senc): the IV and the clear/protected byte ranges; no ranges
 * when the whole sample is protected (audio), as packagers write it and as ffmpeg's cbcs
 * decryptor requires of samples without a pattern.
 */
export type SampleAux = { iv: Uint8Array; subsamples: Subsample[] };

export type EncryptedSamples = { samples: Sample[]; aux: SampleAux[]; ivSize: number };

export const systemIds = {
  /** W3C ClearKey (https://w3c.github.io/encrypted-media/format-registry/initdata/cenc.html). */
  clearKey: '1077efecc0b24d02ace33c1e52e2fb4b',
} as const;

const hexBytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

/** The pssh boxes for an init segment: ClearKey (v1, KIDs listed) plus any a key source supplied. */
export function psshBoxes(key: ContentKey, extra: readonly Pssh[] = []): Pssh[] {
  return [{ type: 'pssh', version: 1, systemId: hexBytes(systemIds.clearKey), kids: [key.kid], data: new Uint8Array(0) }, ...extra];
}

/**
 * The protected form of a track's sample entry (23001-7 §4): `encv`/`enca` wrapping the original
 * with sinf(frma, schm, schi(tenc)). cbcs uses a 1:9 pattern for video and a constant IV.
 */
export function protectTrack(track: TrackInfo, scheme: CencScheme, key: ContentKey): TrackInfo {
  const entry = track.sampleEntry;
  if (entry.type !== 'avc1' && entry.type !== 'avc3' && entry.type !== 'mp4a') {
    throw new RangeError(`cannot protect a ${entry.type} sample entry; expected avc1, avc3 or mp4a`);
  }
  const video = track.kind === 'video';
  const tenc: Box =
    scheme === 'cbcs'
      ? { type: 'tenc', version: 1, cryptByteBlock: video ? 1 : 0, skipByteBlock: video ? 9 : 0, isProtected: 1, perSampleIvSize: 0, kid: key.kid, constantIv: key.iv }
      : { type: 'tenc', version: 0, cryptByteBlock: 0, skipByteBlock: 0, isProtected: 1, perSampleIvSize: 8, kid: key.kid, constantIv: null };
  const sinf: Box = {
    type: 'sinf',
    boxes: [
      { type: 'frma', dataFormat: entry.type },
      { type: 'schm', schemeType: scheme, schemeVersion: 0x00010000 },
      { type: 'schi', boxes: [tenc] },
    ],
  };
  let sampleEntry: Box;
  if ('channelCount' in entry) sampleEntry = { ...entry, type: 'enca', boxes: [...entry.boxes, sinf] };
  else if ('compressorName' in entry) sampleEntry = { ...entry, type: 'encv', boxes: [...entry.boxes, sinf] };
  else throw new RangeError("cannot protect this sample entry");
  return { ...track, sampleEntry };
}

/** Bytes at the start of a video NAL unit kept clear: its header and the start of the slice header. */
const clearLeader = 32;

/**
 * Subsamples of one length-prefixed H.264 sample: non-VCL NAL units stay clear; in slice NAL
 * units the length prefix, NAL header and a 32-byte leader (covering the slice header) stay
 * clear, and the protected part is a whole number of 16-byte blocks (23001-7 §10.2, §10.4).
 */
export function videoSubsamples(data: Uint8Array, nalLengthSize = 4): Subsample[] {
  const subsamples: Subsample[] = [];
  let clear = 0;
  let offset = 0;
  while (offset + nalLengthSize <= data.length) {
    let size = 0;
    for (let i = 0; i < nalLengthSize; i++) size = size * 256 + data[offset + i]!;
    const end = Math.min(data.length, offset + nalLengthSize + size);
    const nalType = (data[offset + nalLengthSize] ?? 0) & 0x1f;
    const isSlice = nalType >= 1 && nalType <= 5;
    const body = end - offset - nalLengthSize;
    const protectedBytes = isSlice ? Math.max(0, Math.floor((body - clearLeader) / 16) * 16) : 0;
    clear += end - offset - protectedBytes;
    if (protectedBytes > 0) {
      // Clear counts are 16-bit: spill any excess into protected-less subsamples.
      while (clear > 0xffff) {
        subsamples.push({ clear: 0xffff, protected: 0 });
        clear -= 0xffff;
      }
      subsamples.push({ clear, protected: protectedBytes });
      clear = 0;
    }
    offset = end;
  }
  clear += data.length - offset;
  while (clear > 0) {
    const take = Math.min(clear, 0xffff);
    subsamples.push({ clear: take, protected: 0 });
    clear -= take;
  }
  return subsamples;
}

function incrementIv(iv: Uint8Array): Uint8Array {
  const next = Uint8Array.from(iv);
  for (let i = next.length - 1; i >= 0; i--) {
    next[i] = (next[i]! + 1) & 0xff;
    if (next[i] !== 0) break;
  }
  return next;
}

/**
 * The encryption stage's core: encrypts samples in place of the originals and returns what senc
 * must carry. cenc: AES-128-CTR, 8-byte IV per sample, one keystream across a sample's protected
 * ranges. cbcs: AES-128-CBC with the constant IV restarted at each subsample, 1:9 pattern for
 * video and every whole block for audio; a trailing partial block stays clear.
 */
export class SampleEncryptor {
  private nextIv: Uint8Array;

  constructor(
    private readonly scheme: CencScheme,
    private readonly key: ContentKey,
    private readonly kind: 'video' | 'audio',
  ) {
    if (key.key.length !== 16 || key.kid.length !== 16) throw new RangeError('keys and KIDs must be 16 bytes');
    // A random start per encryptor: a key used again (a later broadcast, a re-run) never repeats a CTR keystream.
    this.nextIv = scheme === 'cenc' ? randomBytes(8) : key.iv;
  }

  get ivSize(): number {
    return this.scheme === 'cenc' ? 8 : 0;
  }

  encrypt(samples: readonly Sample[]): EncryptedSamples {
    const out: Sample[] = [];
    const aux: SampleAux[] = [];
    for (const sample of samples) {
      const subsamples = this.kind === 'video' ? videoSubsamples(sample.data) : [];
      const ranges = this.kind === 'video' ? subsamples : [{ clear: 0, protected: sample.data.length }];
      const data = Buffer.from(sample.data);
      if (this.scheme === 'cenc') {
        const iv = this.nextIv;
        this.nextIv = incrementIv(iv);
        const cipher = createCipheriv('aes-128-ctr', this.key.key, Buffer.concat([iv, Buffer.alloc(8)]));
        let offset = 0;
        for (const sub of ranges) {
          offset += sub.clear;
          if (sub.protected > 0) cipher.update(data.subarray(offset, offset + sub.protected)).copy(data, offset);
          offset += sub.protected;
        }
        aux.push({ iv, subsamples });
      } else {
        let offset = 0;
        for (const sub of ranges) {
          offset += sub.clear;
          if (sub.protected > 0) this.cbcsRange(data, offset, sub.protected);
          offset += sub.protected;
        }
        aux.push({ iv: new Uint8Array(0), subsamples });
      }
      out.push({ ...sample, data });
    }
    return { samples: out, aux, ivSize: this.ivSize };
  }

  private cbcsRange(data: Buffer, start: number, length: number): void {
    const cipher = createCipheriv('aes-128-cbc', this.key.key, this.key.iv).setAutoPadding(false);
    const blocks = Math.floor(length / 16);
    const [crypt, skip] = this.kind === 'video' ? [1, 9] : [blocks, 0];
    for (let block = 0; block < blocks; block += crypt + skip) {
      const count = Math.min(crypt, blocks - block);
      const at = start + block * 16;
      cipher.update(data.subarray(at, at + count * 16)).copy(data, at);
    }
  }
}

/**
 * The encryption stage of the VOD chain (chunker → encryption → fMP4 writer): each chunk's
 * samples leave encrypted, with the auxiliary information the writer puts in senc/saiz/saio.
 */
export class EncryptionStage implements ChunkSink {
  private readonly encryptor: SampleEncryptor;

  constructor(
    scheme: CencScheme,
    key: ContentKey,
    kind: 'video' | 'audio',
    private readonly next: ChunkSink,
  ) {
    this.encryptor = new SampleEncryptor(scheme, key, kind);
  }

  async chunk(chunk: Chunk): Promise<void> {
    const encrypted = this.encryptor.encrypt(chunk.samples);
    await this.next.chunk({ ...chunk, samples: encrypted.samples, protection: { ivSize: encrypted.ivSize, aux: encrypted.aux } });
  }

  flush(): Promise<void> {
    return this.next.flush();
  }
}

/**
 * HLS AES-128 (RFC 8216 §5.2): a whole written segment, AES-128-CBC with PKCS#7, its IV the
 * media sequence number (no IV attribute is written). For the fMP4 writer's last step.
 */
export function sealAes128Segment(key: Uint8Array): (bytes: Buffer, sequence: number) => Buffer {
  return (bytes, sequence) => {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(sequence, 12);
    const cipher = createCipheriv('aes-128-cbc', key, iv);
    return Buffer.concat([cipher.update(bytes), cipher.final()]);
  };
}
