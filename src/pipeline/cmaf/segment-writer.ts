import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Chunk, ChunkSink } from './chunker.js';
import { encodeFragment } from './fragment.js';

/** What manifest writers learn of each segment once it is on disk. */
export type SegmentRecord = { number: number; startDts: number; duration: number; bytes: number };

export const initSegmentName = 'init.mp4';
export const segmentName = (number: number): string => `seg-${number}.m4s`;
/** The same names as URI templates, for DASH. */
export const segmentTemplate = 'seg-$Number$.m4s';

/** The last stage: writes each chunk as one CMAF segment file and tells its listener. */
export class SegmentFileWriter implements ChunkSink {
  constructor(
    private readonly dir: string,
    private readonly onWritten: (record: SegmentRecord) => void,
  ) {}

  async chunk(chunk: Chunk): Promise<void> {
    const fragment = encodeFragment({ sequenceNumber: chunk.number, samples: chunk.samples, withStyp: true });
    await mkdir(this.dir, { recursive: true });
    await writeFile(join(this.dir, segmentName(chunk.number)), Buffer.concat([fragment.header, ...fragment.payload]));
    this.onWritten({ number: chunk.number, startDts: chunk.startDts, duration: chunk.duration, bytes: fragment.byteLength });
  }

  async flush(): Promise<void> {}
}
