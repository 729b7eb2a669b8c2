import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A live feed whose every frame shows the wall-clock millisecond it was drawn, as 32 blocks
 * (white = 1) over an inverted row, so a player page can read back when what it displays was
 * made: glass-to-glass latency, encoder and player included, on one machine clock.
 */
export const stampGeometry = { width: 640, height: 360, bits: 32, blockWidth: 20 } as const;

function drawStamp(frame: Buffer, ms: number): void {
  const { width, height, bits, blockWidth } = stampGeometry;
  frame.fill(96);
  // A moving bar, so the encoder has motion to code as a camera would give it.
  const bar = Math.floor((ms / 10) % width);
  for (let y = height - 40; y < height; y++) frame.fill(220, y * width + bar, y * width + Math.min(width, bar + 40));
  const value = ms % 2 ** 32;
  for (let bit = 0; bit < bits; bit++) {
    const on = Math.floor(value / 2 ** (bits - 1 - bit)) % 2 === 1;
    for (let y = 0; y < blockWidth; y++) {
      frame.fill(on ? 255 : 0, y * width + bit * blockWidth, y * width + (bit + 1) * blockWidth);
      frame.fill(on ? 0 : 255, (y + blockWidth) * width + bit * blockWidth, (y + blockWidth) * width + (bit + 1) * blockWidth);
    }
  }
}

/**
 * Publishes the stamped feed (x264 zerolatency, 1 s GOP, AAC) to every RTMP URL at once
 * through ffmpeg's tee muxer, so the servers compared receive the same encoded stream.
 */
export function publishStampedFeed(ffmpeg: string, rtmpUrls: string[], fps = 30): { child: ChildProcess; stop(): void } {
  const { width, height } = stampGeometry;
  const child = spawn(
    ffmpeg,
    ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-map', '0:v', '-map', '1:a',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', String(fps), '-keyint_min', String(fps), '-sc_threshold', '0', '-b:v', '1000k',
      // tee hands each output the encoder's configuration only as a global header.
      '-c:a', 'aac', '-b:a', '96k', '-flags', '+global_header',
      '-f', 'tee', rtmpUrls.map((url, i) => `[f=flv${i > 0 ? ':onfail=ignore' : ''}]${url}`).join('|')],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  const frame = Buffer.alloc(width * height);
  const start = Date.now();
  let sent = 0;
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    if (child.exitCode !== null || child.stdin!.destroyed) return;
    drawStamp(frame, Date.now());
    sent++;
    const next = () => (timer = setTimeout(tick, Math.max(0, start + (sent * 1000) / fps - Date.now())));
    if (child.stdin!.write(frame)) next();
    else child.stdin!.once('drain', next);
  };
  child.stdin!.on('error', () => undefined);
  tick();
  return {
    child,
    stop() {
      if (timer) clearTimeout(timer);
      child.kill('SIGKILL');
    },
  };
}
