import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateMediaTools } from '../../src/pipeline/encode/ffmpeg.js';

export const tools = locateMediaTools();

export type SourceSpec = {
  width: number;
  height: number;
  seconds: number;
  fps?: number;
  audio?: boolean;
  /** Display rotation written as container metadata, as phones do. */
  rotate?: 90 | 270;
  container?: 'mp4' | 'mkv';
};

const cacheDir = join(tmpdir(), 'weir-test-media');

/** A short test-pattern source made with ffmpeg (cached by its parameters for this machine). */
export function makeSource(spec: SourceSpec): string {
  mkdirSync(cacheDir, { recursive: true });
  const fps = spec.fps ?? 30;
  const audio = spec.audio ?? true;
  const container = spec.container ?? 'mp4';
  const name = `src-${spec.width}x${spec.height}-${spec.seconds}s-${fps}fps-${audio ? 'a' : 'na'}-r${spec.rotate ?? 0}.${container}`;
  const path = join(cacheDir, name);
  if (existsSync(path)) return path;
  const tmp = `${path}.${process.pid}.tmp.${container}`;
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=${fps}`];
  if (audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  args.push('-t', String(spec.seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p');
  if (audio) args.push('-c:a', 'aac', '-b:a', '96k');
  args.push(tmp);
  execFileSync(tools.ffmpeg, args);
  if (spec.rotate) {
    // This ffmpeg keeps a rotate tag only on a stream copy, as a phone's file would carry it.
    const rotated = `${tmp}.rot.${container}`;
    execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-i', tmp, '-map', '0', '-c', 'copy', '-metadata:s:v:0', `rotate=${spec.rotate}`, rotated]);
    execFileSync('mv', [rotated, tmp]);
  }
  execFileSync('mv', [tmp, path]);
  return path;
}

export type DecodeResult = { videoFrames: number; audioFrames: number; width: number; height: number; errors: string };

/** Decodes every frame of a file (ffprobe -count_frames); stderr at level "error" lists decode errors. */
export function decode(path: string): DecodeResult {
  const result = spawnSync(
    tools.ffprobe,
    ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames,width,height', '-of', 'json', path],
    { encoding: 'utf8' },
  );
  const streams = (JSON.parse(result.stdout || '{"streams":[]}') as { streams: { codec_type: string; nb_read_frames?: string; width?: number; height?: number }[] }).streams;
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  return {
    videoFrames: Number(video?.nb_read_frames ?? 0),
    audioFrames: Number(audio?.nb_read_frames ?? 0),
    width: video?.width ?? 0,
    height: video?.height ?? 0,
    errors: result.stderr.trim(),
  };
}

/**
 * Where a file's first audio and video packets present, in seconds, as ffprobe reads them with
 * the edit list applied: primed audio that is trimmed presents before 0.
 */
export function firstPresentation(path: string): { audio: number | null; video: number | null } {
  const first = (stream: 'a' | 'v') => {
    const result = spawnSync(tools.ffprobe, ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=pts_time', '-read_intervals', '%+#1', '-of', 'csv=p=0', path], { encoding: 'utf8' });
    const value = Number.parseFloat(result.stdout.trim().split('\n')[0] ?? '');
    return Number.isFinite(value) ? value : null;
  };
  return { audio: first('a'), video: first('v') };
}

/** One real H.264 keyframe as the live pipeline holds it: an AVCC sample (4-byte lengths) and its avcC record. */
export function h264Keyframe(width: number, height: number): { avcC: Uint8Array; sample: Uint8Array } {
  const annexB = execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-frames:v', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-f', 'h264', 'pipe:1']);
  const nals: Buffer[] = [];
  let start = -1;
  for (let i = 0; i + 3 <= annexB.length; i++) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1) {
      if (start >= 0) nals.push(annexB.subarray(start, annexB[i - 1] === 0 ? i - 1 : i));
      start = i + 3;
    }
  }
  nals.push(annexB.subarray(start));
  const sps = nals.find((nal) => (nal[0]! & 0x1f) === 7)!;
  const pps = nals.find((nal) => (nal[0]! & 0x1f) === 8)!;
  const length16 = (n: number) => [n >> 8, n & 0xff];
  const avcC = Uint8Array.from([1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1, ...length16(sps.length), ...sps, 1, ...length16(pps.length), ...pps]);
  const frame = nals.filter((nal) => [5, 6].includes(nal[0]! & 0x1f));
  const sample = Buffer.concat(frame.flatMap((nal) => [Buffer.from([nal.length >>> 24, (nal.length >>> 16) & 0xff, (nal.length >>> 8) & 0xff, nal.length & 0xff]), nal]));
  return { avcC, sample };
}

/** The picture size a baseline JPEG declares in its SOF marker. */
export function jpegSize(jpeg: Uint8Array): { width: number; height: number } | null {
  for (let i = 2; i + 9 < jpeg.length; ) {
    if (jpeg[i] !== 0xff) return null;
    const marker = jpeg[i + 1]!;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    if (marker >= 0xc0 && marker <= 0xc2) return { height: (jpeg[i + 5]! << 8) | jpeg[i + 6]!, width: (jpeg[i + 7]! << 8) | jpeg[i + 8]! };
    i += 2 + length;
  }
  return null;
}

/** Whether ffmpeg decodes an image without an error. */
export function decodeJpeg(jpeg: Uint8Array): boolean {
  try {
    execFileSync(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-xerror', '-f', 'image2pipe', '-c:v', 'mjpeg', '-i', 'pipe:0', '-f', 'null', '-'], { input: jpeg, stdio: ['pipe', 'ignore', 'pipe'] });
    return true;
  } catch {
    return false;
  }
}
