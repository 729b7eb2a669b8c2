import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { tools } from './media.js';

/** Debian's ffmpeg is built with libsrt (the npm one is not); srt-live-transmit comes from srt-tools. */
export const srtFfmpeg = '/usr/bin/ffmpeg';
export const srtPeersMissing =
  existsSync(srtFfmpeg) && spawnSync(srtFfmpeg, ['-hide_banner', '-protocols'], { encoding: 'utf8' }).stdout.split(/\s+/).includes('srt') && existsSync('/usr/bin/srt-live-transmit')
    ? false
    : 'libsrt peers are not installed: apt-get update && apt-get install -y ffmpeg srt-tools';

export type SrtPublisher = { child: ChildProcess; exited: Promise<number | null>; stop(): Promise<void> };

function wrap(child: ChildProcess): SrtPublisher {
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Debian's ffmpeg publishing a test pattern as MPEG-TS over SRT (caller mode, live). */
export function publishSrt(url: string, seconds = 60, extra = '', size = '640x360'): SrtPublisher {
  return wrap(
    spawn(srtFfmpeg, [
      '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
      '-f', 'mpegts', `${url}&latency=200000${extra}`,
    ], { stdio: 'ignore' }),
  );
}

/** srt-live-transmit relaying a UDP MPEG-TS feed (made by our ffmpeg) to the listener. */
export function publishWithSrtLiveTransmit(url: string, udpPort: number, seconds = 60): { feeder: ChildProcess; transmit: SrtPublisher } {
  const transmit = wrap(spawn('/usr/bin/srt-live-transmit', [`udp://127.0.0.1:${udpPort}`, `${url}&latency=200`], { stdio: 'ignore' }));
  const feeder = spawn(tools.ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
    '-f', 'mpegts', `udp://127.0.0.1:${udpPort}?pkt_size=1316`,
  ], { stdio: 'ignore' });
  return { feeder, transmit };
}

/** A UDP port free at the time of asking, for the feed srt-live-transmit reads. */
export async function freeUdpPort(): Promise<number> {
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const port = udp.address().port;
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  return port;
}
