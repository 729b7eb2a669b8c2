import type { Box } from '../bmff/boxes.js';
import { serializeBoxes } from '../bmff/write.js';
import type { TrackInfo } from '../media.js';

/** CMAF output carries one track, always id 1 (a muxed HLS rendition adds its audio as id 2). */
export const outputTrackId = 1;

function editList(mediaStart: number): Box {
  return { type: 'edts', boxes: [{ type: 'elst', entries: [{ segmentDuration: 0n, mediaTime: BigInt(mediaStart), rateInteger: 1, rateFraction: 0 }] }] };
}

function trakFor(track: TrackInfo, trackId: number): Box {
  const video = track.kind === 'video';
  return {
    type: 'trak',
    boxes: [
      { type: 'tkhd', flags: 0x3, trackId, duration: 0, volume: video ? 0 : 0x0100, width: track.width, height: track.height },
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
  };
}

/** ftyp + moov describing `tracks` with ids 1, 2…, empty sample tables and an mvex: all samples live in fragments. */
function initSegment(tracks: readonly TrackInfo[], pssh: readonly Box[]): Uint8Array {
  const ids = tracks.map((_, index) => outputTrackId + index);
  return serializeBoxes([
    { type: 'ftyp', majorBrand: 'cmf2', minorVersion: 0, compatibleBrands: ['cmf2', 'cmfc', 'iso6', 'mp41'] },
    {
      type: 'moov',
      boxes: [
        { type: 'mvhd', timescale: 1000, duration: 0, nextTrackId: outputTrackId + tracks.length },
        ...tracks.map((track, index) => trakFor(track, ids[index]!)),
        ...pssh,
        { type: 'mvex', boxes: ids.map((trackId): Box => ({ type: 'trex', trackId, defaultSampleDescriptionIndex: 1, defaultSampleDuration: 0, defaultSampleSize: 0, defaultSampleFlags: 0 })) },
      ],
    },
  ]);
}

/** A CMAF header (ISO/IEC 23000-19 §7.3.2.2): one track, id 1. */
export function buildInitSegment(track: TrackInfo, pssh: readonly Box[] = []): Uint8Array {
  return initSegment([track], pssh);
}

/**
 * The header of a multiplexed (non-CMAF) fMP4 rendition, as HLS allows: the video track as id 1
 * and the audio track as id 2, each fragment carrying both.
 */
export function buildMuxedInitSegment(video: TrackInfo, audio: TrackInfo): Uint8Array {
  return initSegment([video, audio], []);
}
