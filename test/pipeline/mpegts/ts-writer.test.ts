import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chunker } from '../../../src/pipeline/cmaf/chunker.js';
import type { SegmentRecord } from '../../../src/pipeline/cmaf/segment-writer.js';
import { openFragmentedMp4 } from '../../../src/pipeline/demux/fmp4.js';
import { TsSegmentWriter } from '../../../src/pipeline/mpegts/ts-writer.js';
import { tsSegmentName } from '../../../src/layout.js';
import { tools } from '../../helpers/media.js';

/** Every packet of a file as ffprobe reads it: stream kind, pts and dts in seconds. */
function packets(path: string): { kind: string; pts: number; dts: number }[] {
  const out = execFileSync(tools.ffprobe, ['-v', 'error', '-show_entries', 'packet=codec_type,pts_time,dts_time', '-of', 'csv=p=0', path], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => /^(video|audio),/.test(line)) // side-data rows come out blank
    .map((line) => {
      const [kind, pts, dts] = line.split(',');
      return { kind: kind!, pts: Number(pts), dts: Number(dts) };
    });
}

t.test('an encoded title written as transport stream segments: video and audio start together, decoding never after presenting, every segment readable alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-ts-writer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // As the encode stage makes them: fragmented MP4, B-frames (composition offsets), AAC with its priming.
  const encoded = join(dir, 'encoded.mp4');
  execFileSync(tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '5', '-c:v', 'libx264', '-bf', '2', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', encoded]);
  const input = await openFragmentedMp4(encoded);
  const files: Record<string, string[]> = {};
  for (const track of input.tracks) {
    const out = join(dir, track.kind);
    const records: SegmentRecord[] = [];
    const withPriming = track.kind === 'audio' ? { ...track, mediaStart: 1024 } : track;
    const chunker = new Chunker(2 * track.timescale, new TsSegmentWriter(out, withPriming, (r) => records.push(r)));
    for await (const fragment of input.fragments()) if (fragment.trackId === track.trackId) await chunker.push(fragment.samples);
    await chunker.flush();
    files[track.kind] = records.map((r) => join(out, tsSegmentName(r.number)));
  }
  await input.close();
  t.ok(files.video!.length >= 3 && files.audio!.length >= 3, `segments written (${files.video!.length} video, ${files.audio!.length} audio)`);
  for (const file of [...files.video!, ...files.audio!]) {
    const bytes = readFileSync(file);
    t.ok(bytes.length % 188 === 0 && bytes[0] === 0x47 && bytes[188] === 0x47, `${file.slice(dir.length)}: whole 188-byte packets`);
    t.ok(packets(file).length > 0, `${file.slice(dir.length)}: readable on its own`);
  }
  const whole = (kind: string) => {
    const path = join(dir, `${kind}.ts`);
    writeFileSync(path, Buffer.concat(files[kind]!.map((f) => readFileSync(f))));
    return packets(path);
  };
  const video = whole('video');
  const audio = whole('audio');
  t.ok(video.every((p) => p.dts <= p.pts), 'no frame decodes after it presents');
  t.ok(video.some((p) => p.dts < p.pts), 'B-frame reordering is kept');
  const firstVideo = Math.min(...video.map((p) => p.pts));
  const heardFrom = audio[0]!.pts + 1024 / 48000;
  t.ok(Math.abs(heardFrom - firstVideo) < 0.001, `audio after its priming starts with the video (${heardFrom.toFixed(4)} vs ${firstVideo.toFixed(4)} s)`);
  const errors = execFileSync(tools.ffmpeg, ['-v', 'error', '-i', join(dir, 'video.ts'), '-f', 'null', '-'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.equal(errors.trim(), '', 'the joined video decodes without an error (continuity counters run on)');
});
