import { mkdir, rename, rm } from 'node:fs/promises';
import { hideServerPaths, WeirError, type CodedError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { buildEncodeArgs, type EncodeSettings } from './encode.js';
import { FfmpegError, killOrphan, runFfmpeg, type MediaTools } from './ffmpeg.js';
import type { Ladder } from './ladder.js';

export type EncodeJobInput = { sourcePath: string; ladder: Ladder; durationMs: number };

export type EncodePaths = { work: string; tmp: string; encoded: string; pidFile: string };

/**
 * Encodes a title's source into its ladder: into a temp dir, renamed to `encoded` when whole, so
 * a crash leaves either finished renditions or a temp dir to discard. `commit` runs before the
 * rename and may refuse it (a worker that lost its job keeps its output to itself).
 */
export async function encodeTitle(options: {
  tools: MediaTools;
  settings: EncodeSettings;
  input: EncodeJobInput;
  paths: EncodePaths;
  log: Logger;
  signal: AbortSignal;
  onProgress: (fraction: number) => void;
  commit?: () => boolean;
}): Promise<void> {
  const { paths, input, log } = options;
  await mkdir(paths.work, { recursive: true });
  await killOrphan(paths.pidFile, log);
  await rm(paths.tmp, { recursive: true, force: true });
  await mkdir(paths.tmp, { recursive: true });
  const durationMicros = input.durationMs * 1000;
  let lastOutMicros = 0;
  let lastSentFraction = -1;
  log.info({ renditions: input.ladder.video.map((r) => `${r.width}x${r.height}@${r.bitrate}`), audio: input.ladder.audio !== null }, 'encoding');
  await runFfmpeg({
    binary: options.tools.ffmpeg,
    args: buildEncodeArgs({ source: input.sourcePath, outDir: paths.tmp, ladder: input.ladder, settings: options.settings }),
    log,
    signal: options.signal,
    pidFile: paths.pidFile,
    onProgressMicros: (micros) => {
      lastOutMicros = micros;
      const fraction = Math.min(0.99, micros / durationMicros);
      // Persisting every tick would be noise: report whole percents.
      if (fraction - lastSentFraction >= 0.01) {
        lastSentFraction = fraction;
        options.onProgress(fraction);
      }
    },
  });
  // A source whose header promises more than its data holds decodes short without an error.
  if (lastOutMicros > 0 && lastOutMicros < durationMicros * 0.9) {
    throw new WeirError('SOURCE_UNREADABLE', `The source is truncated or corrupt: it declares ${(durationMicros / 1e6).toFixed(1)} s but only ${(lastOutMicros / 1e6).toFixed(1)} s could be decoded.`);
  }
  if (options.commit && !options.commit()) {
    await rm(paths.tmp, { recursive: true, force: true });
    throw new Error('the encode job was taken over by another worker');
  }
  await rename(paths.tmp, paths.encoded);
}

/** How a failed encode is reported: its coded error, and whether trying again may help. */
export function encodeFailure(error: unknown): { error: CodedError; transient: boolean } {
  if (error instanceof WeirError) return { error: { code: error.code, message: error.message }, transient: false };
  const transient = error instanceof FfmpegError ? error.transient : true;
  const code = error instanceof FfmpegError && !transient ? 'SOURCE_UNREADABLE' : 'ENCODE_FAILED';
  const message = error instanceof Error ? error.message : String(error);
  return { error: { code, message: hideServerPaths(`Encoding failed: ${message}`) }, transient };
}
