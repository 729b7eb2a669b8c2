import t from 'tap';
import { chooseLadder } from '../../../src/pipeline/encode/ladder.js';
import type { SourceFacts } from '../../../src/pipeline/encode/probe.js';

const facts = (width: number, height: number, fps = { num: 30, den: 1 }, audio = true): SourceFacts => ({
  sizeBytes: 1,
  container: 'mp4',
  durationMs: 1000,
  video: { codec: 'h264', width, height, rotation: 0, frameRate: fps },
  audio: audio ? { codec: 'aac', channels: 2, sampleRate: 48000 } : null,
});

const sizes = (f: SourceFacts) => chooseLadder(f).video.map((r) => `${r.width}x${r.height}`);

t.test('a 1080p source gets the four rungs, highest first', async (t) => {
  t.same(sizes(facts(1920, 1080)), ['1920x1080', '1280x720', '854x480', '640x360']);
});

t.test('a 4K source is capped at 1080p and nothing is ever upscaled', async (t) => {
  t.same(sizes(facts(3840, 2160)), ['1920x1080', '1280x720', '854x480', '640x360']);
  t.same(sizes(facts(960, 540)), ['854x480', '640x360']);
});

t.test('portrait sources are laddered by their short side', async (t) => {
  t.same(sizes(facts(1080, 1920)), ['1080x1920', '720x1280', '480x854', '360x640']);
});

t.test('a source below the lowest rung keeps its own size, made even', async (t) => {
  t.same(sizes(facts(321, 181)), ['322x182']);
  t.ok(chooseLadder(facts(321, 181)).video[0]!.bitrate >= 150_000);
});

t.test('every dimension is even and the aspect ratio holds within a pixel', async (t) => {
  for (const [w, h] of [[1918, 1078], [1440, 1080], [720, 1280], [1000, 750]] as const) {
    for (const r of chooseLadder(facts(w, h)).video) {
      t.equal(r.width % 2, 0);
      t.equal(r.height % 2, 0);
      t.ok(Math.abs(r.width / r.height - w / h) < 2 / Math.min(r.width, r.height) + 0.01, `${r.width}x${r.height} keeps ${w}x${h}`);
    }
  }
});

t.test('frame rates above 60 are halved and audio follows the source', async (t) => {
  t.same(chooseLadder(facts(1280, 720, { num: 120, den: 1 })).video[0]!.frameRate, { num: 120, den: 2 });
  t.same(chooseLadder(facts(1280, 720, { num: 30000, den: 1001 })).video[0]!.frameRate, { num: 30000, den: 1001 });
  t.equal(chooseLadder(facts(1280, 720, undefined, false)).audio, null);
  t.match(chooseLadder(facts(1280, 720)).audio, { channels: 2, sampleRate: 48000 });
});
