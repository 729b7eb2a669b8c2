import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's ffmpeg (5.1, with cbcs decryption), not the bundled encoder, which reads cenc only. */
const debianFfmpeg = '/usr/bin/ffmpeg';
export const debianFfmpegMissing = existsSync(debianFfmpeg) ? false : "Debian's ffmpeg is not installed: apt-get update && apt-get install -y ffmpeg";

/** Players outside the browser, which forgive less than hls.js and Shaka (see independent-players.md). */

const gstLaunch = '/usr/bin/gst-launch-1.0';

function gstreamerCheck(): string | false {
  const probe = spawnSync('gst-inspect-1.0', ['hlsdemux2'], { encoding: 'utf8' });
  if (probe.status === 0 && spawnSync('gst-inspect-1.0', ['avdec_h264']).status === 0) return false;
  return 'GStreamer with hlsdemux2 and libav is not installed: apt-get update && apt-get install -y gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav';
}

let gstreamerState: string | false | undefined;
/** False when GStreamer can play HLS here, else the reason with the command that installs it. */
export function gstreamerMissing(): string | false {
  gstreamerState ??= gstreamerCheck();
  return gstreamerState;
}

export type GStreamerReport = {
  /** Video frames the sink rendered (fpsdisplaysink's last count). */
  rendered: number;
  /** Whether the pipeline reached end of stream by itself. */
  eos: boolean;
  errors: string[];
  warnings: string[];
  /**
   * GStreamer 1.22's adaptivedemux2 reached the end of a rendition before it had exposed that
   * rendition's pad, and reported it as "Fragment downloading has failed consecutive times"
   * (http-status-code 200). It happens when a rendition shorter than the demuxer's read-ahead
   * (high-watermark-time, 30 s) arrives whole before the audio rendition has fetched its
   * playlist: the demuxer's race, not the server's answer (its own ERROR line says so).
   */
  endedBeforeExposed: boolean;
};

/**
 * Plays a URL with playbin3 in real time until end of stream or `seconds`, as a Linux set-top
 * box would. GStreamer exits 0 after some errors, so the messages are read, not the exit code.
 * A play lost to GStreamer's own race (endedBeforeExposed: about 1 in 5 for a title of one or
 * two segments, here, straight from the origin or through nginx) is played again, up to three
 * times in all, as a box's app would retry a start; `attempts` says how many it took.
 */
export async function playWithGStreamer(url: string, seconds: number, options: { realTime?: boolean } = {}): Promise<GStreamerReport & { attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    const report = await playOnce(url, seconds, options.realTime ?? true);
    if (!report.endedBeforeExposed || attempts === 3) return { ...report, attempts };
  }
}

function playOnce(url: string, seconds: number, sync: boolean): Promise<GStreamerReport> {
  // Not in real time (sync=false): every frame is still fetched and decoded, as fast as the machine goes.
  const child = spawn(
    'timeout',
    ['-s', 'INT', String(seconds), gstLaunch, '-m', '-v', 'playbin3', `uri=${url}`, `video-sink=fpsdisplaysink video-sink=fakesink text-overlay=false sync=${sync} signal-fps-measurements=true fps-update-interval=100`, `audio-sink=fakesink sync=${sync}`],
    // adaptivedemux2's ERROR lines only: they name the demuxer's own failures.
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GST_DEBUG: 'adaptivedemux2:1', GST_DEBUG_NO_COLOR: '1' } },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => {
    child.on('close', () => {
      const counts = [...output.matchAll(/rendered: (\d+)/g)].map((m) => Number(m[1]));
      const lines = output.split('\n');
      resolve({
        rendered: Math.max(0, ...counts),
        eos: /Got EOS from element "playbin3/.test(output),
        errors: lines.filter((l) => /^ERROR:|\(error\):/.test(l)).map((l) => l.slice(0, 400)),
        warnings: lines.filter((l) => /^WARNING:|\(warning\):/.test(l)).map((l) => l.slice(0, 400)),
        endedBeforeExposed: output.includes("Can't push EOS on non-exposed pad"),
      });
    });
  });
}

export type FfmpegReadReport = { ok: boolean; errors: string };

/** Reads every stream of a URL or file with ffmpeg, decoding into nothing; errors at level "error". */
export function readWithFfmpeg(input: string, extraInputArgs: string[] = []): Promise<FfmpegReadReport> {
  const child = spawn(debianFfmpeg, ['-hide_banner', '-v', 'error', ...extraInputArgs, '-i', input, '-map', '0', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ ok: code === 0 && errors.trim() === '', errors: errors.trim() })));
}
