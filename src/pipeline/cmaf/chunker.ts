import type { Sample } from '../media.js';
import type { FragmentProtection } from './fragment.js';

/**
 * A run of samples that starts at an independent sample and becomes one media segment; once
 * through the encryption stage, with the auxiliary information of its encrypted samples.
 */
export type Chunk = {
  number: number;
  samples: Sample[];
  startDts: number;
  duration: number;
  /** How far presentation was moved earlier (the first sample's composition offset); containers without negative offsets need it back. */
  compositionShift?: number;
  protection?: FragmentProtection;
};

/** The next stage after chunking (encryption, then the fMP4 writer), shaka-style. */
export type ChunkSink = {
  chunk(chunk: Chunk): Promise<void>;
  flush(): Promise<void>;
};

/**
 * Cuts a track into segments: a new one begins at the first independent sample at or after
 * each multiple of the target duration (counted from the track's first decode time). With
 * keyframes forced at those instants, every rendition cuts at the same times.
 */
export class Chunker {
  private pending: Sample[] = [];
  private origin: number | null = null;
  private emitted = 0;
  private compositionShift: number | null = null;

  constructor(
    private readonly targetDuration: number,
    private readonly next: ChunkSink,
    private readonly firstNumber = 1,
  ) {
    if (!Number.isInteger(targetDuration) || targetDuration <= 0) {
      throw new RangeError(`target duration must be a positive integer in the track timescale, received ${targetDuration}`);
    }
  }

  async push(samples: readonly Sample[]): Promise<void> {
    for (const raw of samples) {
      // Encoders delay presentation by the reorder depth; shifting every offset by the first
      // sample's makes presentation start at decode time, as CMAF asks, with no edit list.
      this.compositionShift ??= raw.cto;
      const sample = this.compositionShift === 0 ? raw : { ...raw, cto: raw.cto - this.compositionShift };
      this.origin ??= sample.dts;
      const boundary = this.origin + (this.emitted + 1) * this.targetDuration;
      if (this.pending.length > 0 && sample.isSync && sample.dts >= boundary) await this.emit();
      this.pending.push(sample);
    }
  }

  private async emit(): Promise<void> {
    const samples = this.pending;
    this.pending = [];
    const startDts = samples[0]!.dts;
    const last = samples[samples.length - 1]!;
    const number = this.firstNumber + this.emitted++;
    await this.next.chunk({ number, samples, startDts, duration: last.dts + last.duration - startDts, compositionShift: this.compositionShift ?? 0 });
  }

  async flush(): Promise<void> {
    if (this.pending.length > 0) await this.emit();
    await this.next.flush();
  }
}
