import { open, type FileHandle } from 'node:fs/promises';
import { filterBoxes, findBox, isSyncSampleFlags, type Box, type Trex } from '../bmff/boxes.js';
import { BoxParseError, BoxReader, parseBoxes, readBoxHeader } from '../bmff/read.js';
import { aacCodecString, avcCodecString } from '../codecs/codec-strings.js';
import type { Sample, TrackInfo } from '../media.js';

export type DemuxedTrack = TrackInfo & { trackId: number };

/** A fragmented MP4 read box by box from disk: the moov at once, then one fragment at a time. */
export type FragmentedMp4 = {
  tracks: DemuxedTrack[];
  /** Yields each fragment's samples, per track, in file order. */
  fragments(): AsyncGenerator<{ trackId: number; samples: Sample[] }>;
  close(): Promise<void>;
};

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  if (bytesRead !== length) throw new BoxParseError(`wanted ${length} bytes at ${position}, file ended after ${bytesRead}`);
  return buffer;
}

type TopBox = { type: string; start: number; size: number; headerSize: number };

async function* topLevelBoxes(file: FileHandle, fileSize: number): AsyncGenerator<TopBox> {
  let position = 0;
  while (position + 8 <= fileSize) {
    const head = await readAt(file, position, Math.min(16, fileSize - position));
    const header = readBoxHeader(new BoxReader(head));
    // A 32-bit size of 0 means the box runs to the end of the file (§4.2).
    const size = head.readUInt32BE(0) === 0 ? fileSize - position : header.size;
    if (position + size > fileSize) throw new BoxParseError(`box ${header.type} at ${position} runs past the end of the file`);
    yield { type: header.type, start: position, size, headerSize: header.headerSize };
    position += size;
  }
}

function describeTrack(trak: Box[]): DemuxedTrack | null {
  const tkhd = findBox(trak, 'tkhd');
  const mdhd = findBox(trak, 'mdhd');
  const hdlr = findBox(trak, 'hdlr');
  const stsd = findBox(trak, 'stsd');
  if (!tkhd || !mdhd || !hdlr || !stsd) throw new BoxParseError('a trak lacks tkhd, mdhd, hdlr or stsd');
  const entry = stsd.entries[0];
  if (!entry) throw new BoxParseError(`track ${tkhd.trackId} has no sample entry`);
  // A single edit that starts later in the media (priming), as written for encoded audio.
  const edits = findBox(trak, 'elst')?.entries ?? [];
  const mediaStart = edits.length === 1 && edits[0]!.mediaTime > 0n ? Number(edits[0]!.mediaTime) : 0;
  if (hdlr.handlerType === 'vide' && (entry.type === 'avc1' || entry.type === 'avc3')) {
    const avcC = findBox(entry.boxes, 'avcC');
    if (!avcC) throw new BoxParseError(`track ${tkhd.trackId} is ${entry.type} without avcC`);
    return {
      trackId: tkhd.trackId,
      kind: 'video',
      timescale: mdhd.timescale,
      codec: avcCodecString(avcC.record, entry.type),
      sampleEntry: entry,
      width: entry.width,
      height: entry.height,
      channels: 0,
      sampleRate: 0,
    };
  }
  if (hdlr.handlerType === 'soun' && entry.type === 'mp4a') {
    const esds = findBox(entry.boxes, 'esds');
    if (!esds) throw new BoxParseError(`track ${tkhd.trackId} is mp4a without esds`);
    return {
      trackId: tkhd.trackId,
      kind: 'audio',
      timescale: mdhd.timescale,
      codec: aacCodecString(esds.decoderSpecificInfo),
      sampleEntry: entry,
      width: 0,
      height: 0,
      channels: entry.channelCount,
      sampleRate: entry.sampleRate,
      ...(mediaStart > 0 ? { mediaStart } : {}),
    };
  }
  return null; // a track we do not package (timed text, data): skipped
}

/** Tracks described by a moov box's children (tracks we do not package are skipped). */
export function tracksOf(moovChildren: Box[]): { tracks: DemuxedTrack[]; trexes: Trex[] } {
  const mvex = findBox(moovChildren, 'mvex');
  const trexes = mvex ? filterBoxes(mvex.boxes, 'trex') : [];
  const tracks = filterBoxes(moovChildren, 'trak')
    .map((trak) => describeTrack(trak.boxes))
    .filter((t): t is DemuxedTrack => t !== null);
  return { tracks, trexes };
}

/** One sample of a fragment, located by its absolute byte offset. */
export type SampleLocation = Omit<Sample, 'data'> & { offset: number; size: number };

/**
 * The samples a traf describes (§8.8.7–8.8.8), with defaults from tfhd and trex, and data
 * offsets resolved against the moof's position (default-base-is-moof, as ffmpeg writes).
 */
export function locateTrafSamples(traf: Box[], moofStart: number, trexes: readonly Trex[]): { trackId: number; samples: SampleLocation[] } {
  const tfhd = findBox(traf, 'tfhd');
  const tfdt = findBox(traf, 'tfdt');
  if (!tfhd || !tfdt) throw new BoxParseError(`fragment at ${moofStart} lacks tfhd or tfdt`);
  const trex = trexes.find((t) => t.trackId === tfhd.trackId);
  const base = tfhd.baseDataOffset !== undefined ? Number(tfhd.baseDataOffset) : moofStart;
  let dts = Number(tfdt.baseMediaDecodeTime);
  const samples: SampleLocation[] = [];
  for (const trun of filterBoxes(traf, 'trun')) {
    let offset = base + (trun.dataOffset ?? 0);
    trun.samples.forEach((entry, index) => {
      const flags =
        index === 0 && trun.firstSampleFlags !== undefined ? trun.firstSampleFlags : (entry.flags ?? tfhd.defaultSampleFlags ?? trex?.defaultSampleFlags ?? 0);
      const duration = entry.duration ?? tfhd.defaultSampleDuration ?? trex?.defaultSampleDuration ?? 0;
      const size = entry.size ?? tfhd.defaultSampleSize ?? trex?.defaultSampleSize ?? 0;
      samples.push({ dts, duration, cto: entry.compositionTimeOffset ?? 0, isSync: isSyncSampleFlags(flags), offset, size });
      offset += size;
      dts += duration;
    });
  }
  return { trackId: tfhd.trackId, samples };
}

export async function openFragmentedMp4(path: string): Promise<FragmentedMp4> {
  const file = await open(path, 'r');
  try {
    const fileSize = (await file.stat()).size;
    let moov: Box[] | undefined;
    for await (const box of topLevelBoxes(file, fileSize)) {
      if (box.type === 'moov') {
        moov = parseBoxes(await readAt(file, box.start, box.size));
        break;
      }
    }
    const moovBox = moov?.[0];
    if (!moovBox || moovBox.type !== 'moov') throw new BoxParseError(`${path} has no moov box`);
    const { tracks, trexes } = tracksOf(moovBox.boxes);
    const wanted = new Set(tracks.map((t) => t.trackId));

    async function* fragments(): AsyncGenerator<{ trackId: number; samples: Sample[] }> {
      for await (const box of topLevelBoxes(file, fileSize)) {
        if (box.type !== 'moof') continue;
        const moof = parseBoxes(await readAt(file, box.start, box.size))[0]!;
        if (moof.type !== 'moof') continue;
        for (const traf of filterBoxes(moof.boxes, 'traf')) {
          const located = locateTrafSamples(traf.boxes, box.start, trexes);
          if (!wanted.has(located.trackId) || located.samples.length === 0) continue;
          const first = located.samples[0]!.offset;
          const last = located.samples[located.samples.length - 1]!;
          const data = await readAt(file, first, last.offset + last.size - first);
          const samples = located.samples.map(({ offset, size, ...timing }) => ({ ...timing, data: data.subarray(offset - first, offset - first + size) }));
          yield { trackId: located.trackId, samples };
        }
      }
    }

    return { tracks, fragments, close: () => file.close() };
  } catch (error) {
    await file.close();
    throw error;
  }
}
