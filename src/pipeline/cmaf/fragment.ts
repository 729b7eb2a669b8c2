import { BoxWriter } from '../bmff/box-writer.js';
import { sampleFlags, type Box } from '../bmff/boxes.js';
import { writeBox } from '../bmff/write.js';
import type { Sample } from '../media.js';
import { outputTrackId } from './init-segment.js';

/** A CMAF fragment ready to write: its box header bytes and the sample payloads after them. */
export type EncodedFragment = { header: Uint8Array; payload: Uint8Array[]; byteLength: number };

function moofFor(sequenceNumber: number, samples: readonly Sample[], dataOffset: number): Box {
  return {
    type: 'moof',
    boxes: [
      { type: 'mfhd', sequenceNumber },
      {
        type: 'traf',
        boxes: [
          { type: 'tfhd', trackId: outputTrackId, defaultBaseIsMoof: true },
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
        ],
      },
    ],
  };
}

/**
 * One CMAF fragment: optional styp, moof, mdat. The trun's data offset is measured from a first
 * serialization of the moof (its size does not depend on the offset's value), never added by hand.
 */
export function encodeFragment(options: { sequenceNumber: number; samples: readonly Sample[]; withStyp: boolean }): EncodedFragment {
  const { samples } = options;
  if (samples.length === 0) throw new RangeError('a fragment needs at least one sample');
  const measure = new BoxWriter(256);
  writeBox(measure, moofFor(options.sequenceNumber, samples, 0));
  const moofSize = measure.position;
  const mdatHeaderSize = 8;
  const payloadSize = samples.reduce((total, s) => total + s.data.length, 0);

  const w = new BoxWriter(moofSize + 64);
  if (options.withStyp) writeBox(w, { type: 'styp', majorBrand: 'msdh', minorVersion: 0, compatibleBrands: ['msdh', 'msix', 'cmfs'] });
  writeBox(w, moofFor(options.sequenceNumber, samples, moofSize + mdatHeaderSize));
  w.u32(mdatHeaderSize + payloadSize);
  w.fourcc('mdat');
  const header = w.finish();
  return { header, payload: samples.map((s) => s.data), byteLength: header.length + payloadSize };
}
