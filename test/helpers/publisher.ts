import { spawn, type ChildProcess } from 'node:child_process';
import { tools } from './media.js';

export type PublishSpec = {
  url: string;
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Keyframe interval in frames. */
  gop?: number;
  audioCodec?: 'aac' | 'libmp3lame' | 'none';
  /** B-frames, as OBS and most encoders send by default (so keyframes carry a composition offset). */
  bframes?: boolean;
};

export type Publisher = { child: ChildProcess; exited: Promise<number | null>; stderr(): string; stop(): Promise<void> };

/** ffmpeg pushing a test pattern over RTMP in real time, as an encoder would. */
export function publishRtmp(spec: PublishSpec): Publisher {
  const fps = spec.fps ?? 30;
  const args = ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${spec.width ?? 640}x${spec.height ?? 360}:rate=${fps}`];
  const audio = spec.audioCodec ?? 'aac';
  if (audio !== 'none') args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', String(spec.seconds ?? 60), '-c:v', 'libx264', '-preset', 'veryfast', ...(spec.bframes ? ['-bf', '2'] : ['-tune', 'zerolatency']), '-g', String(spec.gop ?? fps), '-pix_fmt', 'yuv420p');
  if (audio !== 'none') args.push('-c:a', audio, '-b:a', '96k', '-ar', '48000');
  args.push('-f', 'flv', spec.url);
  const child = spawn(tools.ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
