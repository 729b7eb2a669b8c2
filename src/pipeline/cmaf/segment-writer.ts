import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Chunk, ChunkSink } from './chunker.js';
import { encodeFragment } from './fragment.js';
import { segmentName } from '../../layout.js';

/** What manifest writers learn of each segment once it is on disk. */
export type SegmentRecord = { number: number; startDts: number; duration: number; bytes: number };

/**
 * The last stage: writes each chunk as one CMAF segment file (with senc/saiz/saio when the
 * chunk was encrypted) and tells its listener. `seal` transforms the written bytes whole
 * (HLS AES-128) before they reach the disk.
 */
export class SegmentFileWriter implements ChunkSink {
  constructor(
    private readonly dir: string,
    private readonly onWritten: (record: SegmentRecord) => void,
    private readonly seal?: (bytes: Buffer, number: number) => Buffer,
  ) {}

  async chunk(chunk: Chunk): Promise<void> {
    const fragment = encodeFragment({ sequenceNumber: chunk.number, samples: chunk.samples, withStyp: true, protection: chunk.protection });
    const written = Buffer.concat([fragment.header, ...fragment.payload]);
    const bytes = this.seal ? this.seal(written, chunk.number) : written;
    await mkdir(this.dir, { recursive: true });
    await writeFile(join(this.dir, segmentName(chunk.number)), bytes);
    this.onWritten({ number: chunk.number, startDts: chunk.startDts, duration: chunk.duration, bytes: bytes.length });
  }

  async flush(): Promise<void> {}
}
