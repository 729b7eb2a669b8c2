import t from 'tap';
import { Chunker, type Chunk } from '../../../src/pipeline/cmaf/chunker.js';
import type { Sample } from '../../../src/pipeline/media.js';

function collect() {
  const chunks: Chunk[] = [];
  let flushed = 0;
  return { chunks, sink: { chunk: async (c: Chunk) => void chunks.push(c), flush: async () => void flushed++ }, flushed: () => flushed };
}

/** 30 fps at timescale 90000 (3000 per frame), a keyframe every `gop` frames, 2 frames of reorder delay. */
function frames(count: number, gop: number): Sample[] {
  return Array.from({ length: count }, (_, i) => ({ dts: i * 3000, duration: 3000, cto: i % gop === 0 ? 6000 : 3000, isSync: i % gop === 0, data: new Uint8Array([i]) }));
}

t.test('segments start at the first keyframe at or after each multiple of the target', async (t) => {
  const { chunks, sink, flushed } = collect();
  const chunker = new Chunker(90000 * 2, sink);
  await chunker.push(frames(150, 45)); // keyframes at 0, 1.5, 3, 4.5 s
  await chunker.flush();
  t.same(chunks.map((c) => [c.number, c.startDts / 3000, c.samples.length]), [[1, 0, 90], [2, 90, 45], [3, 135, 15]]);
  t.ok(chunks.every((c) => c.samples[0]!.isSync), 'every segment opens with an independent sample');
  t.same(chunks.map((c) => c.duration), [90 * 3000, 45 * 3000, 15 * 3000], 'durations are exact integers in the timescale');
  t.equal(flushed(), 1, 'flush reaches the next stage');
});

t.test('composition offsets are shifted so presentation starts at decode time', async (t) => {
  const { chunks, sink } = collect();
  const chunker = new Chunker(90000, sink);
  await chunker.push(frames(60, 30));
  await chunker.flush();
  const first = chunks[0]!.samples;
  t.equal(first[0]!.cto, 0, 'the first sample presents at its decode time');
  t.equal(first[1]!.cto, -3000, 'later offsets keep their differences, negative where needed');
  t.equal(chunks[1]!.samples[0]!.cto, 0, 'every keyframe presents at its decode time');
});

t.test('numbering can start past 1 (for live segments)', async (t) => {
  const { chunks, sink } = collect();
  const chunker = new Chunker(90000, sink, 42);
  await chunker.push(frames(60, 30));
  await chunker.flush();
  t.same(chunks.map((c) => c.number), [42, 43]);
});

t.test('a target that is not a positive integer is refused, naming the value', async (t) => {
  t.throws(() => new Chunker(1.5, collect().sink), /positive integer in the track timescale, received 1.5/);
});
