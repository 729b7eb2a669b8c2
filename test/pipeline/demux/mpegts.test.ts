import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAvcConfig, parseSpsDimensions } from '../../../src/pipeline/codecs/h264.js';
import { parseAudioSpecificConfig } from '../../../src/pipeline/codecs/aac.js';
import { TsDemuxer, tsPacketSize, type TsAccessUnit } from '../../../src/pipeline/demux/mpegts.js';
import { tools } from '../../helpers/media.js';

const dir = mkdtempSync(join(tmpdir(), 'weir-ts-'));

function makeTs(name: string, extra: string[] = []): Buffer {
  const path = join(dir, name);
  execFileSync(tools.ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=426x240:rate=25', '-f', 'lavfi', '-i', 'sine=sample_rate=48000',
    '-t', '2', '-c:v', 'libx264', '-bf', '2', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', ...extra, '-f', 'mpegts', path,
  ]);
  return readFileSync(path);
}

function demux(bytes: Uint8Array, chunkSize = 1316) {
  const units: TsAccessUnit[] = [];
  const demuxer = new TsDemuxer((unit) => units.push(unit));
  for (let i = 0; i < bytes.length; i += chunkSize) demuxer.push(bytes.subarray(i, i + chunkSize));
  demuxer.flush();
  return { units, stats: demuxer.stats };
}

t.test('H.264 and AAC come out of a real transport stream as timed samples with their configurations', async (t) => {
  const { units, stats } = demux(makeTs('plain.ts'), 1316);
  const video = units.filter((u) => u.kind === 'video') as Extract<TsAccessUnit, { kind: 'video' }>[];
  const audio = units.filter((u) => u.kind === 'audio') as Extract<TsAccessUnit, { kind: 'audio' }>[];
  t.equal(video.length, 50, 'every frame of 2 s at 25 fps');
  t.ok(audio.length >= 90 && audio.length <= 96, `about 2 s of AAC frames (${audio.length})`);
  t.equal(stats.continuityErrors, 0);
  t.ok(video[0]!.keyframe, 'the first frame is a keyframe');
  t.equal(video.filter((v) => v.keyframe).length, 2, 'a keyframe per second');
  t.ok(video.every((v, i) => i === 0 || v.dts > video[i - 1]!.dts), 'decode times rise');
  t.ok(video.some((v) => v.pts > v.dts), 'B-frames keep their composition offsets');
  const config = units.find((u) => u.kind === 'video-config') as Extract<TsAccessUnit, { kind: 'video-config' }>;
  t.same(parseSpsDimensions(parseAvcConfig(config.avcC).sps[0]!), { width: 426, height: 240 });
  const asc = units.find((u) => u.kind === 'audio-config') as Extract<TsAccessUnit, { kind: 'audio-config' }>;
  t.match(parseAudioSpecificConfig(asc.asc), { objectType: 2, sampleRate: 48000 });
  t.ok([...video, ...audio].every((u) => u.timescale === 90_000), 'timed in the transport stream\'s own 90 kHz');
  t.same([...new Set(video.slice(1).map((v, i) => v.dts - video[i]!.dts))], [3600], 'frames 3600 ticks apart at 25 fps, as muxed');
});

t.test('timestamps are unwrapped past 2^33 (about 26.5 hours)', async (t) => {
  // 2^33 ticks is 95443.72 s and the muxer adds 1.4 s: with this offset the wrap falls mid-stream.
  const { units } = demux(makeTs('wrap.ts', ['-output_ts_offset', '95441.3']));
  const video = units.filter((u) => u.kind === 'video') as Extract<TsAccessUnit, { kind: 'video' }>[];
  t.equal(video.length, 50);
  t.ok(video.every((v, i) => i === 0 || v.dts > video[i - 1]!.dts), 'decode times keep rising across the wrap');
  t.ok(video[video.length - 1]!.dts > 2 ** 33, 'and go past 2^33');
});

t.test('a lost packet counts as a continuity error, garbage is skipped, and nothing throws', async (t) => {
  const bytes = makeTs('lossy.ts');
  const lossy = Buffer.concat([bytes.subarray(0, tsPacketSize * 40), bytes.subarray(tsPacketSize * 41)]);
  t.ok(demux(lossy).stats.continuityErrors >= 1, 'the missing packet is noticed');
  const garbage = Buffer.concat([Buffer.from('not a transport stream at all'), bytes.subarray(0, tsPacketSize * 100), Buffer.alloc(50, 0x47), bytes.subarray(tsPacketSize * 100)]);
  const result = demux(garbage, 777);
  t.ok(result.stats.resyncs > 0, 'the demuxer resynchronises on 0x47');
  t.ok(result.units.filter((u) => u.kind === 'video').length >= 45, 'and still finds the frames');
  const random = Buffer.alloc(188 * 500);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  t.doesNotThrow(() => demux(random));
});
