import { open, type FileHandle } from 'node:fs/promises';
import { filterBoxes, findBox, isSyncSampleFlags, type Box } from '../bmff/boxes.js';
import { BoxParseError, BoxReader, parseBoxes, readBoxHeader } from '../bmff/read.js';
import { aacCodecString, avcCodecString } from '../codecs.js';
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
    };
  }
  return null; // a track we do not package (timed text, data): skipped
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
    if (!moov) throw new BoxParseError(`${path} has no moov box`);
    const moovBox = moov[0]!;
    const moovChildren = 'boxes' in moovBox ? moovBox.boxes : [];
    const mvex = findBox(moovChildren, 'mvex');
    const trexes = mvex ? filterBoxes(mvex.boxes, 'trex') : [];
    const tracks = filterBoxes(moovChildren, 'trak')
      .map((trak) => describeTrack(trak.boxes))
      .filter((t): t is DemuxedTrack => t !== null);
    const wanted = new Set(tracks.map((t) => t.trackId));

    async function* fragments(): AsyncGenerator<{ trackId: number; samples: Sample[] }> {
      for await (const box of topLevelBoxes(file, fileSize)) {
        if (box.type !== 'moof') continue;
        const moofBytes = await readAt(file, box.start, box.size);
        const moof = parseBoxes(moofBytes)[0]!;
        if (moof.type !== 'moof') continue;
        for (const traf of filterBoxes(moof.boxes, 'traf')) {
          const tfhd = findBox(traf.boxes, 'tfhd');
          const tfdt = findBox(traf.boxes, 'tfdt');
          if (!tfhd || !tfdt) throw new BoxParseError(`fragment at ${box.start} lacks tfhd or tfdt`);
          if (!wanted.has(tfhd.trackId)) continue;
          const trex = trexes.find((t) => t.trackId === tfhd.trackId);
          const base = tfhd.baseDataOffset !== undefined ? Number(tfhd.baseDataOffset) : box.start;
          let dts = Number(tfdt.baseMediaDecodeTime);
          const samples: Sample[] = [];
          for (const trun of filterBoxes(traf.boxes, 'trun')) {
            const dataStart = base + (trun.dataOffset ?? 0);
            const sizes = trun.samples.map((s) => s.size ?? tfhd.defaultSampleSize ?? trex?.defaultSampleSize ?? 0);
            const total = sizes.reduce((a, b) => a + b, 0);
            const data = await readAt(file, dataStart, total);
            let offset = 0;
            trun.samples.forEach((entry, index) => {
              const flags =
                index === 0 && trun.firstSampleFlags !== undefined
                  ? trun.firstSampleFlags
                  : (entry.flags ?? tfhd.defaultSampleFlags ?? trex?.defaultSampleFlags ?? 0);
              const duration = entry.duration ?? tfhd.defaultSampleDuration ?? trex?.defaultSampleDuration ?? 0;
              const size = sizes[index]!;
              samples.push({
                dts,
                duration,
                cto: entry.compositionTimeOffset ?? 0,
                isSync: isSyncSampleFlags(flags),
                data: data.subarray(offset, offset + size),
              });
              offset += size;
              dts += duration;
            });
          }
          yield { trackId: tfhd.trackId, samples };
        }
      }
    }

    return { tracks, fragments, close: () => file.close() };
  } catch (error) {
    await file.close();
    throw error;
  }
}
