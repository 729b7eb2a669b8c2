import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/logger.js';
import { ffmpegThumbnailCutter } from '../../../src/pipeline/live/thumbnail-cutter.js';
import { LiveThumbnails } from '../../../src/pipeline/live/thumbnails.js';
import { liveImageStreamInf, liveThumbnailAdaptationSet, writeLiveImagePlaylist } from '../../../src/pipeline/manifest/live-trick-play.js';
import { parseM3u8 } from '../../helpers/playback.js';
import { h264Keyframe, jpegSize, tools } from '../../helpers/media.js';

const keyframe = h264Keyframe(640, 360);
const second = 90_000; // broadcast ticks
const cut = ffmpegThumbnailCutter(tools.ffmpeg);
const epoch = Date.UTC(2026, 11, 2, 12, 0, 0);

function thumbnails(options: { intervalMs?: number; windowSeconds?: number; log?: ReturnType<typeof createLogger> } = {}) {
  return new LiveThumbnails({ intervalMs: options.intervalMs ?? 2000, windowSeconds: options.windowSeconds ?? 30, tileWidth: 320, cut, log: options.log ?? createLogger('silent') });
}

/** A keyframe at `seconds` of broadcast time in session `sessionStartMs`, its cut awaited. */
async function at(live: LiveThumbnails, seconds: number, sessionStartMs = 0): Promise<void> {
  live.keyframe(keyframe.avcC, keyframe.sample, Math.round(seconds * second), epoch + seconds * 1000, sessionStartMs);
  await live.settled();
}

t.test('one thumbnail per interval slot, from the first keyframe in it, starting at the slot and lasting until the next', async (t) => {
  const live = thumbnails();
  for (const seconds of [0, 1, 1.9, 2.5, 3, 4.2, 8.1]) await at(live, seconds);
  t.same(
    live.list().map(({ number, startTicks, durationTicks, pdtMs }) => ({ number, start: startTicks / second, duration: durationTicks / second, pdt: (pdtMs - epoch) / 1000 })),
    [
      { number: 1, start: 0, duration: 2, pdt: 0 },
      { number: 2, start: 2, duration: 2, pdt: 2 },
      { number: 3, start: 4, duration: 4, pdt: 4 }, // no keyframe in the 6 s slot: it covers that one too
      { number: 4, start: 8, duration: 2, pdt: 8 },
    ],
  );
  t.same(jpegSize(live.atSlot(0, 2)!.bytes), { width: 320, height: 180 }, 'each a JPEG tile of the picture');
  t.equal(live.atSlot(0, 3), live.atSlot(0, 2), 'the slot without a keyframe shows the one before');
  t.equal(live.atSlot(0, 4)?.number, 4);
  t.equal(live.atSlot(0, 5), undefined, 'a slot not reached yet has none');
});

t.test('a keyframe arriving while a cut runs is skipped, not queued', async (t) => {
  const live = thumbnails();
  live.keyframe(keyframe.avcC, keyframe.sample, 0, epoch, 0);
  live.keyframe(keyframe.avcC, keyframe.sample, 2 * second, epoch + 2000, 0);
  await live.settled();
  t.same(live.list().map((item) => item.startTicks), [0], 'the second slot was skipped while the first was cut');
  await at(live, 4);
  t.same(live.list().map((item) => item.durationTicks / second), [4, 2], 'the first covers the skipped slot');
});

t.test('the window keeps what the DVR window keeps, and numbers go on', async (t) => {
  const live = thumbnails({ windowSeconds: 10 });
  for (let seconds = 0; seconds <= 30; seconds += 2) await at(live, seconds);
  t.same(live.list().map((item) => item.startTicks / second), [20, 22, 24, 26, 28, 30]);
  t.equal(live.list()[0]!.number, 11);
  t.equal(live.atSlot(0, 9), undefined, 'one that left the window is gone');
  t.equal(live.atSlot(0, 10)?.startTicks, 20 * second);
});

t.test('the live image playlist: 1×1 tiles with program date-times, a discontinuity at a new publisher session, closed at the end', async (t) => {
  const live = thumbnails({ windowSeconds: 10 });
  for (const seconds of [0, 2, 4]) await at(live, seconds);
  // The publisher returns: its session starts at 5.2 s of broadcast time (the slot from 4 s is cut short).
  await at(live, 5.3, 5200);
  await at(live, 6.1, 5200); // the same slot of the new session: skipped
  await at(live, 7.3, 5200);
  const text = writeLiveImagePlaylist(live);
  t.match(text, /#EXT-X-IMAGES-ONLY/);
  t.match(text, /#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=1x1,DURATION=2\.000\n/);
  const playlist = parseM3u8(text);
  t.same(
    playlist.segments.map((s) => ({ uri: s.uri, duration: s.duration, discontinuity: s.discontinuity ?? false })),
    [
      { uri: 'live-0-0.jpg', duration: 2, discontinuity: false },
      { uri: 'live-0-1.jpg', duration: 2, discontinuity: false },
      { uri: 'live-0-2.jpg', duration: 1.2, discontinuity: false },
      { uri: 'live-5200-0.jpg', duration: 2, discontinuity: true },
      { uri: 'live-5200-1.jpg', duration: 2, discontinuity: false },
    ],
  );
  t.same(playlist.segments.map((s) => (s.programDateTime! - epoch) / 1000), [0, 2, 4, 5.2, 7.2]);
  t.equal(playlist.mediaSequence, 1);
  t.equal(playlist.endList, undefined, 'open while live');
  t.match(liveImageStreamInf(live), /^#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=\d+,RESOLUTION=320x180,CODECS="jpeg",URI="tiles\/images\.m3u8"$/);

  t.match(liveThumbnailAdaptationSet(live, 2, 0), /<SegmentTemplate media="tiles\/live-0-\$Number\$\.jpg" timescale="90000" duration="180000" startNumber="0" presentationTimeOffset="0"\/>/, 'the first Period: its slots by number');
  t.match(liveThumbnailAdaptationSet(live, 2, 5200), /media="tiles\/live-5200-\$Number\$\.jpg" timescale="90000" duration="180000" startNumber="0" presentationTimeOffset="468000"/, 'the second: from the session start');
  t.equal(liveThumbnailAdaptationSet(live, 2, 99_000), '', 'a Period without thumbnails gets no set');
  t.equal(live.atSlot(0, 2)?.number, 3, "the first session's last slot is still there");
  t.equal(live.atSlot(0, 3), undefined, 'but none past the session end');

  await at(live, 30, 5200);
  t.equal(parseM3u8(writeLiveImagePlaylist(live)).segments[0]?.uri, 'live-5200-1.jpg', 'sliding on');
  t.match(writeLiveImagePlaylist(live), /#EXT-X-DISCONTINUITY-SEQUENCE:1\n/, 'the discontinuity that slid out is counted');
  await live.end();
  t.match(writeLiveImagePlaylist(live), /#EXT-X-ENDLIST\n$/);
  await at(live, 40);
  t.equal(live.list().at(-1)!.startTicks, 29.2 * second, 'nothing is cut after the end (the last is slot 12 of the session from 5.2 s)');
});

t.test('failed cuts cost one log line per hundred, and the next slot tries again', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString().trim().split('\n')), done()) });
  const live = thumbnails({ log: createLogger('info', sink) });
  const garbage = Buffer.from([0, 0, 0, 8, 0x65, 1, 2, 3, 4, 5, 6, 7]);
  for (let slot = 0; slot < 3; slot++) {
    live.keyframe(keyframe.avcC, garbage, slot * 2 * second, epoch, 0);
    await live.settled();
  }
  t.equal(live.list().length, 0);
  t.equal(lines.filter((line) => line.includes('a live thumbnail could not be cut')).length, 1, 'three failures, one line');
  await at(live, 6);
  t.equal(live.list().length, 1, 'a good keyframe after them is cut');
});
