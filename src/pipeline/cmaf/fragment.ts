import { BoxWriter } from '../bmff/box-writer.js';
import { sampleFlags, type Box } from '../bmff/boxes.js';
import { writeBox } from '../bmff/write.js';
import type { Sample } from '../media.js';
import type { SampleAux } from './encrypt.js';
import { outputTrackId } from './init-segment.js';

/** A CMAF fragment ready to write: its box header bytes and the sample payloads after them. */
export type EncodedFragment = { header: Uint8Array; payload: Uint8Array[]; byteLength: number };

/** What a protected fragment adds to its traf (23001-7 §7): per-sample IVs and subsamples. */
export type FragmentProtection = { ivSize: number; aux: readonly SampleAux[] };

function protectionBoxes(protection: FragmentProtection, sencDataOffset: number): Box[] {
  const useSubsamples = protection.aux.some((a) => a.subsamples.length > 0);
  const sizes = protection.aux.map((a) => protection.ivSize + (useSubsamples ? 2 + 6 * a.subsamples.length : 0));
  // A default size of 0 means "sizes follow", so entries of no bytes (cbcs audio) are listed.
  const uniform = sizes.every((size) => size === sizes[0]) && (sizes[0] ?? 0) > 0;
  return [
    { type: 'saiz', defaultSize: uniform ? (sizes[0] ?? 0) : 0, sizes: uniform ? [] : sizes, sampleCount: sizes.length },
    { type: 'saio', offsets: [sencDataOffset] },
    { type: 'senc', ivSize: protection.ivSize, useSubsamples, samples: protection.aux.map((a) => ({ iv: a.iv, subsamples: a.subsamples })) },
  ];
}

/** Byte offset of the first box of a type along a path (e.g. moof/traf/senc) within serialized boxes. */
function boxOffset(bytes: Uint8Array, path: readonly string[]): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start = 0;
  let end = view.length;
  let found = -1;
  for (const [depth, type] of path.entries()) {
    let at = start;
    found = -1;
    while (at + 8 <= end) {
      const size = view.readUInt32BE(at);
      if (view.toString('latin1', at + 4, at + 8) === type) {
        found = at;
        break;
      }
      at += size;
    }
    if (found < 0) throw new Error(`no ${path.slice(0, depth + 1).join('/')} in the fragment`);
    start = found + 8;
    end = found + view.readUInt32BE(found);
  }
  return found;
}

function moofFor(trackId: number, sequenceNumber: number, samples: readonly Sample[], dataOffset: number, protection?: FragmentProtection, sencDataOffset = 0): Box {
  return {
    type: 'moof',
    boxes: [
      { type: 'mfhd', sequenceNumber },
      {
        type: 'traf',
        boxes: [
          { type: 'tfhd', trackId, defaultBaseIsMoof: true },
          { type: 'tfdt', baseMediaDecodeTime: BigInt(samples[0]!.dts) },
          {
            type: 'trun',
            // Version 1: signed composition offsets, so presentation starts at decode time without an edit list.
            version: 1,
            dataOffset,
            samples: samples.map((s) => ({
              duration: s.duration,
              size: s.data.length,
              flags: s.isSync ? sampleFlags.sync : sampleFlags.nonSync,
              compositionTimeOffset: s.cto,
            })),
          },
          ...(protection ? protectionBoxes(protection, sencDataOffset) : []),
        ],
      },
    ],
  };
}

/**
 * One CMAF fragment: optional styp, moof, mdat. The trun's data offset is measured from a first
 * serialization of the moof (its size does not depend on the offset's value), never added by hand.
 */
export function encodeFragment(options: { sequenceNumber: number; samples: readonly Sample[]; withStyp: boolean; protection?: FragmentProtection; trackId?: number }): EncodedFragment {
  const { samples, protection } = options;
  const trackId = options.trackId ?? outputTrackId;
  if (samples.length === 0) throw new RangeError('a fragment needs at least one sample');
  const measure = new BoxWriter(256);
  writeBox(measure, moofFor(trackId, options.sequenceNumber, samples, 0, protection));
  const moofSize = measure.position;
  // saio points at senc's first sample entry, counted from the moof (default-base-is-moof).
  const sencDataOffset = protection ? boxOffset(measure.finish(), ['moof', 'traf', 'senc']) + 16 : 0;
  const mdatHeaderSize = 8;
  const payloadSize = samples.reduce((total, s) => total + s.data.length, 0);

  const w = new BoxWriter(moofSize + 64);
  if (options.withStyp) writeBox(w, { type: 'styp', majorBrand: 'msdh', minorVersion: 0, compatibleBrands: ['msdh', 'cmfs'] }); // no msix: there is no sidx
  writeBox(w, moofFor(trackId, options.sequenceNumber, samples, moofSize + mdatHeaderSize, protection, sencDataOffset));
  w.u32(mdatHeaderSize + payloadSize);
  w.fourcc('mdat');
  const header = w.finish();
  return { header, payload: samples.map((s) => s.data), byteLength: header.length + payloadSize };
}
