import t from 'tap';
import { ffmpegThumbnailCutter, keyframeAnnexB, pictureSize, tileFor } from '../../../src/pipeline/live/thumbnail-cutter.js';
import { h264Keyframe, jpegSize, tools } from '../../helpers/media.js';

const keyframe = h264Keyframe(640, 360);

t.test('a keyframe becomes an Annex B stream: parameter sets first, then its NAL units, each after a start code', async (t) => {
  const stream = Buffer.from(keyframeAnnexB(keyframe.avcC, keyframe.sample));
  const units = stream.toString('latin1').split('\u0000\u0000\u0000\u0001').slice(1);
  t.same(units.map((unit) => unit.charCodeAt(0) & 0x1f).slice(0, 2), [7, 8], 'SPS, then PPS');
  t.ok(units.map((unit) => unit.charCodeAt(0) & 0x1f).includes(5), 'then the IDR slice');
  t.equal(stream.length, keyframe.sample.length + (keyframe.avcC.length - 11) + 2 * 4, 'every byte kept, length prefixes swapped for start codes');
});

t.test('a sample whose NAL length runs past its end is refused, not read past', async (t) => {
  t.throws(() => keyframeAnnexB(keyframe.avcC, keyframe.sample.subarray(0, keyframe.sample.length - 1)), RangeError);
});

t.test('tiles keep the picture aspect at an even height', async (t) => {
  t.same(pictureSize(keyframe.avcC), { width: 640, height: 360 });
  t.same(tileFor({ width: 640, height: 360 }, 320), { width: 320, height: 180 });
  t.same(tileFor({ width: 1080, height: 1920 }, 320), { width: 320, height: 568 });
  t.same(tileFor({ width: 720, height: 576 }, 320), { width: 320, height: 256 });
});

t.test('ffmpeg cuts a JPEG of the tile size from one real keyframe', async (t) => {
  const jpeg = await ffmpegThumbnailCutter(tools.ffmpeg)(keyframe.avcC, keyframe.sample, { width: 320, height: 180 });
  t.same([...jpeg.subarray(0, 2)], [0xff, 0xd8], 'a JPEG');
  t.same(jpegSize(jpeg), { width: 320, height: 180 });
});

t.test('a keyframe ffmpeg cannot decode is a rejected cut with ffmpeg’s reason', async (t) => {
  const garbage = Buffer.from([0, 0, 0, 8, 0x65, 1, 2, 3, 4, 5, 6, 7]);
  await t.rejects(ffmpegThumbnailCutter(tools.ffmpeg)(keyframe.avcC, garbage, { width: 320, height: 180 }), /ffmpeg cut no thumbnail/);
});
