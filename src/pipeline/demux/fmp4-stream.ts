import { filterBoxes } from '../bmff/boxes.js';
import { BoxReader, parseBoxes, readBoxHeader } from '../bmff/read.js';
import type { Sample } from '../media.js';
import { locateTrafSamples, tracksOf, type DemuxedTrack } from './fmp4.js';

export type Fmp4StreamEvent = { kind: 'tracks'; tracks: DemuxedTrack[] } | { kind: 'samples'; trackId: number; samples: Sample[] };

/**
 * Fragmented MP4 arriving over a pipe (ffmpeg's live output): boxes are parsed as soon as they
 * are whole; a fragment's samples are emitted when its mdat has arrived.
 */
export class Fmp4StreamParser {
  private buffer: Buffer = Buffer.alloc(0);
  private trexes: ReturnType<typeof tracksOf>['trexes'] = [];
  private pendingMoof: Buffer | null = null;

  constructor(private readonly emit: (event: Fmp4StreamEvent) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 8) return;
      const header = readBoxHeader(new BoxReader(this.buffer.subarray(0, Math.min(16, this.buffer.length))));
      if (this.buffer.length < header.size) return;
      const box = this.buffer.subarray(0, header.size);
      this.buffer = this.buffer.subarray(header.size);
      this.onBox(header.type, box);
    }
  }

  private onBox(type: string, bytes: Buffer): void {
    if (type === 'moov') {
      const moov = parseBoxes(bytes)[0];
      if (moov?.type !== 'moov') return;
      const { tracks, trexes } = tracksOf(moov.boxes);
      this.trexes = trexes;
      this.emit({ kind: 'tracks', tracks });
    } else if (type === 'moof') {
      this.pendingMoof = Buffer.from(bytes);
    } else if (type === 'mdat' && this.pendingMoof) {
      // Offsets count from the moof's first byte; the mdat follows it directly.
      const joined = Buffer.concat([this.pendingMoof, bytes]);
      const moof = parseBoxes(this.pendingMoof)[0];
      this.pendingMoof = null;
      if (moof?.type !== 'moof') return;
      for (const traf of filterBoxes(moof.boxes, 'traf')) {
        const located = locateTrafSamples(traf.boxes, 0, this.trexes);
        const samples = located.samples.map(({ offset, size, ...timing }) => ({ ...timing, data: joined.subarray(offset, offset + size) }));
        this.emit({ kind: 'samples', trackId: located.trackId, samples });
      }
    }
  }
}
