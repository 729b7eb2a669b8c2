import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBox } from '../../../src/pipeline/bmff/boxes.js';
import { parseAudioSpecificConfig } from '../../../src/pipeline/codecs/aac.js';
import { parseAvcConfig, parseSpsDimensions, unescapeRbsp } from '../../../src/pipeline/codecs/h264.js';
import { openFragmentedMp4 } from '../../../src/pipeline/demux/fmp4.js';
import { tools } from '../../helpers/media.js';

const dir = mkdtempSync(join(tmpdir(), 'weir-codecs-'));

/** Encodes a few frames with ffmpeg into fragmented MP4 and returns the decoder configurations. */
async function configsOf(width: number, height: number, profile: string) {
  const path = join(dir, `${width}x${height}-${profile}.mp4`);
  execFileSync(tools.ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=25`, '-f', 'lavfi', '-i', 'sine=sample_rate=44100',
    '-t', '0.4', '-c:v', 'libx264', '-profile:v', profile, '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ac', '1',
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov', path,
  ]);
  const file = await openFragmentedMp4(path);
  await file.close();
  const video = file.tracks.find((tr) => tr.kind === 'video')!;
  const audio = file.tracks.find((tr) => tr.kind === 'audio')!;
  const entry = video.sampleEntry as { boxes: import('../../../src/pipeline/bmff/boxes.js').Box[] };
  const esds = findBox((audio.sampleEntry as { boxes: import('../../../src/pipeline/bmff/boxes.js').Box[] }).boxes, 'esds')!;
  return { avcC: findBox(entry.boxes, 'avcC')!.record, asc: esds.decoderSpecificInfo };
}

t.test('the SPS of real ffmpeg output gives the picture size, cropping included', async (t) => {
  for (const [width, height, profile] of [[1280, 720, 'high'], [854, 480, 'main'], [640, 360, 'baseline'], [322, 182, 'high']] as const) {
    const { avcC } = await configsOf(width, height, profile);
    const config = parseAvcConfig(avcC);
    t.equal(config.nalLengthSize, 4);
    t.equal(config.sps.length, 1);
    t.equal(config.pps.length, 1);
    t.same(parseSpsDimensions(config.sps[0]!), { width, height }, `${width}x${height} ${profile}`);
  }
});

t.test('the AudioSpecificConfig gives object type, rate and channels', async (t) => {
  const { asc } = await configsOf(320, 240, 'high');
  t.same(parseAudioSpecificConfig(asc), { objectType: 2, sampleRate: 44100, channels: 1, samplesPerFrame: 1024 });
  t.same(parseAudioSpecificConfig(Uint8Array.of(0x11, 0x90)), { objectType: 2, sampleRate: 48000, channels: 2, samplesPerFrame: 1024 });
  t.throws(() => parseAudioSpecificConfig(Uint8Array.of(0x11)), /at least 2 bytes, received 1/);
});

t.test('emulation-prevention bytes are removed and malformed records refused', async (t) => {
  t.same([...unescapeRbsp(Uint8Array.of(0, 0, 3, 1, 0, 0, 3, 0))], [0, 0, 1, 0, 0, 0]);
  t.throws(() => parseAvcConfig(Uint8Array.of(1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 40, 0x67)), /runs past the end/);
  t.throws(() => parseAvcConfig(Uint8Array.of(0, 1, 2)), /not an AVCDecoderConfigurationRecord/);
});
