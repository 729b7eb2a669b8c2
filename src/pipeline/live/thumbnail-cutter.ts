import { spawn } from 'node:child_process';
import { parseAvcConfig, parseSpsDimensions } from '../codecs/h264.js';

/** Makes one JPEG of a tile's size from one keyframe (AVCC sample) and its avcC record. */
export type ThumbnailCutter = (avcC: Uint8Array, keyframe: Uint8Array, tile: { width: number; height: number }) => Promise<Uint8Array>;

const startCode = Uint8Array.of(0, 0, 0, 1);

/**
 * A keyframe as an H.264 Annex B stream a decoder reads alone: the parameter sets of its avcC,
 * then its NAL units with start codes in place of their length prefixes.
 */
export function keyframeAnnexB(avcC: Uint8Array, sample: Uint8Array): Uint8Array {
  const config = parseAvcConfig(avcC);
  const parts: Uint8Array[] = [];
  for (const set of [...config.sps, ...config.pps]) parts.push(startCode, set);
  let offset = 0;
  while (offset + config.nalLengthSize <= sample.length) {
    let length = 0;
    for (let i = 0; i < config.nalLengthSize; i++) length = length * 256 + sample[offset + i]!;
    offset += config.nalLengthSize;
    if (length === 0 || offset + length > sample.length) throw new RangeError(`a NAL unit of ${length} bytes runs past the end of a ${sample.length}-byte sample`);
    parts.push(startCode, sample.subarray(offset, offset + length));
    offset += length;
  }
  return Buffer.concat(parts);
}

/** The picture size an avcC record's first SPS declares. */
export function pictureSize(avcC: Uint8Array): { width: number; height: number } {
  return parseSpsDimensions(parseAvcConfig(avcC).sps[0]!);
}

/** A tile `width` pixels wide at the picture's aspect ratio (even height, as encoders want). */
export function tileFor(picture: { width: number; height: number }, width: number): { width: number; height: number } {
  return { width, height: Math.max(2, Math.round((width * picture.height) / Math.max(1, picture.width) / 2) * 2) };
}

/**
 * Cuts thumbnails with ffmpeg, one short process per keyframe: the keyframe goes in on stdin,
 * the JPEG comes out on stdout. Bounded: a process that takes longer than `timeoutMs` is killed,
 * and output past 2 MiB is refused.
 */
export function ffmpegThumbnailCutter(ffmpeg: string, timeoutMs = 10_000): ThumbnailCutter {
  return (avcC, keyframe, tile) =>
    new Promise((resolve, reject) => {
      let input: Uint8Array;
      try {
        input = keyframeAnnexB(avcC, keyframe);
      } catch (error) {
        reject(error as Error);
        return;
      }
      const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-f', 'h264', '-i', 'pipe:0', '-frames:v', '1', '-vf', `scale=${tile.width}:${tile.height}`, '-pix_fmt', 'yuvj420p', '-q:v', '5', '-f', 'mjpeg', 'pipe:1'];
      const child = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      let size = 0;
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > 2 * 1024 * 1024) child.kill('SIGKILL');
        else chunks.push(chunk);
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
      child.stdin.on('error', () => undefined); // ffmpeg may close its input early; the exit code tells
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const jpeg = Buffer.concat(chunks);
        if (code === 0 && jpeg.length > 3 && jpeg[0] === 0xff && jpeg[1] === 0xd8) resolve(jpeg);
        else reject(new Error(`ffmpeg cut no thumbnail (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`));
      });
      child.stdin.end(input);
    });
}
