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
