import type { Box } from '../bmff/boxes.js';
import { serializeBoxes } from '../bmff/write.js';
import type { TrackInfo } from '../media.js';

/** Every output file carries one track, always with id 1. */
export const outputTrackId = 1;

function editList(mediaStart: number): Box {
  return { type: 'edts', boxes: [{ type: 'elst', entries: [{ segmentDuration: 0n, mediaTime: BigInt(mediaStart), rateInteger: 1, rateFraction: 0 }] }] };
}

/**
 * A CMAF header (ISO/IEC 23000-19 §7.3.2.2): ftyp + moov with empty sample tables and an mvex,
 * so all samples live in fragments.
 */
export function buildInitSegment(track: TrackInfo, pssh: readonly Box[] = []): Uint8Array {
  const video = track.kind === 'video';
  const boxes: Box[] = [
    { type: 'ftyp', majorBrand: 'cmf2', minorVersion: 0, compatibleBrands: ['cmf2', 'cmfc', 'iso6', 'mp41'] },
    {
      type: 'moov',
      boxes: [
        { type: 'mvhd', timescale: 1000, duration: 0, nextTrackId: outputTrackId + 1 },
        {
          type: 'trak',
          boxes: [
            { type: 'tkhd', flags: 0x3, trackId: outputTrackId, duration: 0, volume: video ? 0 : 0x0100, width: track.width, height: track.height },
            // One edit skipping the priming: players present media time mediaStart at 0. Its
            // duration is 0 ("the rest", ISO/IEC 14496-12 §8.6.6) since fragments follow.
            ...(track.mediaStart ? [editList(track.mediaStart)] : []),
            {
              type: 'mdia',
              boxes: [
                { type: 'mdhd', timescale: track.timescale, duration: 0, language: 'und' },
                { type: 'hdlr', handlerType: video ? 'vide' : 'soun', name: video ? 'Weir video' : 'Weir audio' },
                {
                  type: 'minf',
                  boxes: [
                    video ? { type: 'vmhd' } : { type: 'smhd' },
                    { type: 'dinf', boxes: [{ type: 'dref', entries: [{ type: 'url ', flags: 1 }] }] },
                    {
                      type: 'stbl',
                      boxes: [{ type: 'stsd', entries: [track.sampleEntry] }, { type: 'stts' }, { type: 'stsc' }, { type: 'stsz' }, { type: 'stco' }],
                    },
                  ],
                },
              ],
            },
          ],
        },
        ...pssh,
        {
          type: 'mvex',
          boxes: [{ type: 'trex', trackId: outputTrackId, defaultSampleDescriptionIndex: 1, defaultSampleDuration: 0, defaultSampleSize: 0, defaultSampleFlags: 0 }],
        },
      ],
    },
  ];
  return serializeBoxes(boxes);
}
