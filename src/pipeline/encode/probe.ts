import { statSync } from 'node:fs';
import { WeirError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { FfmpegError, runFfmpeg } from './ffmpeg.js';

/** A frame rate as an integer ratio, so 30000/1001 stays exact. */
export type Rate = { num: number; den: number };

export type SourceFacts = {
  sizeBytes: number;
  container: string;
  durationMs: number;
  video: {
    codec: string;
    /** Display size: after rotation is applied. */
    width: number;
    height: number;
    rotation: number;
    frameRate: Rate;
  };
  audio: { codec: string; channels: number; sampleRate: number } | null;
};

type ProbeStream = {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  channels?: number;
  sample_rate?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: { rotation?: number }[];
};

type ProbeOutput = { streams?: ProbeStream[]; format?: { format_name?: string; duration?: string } };

function parseRate(text: string | undefined): Rate | null {
  const match = /^(\d+)\/(\d+)$/.exec(text ?? '');
  if (!match) return null;
  const num = Number(match[1]);
  const den = Number(match[2]);
  return num > 0 && den > 0 ? { num, den } : null;
}

/** Reads what the source holds; unusable sources throw a coded WeirError. */
export async function probeSource(options: { ffprobe: string; path: string; log: Logger; signal?: AbortSignal }): Promise<SourceFacts> {
  const sizeBytes = statSync(options.path).size;
  if (sizeBytes === 0) throw new WeirError('SOURCE_EMPTY', 'The uploaded source has zero bytes; expected a video file.');
  let output: ProbeOutput;
  try {
    const json = await runFfmpeg({
      binary: options.ffprobe,
      args: ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', options.path],
      log: options.log,
      signal: options.signal,
    });
    output = JSON.parse(json) as ProbeOutput;
  } catch (error) {
    const detail = error instanceof FfmpegError ? error.stderrTail.trim().split('\n').slice(-1)[0] : String(error);
    throw new WeirError('SOURCE_UNREADABLE', `The source is not a readable media file (${detail || 'no detail'}); expected a video file such as MP4, MOV, MKV or WebM.`);
  }
  const streams = output.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const audio = streams.find((s) => s.codec_type === 'audio');
  const found = streams.map((s) => s.codec_type ?? 'unknown').join(', ') || 'no streams';
  if (!video || !video.width || !video.height) {
    throw new WeirError('SOURCE_NO_VIDEO', `The source has no video stream; expected at least one video stream, found: ${found}.`);
  }
  const durationSeconds = Number(output.format?.duration);
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw new WeirError('SOURCE_UNREADABLE', 'The source has no usable duration; it may be truncated or corrupt.');
  }
  const sideRotation = video.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  const rotation = (((Math.round(sideRotation ?? Number(video.tags?.rotate ?? 0)) % 360) + 360) % 360) as number;
  const quarterTurn = rotation === 90 || rotation === 270;
  const frameRate = parseRate(video.avg_frame_rate) ?? parseRate(video.r_frame_rate) ?? { num: 30, den: 1 };
  return {
    sizeBytes,
    container: output.format?.format_name ?? 'unknown',
    durationMs: Math.round(durationSeconds * 1000),
    video: {
      codec: video.codec_name ?? 'unknown',
      width: quarterTurn ? video.height : video.width,
      height: quarterTurn ? video.width : video.height,
      rotation,
      frameRate,
    },
    audio: audio
      ? { codec: audio.codec_name ?? 'unknown', channels: audio.channels ?? 2, sampleRate: Number(audio.sample_rate ?? 48000) }
      : null,
  };
}
