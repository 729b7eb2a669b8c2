import { join } from 'node:path';
import type { Ladder } from './ladder.js';

export type EncodeSettings = { preset: string; segmentSeconds: number; threads: number };

/** The file each rendition is encoded into (fragmented MP4, one track each). */
export function encodedFile(dir: string, renditionId: string): string {
  return join(dir, `${renditionId}.mp4`);
}

/**
 * Samples ffmpeg's AAC encoder primes each stream with (its initial padding). Fragmented MP4
 * output carries no edit list for them, so the packager writes one.
 */
export const aacEncoderDelaySamples = 1024;

const fragmentedMp4 = ['-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof'];

/**
 * One ffmpeg run for the whole ladder: the source is decoded once, split and scaled per
 * rendition. Keyframes are forced at every segment boundary with scene-cut off, so all
 * renditions cut at the same instants and players can switch between them at any segment.
 */
export function buildEncodeArgs(options: { source: string; outDir: string; ladder: Ladder; settings: EncodeSettings }): string[] {
  const { ladder, settings } = options;
  const rate = ladder.video[0]!.frameRate;
  const fps = `${rate.num}/${rate.den}`;
  const gop = Math.max(1, Math.round((rate.num / rate.den) * Math.min(2, settings.segmentSeconds)));
  const labels = ladder.video.map((_, i) => `[s${i}]`).join('');
  const scales = ladder.video.map((r, i) => `[s${i}]scale=${r.width}:${r.height}:flags=bicubic,setsar=1[${r.id}]`);
  const filter = [`[0:v:0]fps=${fps},format=yuv420p,split=${ladder.video.length}${labels}`, ...scales].join(';');

  const args = ['-hide_banner', '-nostdin', '-y', '-i', options.source, '-filter_complex', filter];
  if (settings.threads > 0) args.push('-threads', String(settings.threads));
  for (const r of ladder.video) {
    args.push(
      '-map', `[${r.id}]`,
      '-c:v', 'libx264', '-preset', settings.preset, '-profile:v', 'high',
      // Capped CRF: one quality for every rung, so a larger picture costs more bits, and each
      // rung's rate is capped at its budget (an easy picture uses less).
      '-crf', '23', '-maxrate', String(Math.round(r.bitrate * 1.1)), '-bufsize', String(r.bitrate * 2),
      '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
      '-force_key_frames', `expr:gte(t,n_forced*${settings.segmentSeconds})`,
      '-an', ...fragmentedMp4, encodedFile(options.outDir, r.id),
    );
  }
  if (ladder.audio) {
    const a = ladder.audio;
    args.push(
      '-map', '0:a:0', '-c:a', 'aac', '-b:a', String(a.bitrate), '-ac', String(a.channels), '-ar', String(a.sampleRate),
      '-vn', ...fragmentedMp4, '-frag_duration', String(settings.segmentSeconds * 1_000_000), encodedFile(options.outDir, a.id),
    );
  }
  args.push('-progress', 'pipe:1', '-nostats');
  return args;
}
