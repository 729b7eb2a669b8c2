import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from '../../logger.js';

export type MediaTools = { ffmpeg: string; ffprobe: string };

/** The ffmpeg and ffprobe binaries shipped in npm packages (WEIR_FFMPEG / WEIR_FFPROBE override). */
export function locateMediaTools(env: NodeJS.ProcessEnv = process.env): MediaTools {
  const require = createRequire(import.meta.url);
  const ffmpeg = env.WEIR_FFMPEG || (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  const ffprobe = env.WEIR_FFPROBE || (require('@ffprobe-installer/ffprobe') as { path: string }).path;
  return { ffmpeg, ffprobe };
}

/** Why an ffmpeg run failed, and whether running it again could help. */
export class FfmpegError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderrTail: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'FfmpegError';
  }
}

/** ffmpeg's words for input it cannot use: retrying cannot help with these. */
const invalidInputPatterns = [
  /Invalid data found when processing input/i,
  /moov atom not found/i,
  /does not contain any stream/i,
  /Output file #\d+ does not contain any stream/i,
  /Stream map .* matches no streams/i,
  /Invalid argument/i,
  /could not find codec parameters/i,
  /No such file or directory/i,
  /Error while decoding stream/i,
];

export function isInvalidInput(stderr: string): boolean {
  return invalidInputPatterns.some((pattern) => pattern.test(stderr));
}

export type FfmpegRun = {
  binary: string;
  args: string[];
  log: Logger;
  signal?: AbortSignal;
  /** Called with ffmpeg's `out_time_us` as it advances (needs `-progress pipe:1` in args). */
  onProgressMicros?: (outTimeMicros: number) => void;
  /** Where to record the child's pid, so a restart after a crash can stop an orphan. */
  pidFile?: string;
};

const stderrTailBytes = 8192;

function isAlive(pid: number): boolean {
  try {
    // A zombie has exited already; only its parent has yet to reap it.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Stops an ffmpeg left running by a process that died before it could clean up, and waits until
 * it is gone, so it cannot write into the files a new run is about to make.
 */
export async function killOrphan(pidFile: string, log: Logger): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!/ff(mpeg|probe)/.test(cmdline)) return; // the pid was reused by something else
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + 5_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  log.warn({ pid }, 'stopped an ffmpeg left over from before a restart');
}

/** Runs ffmpeg (or ffprobe) to completion; resolves with stdout, rejects with an FfmpegError. */
export function runFfmpeg(run: FfmpegRun): Promise<string> {
  return new Promise((resolve, reject) => {
    if (run.signal?.aborted) {
      reject(new FfmpegError('cancelled before start', null, null, '', false));
      return;
    }
    const child = spawn(run.binary, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (run.pidFile && child.pid) writeFileSync(run.pidFile, String(child.pid));
    // Said once it is so: the pid is on record by the time anyone reads this line.
    run.log.debug({ binary: run.binary, args: run.args, pid: child.pid }, 'running');
    let stdout = '';
    let stderr = '';
    let progressBuffer = '';
    const onAbort = () => child.kill('SIGKILL');
    run.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (!run.onProgressMicros) {
        stdout += chunk;
        return;
      }
      progressBuffer += chunk;
      let newline;
      while ((newline = progressBuffer.indexOf('\n')) >= 0) {
        const line = progressBuffer.slice(0, newline);
        progressBuffer = progressBuffer.slice(newline + 1);
        // out_time_ms is in microseconds despite its name; out_time_us is absent in old builds.
        const match = /^out_time_(?:us|ms)=(\d+)/.exec(line);
        if (match) run.onProgressMicros(Number(match[1]));
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-stderrTailBytes);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      run.signal?.removeEventListener('abort', onAbort);
      const transient = error.code === 'EAGAIN' || error.code === 'ENOMEM' || error.code === 'EMFILE';
      reject(new FfmpegError(`could not start ${run.binary}: ${error.message}`, null, null, '', transient));
    });
    child.on('close', (code, signal) => {
      run.signal?.removeEventListener('abort', onAbort);
      if (run.pidFile) rmSync(run.pidFile, { force: true });
      if (code === 0) {
        resolve(stdout);
        return;
      }
      if (run.signal?.aborted) {
        reject(new FfmpegError('cancelled', code, signal, stderr, false));
        return;
      }
      const lastLine = stderr.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
      const invalid = isInvalidInput(stderr);
      const what = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new FfmpegError(`ffmpeg ${what}: ${lastLine}`, code, signal, stderr, !invalid));
    });
  });
}
