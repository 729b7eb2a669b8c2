import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable, Readable } from 'node:stream';
import type { Logger } from '../../logger.js';
import { Fmp4StreamParser } from '../demux/fmp4-stream.js';
import type { VideoRendition } from '../encode/ladder.js';
import type { Sample, TrackInfo } from '../media.js';

export type TranscoderOutput = {
  onTrack(renditionId: string, track: TrackInfo): void;
  onSamples(renditionId: string, samples: Sample[]): void;
  onExit(error: Error | null): void;
};

export type TranscoderOptions = {
  ffmpeg: string;
  renditions: VideoRendition[];
  segmentSeconds: number;
  preset: string;
  log: Logger;
  output: TranscoderOutput;
};

/** FLV file header for a video-only stream, then PreviousTagSize0 (FLV spec §E.2–E.3). */
const flvHeader = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x01, 0, 0, 0, 9, 0, 0, 0, 0]);

const flvVideoTag = 9;

/** One FLV video tag (FLV spec §E.4.3.1): H.264, its frame type and AVC packet type, then the payload. */
function flvVideoTagOf(timestampMs: number, frameType: 1 | 2, packetType: 0 | 1, ctsMs: number, payload: Uint8Array): Buffer {
  const body = Buffer.alloc(5 + payload.length);
  body.writeUInt8((frameType << 4) | 7, 0);
  body.writeUInt8(packetType, 1);
  body.writeIntBE(ctsMs, 2, 3);
  body.set(payload, 5);
  return flvTag(flvVideoTag, timestampMs, body);
}

function flvTag(type: number, timestampMs: number, body: Uint8Array): Buffer {
  const tag = Buffer.alloc(11 + body.length + 4);
  tag.writeUInt8(type, 0);
  tag.writeUIntBE(body.length, 1, 3);
  tag.writeUIntBE(timestampMs & 0xffffff, 4, 3);
  tag.writeUInt8((timestampMs >>> 24) & 0xff, 7);
  tag.set(body, 11);
  tag.writeUInt32BE(11 + body.length, 11 + body.length);
  return tag;
}

/**
 * The live ABR ladder: the publisher's video is muxed here as FLV onto one ffmpeg's stdin, decoded once,
 * scaled per rendition and encoded with keyframes forced at every segment boundary, so all
 * renditions cut at the same instants. Each rendition comes back as fragmented MP4 (a fragment
 * per frame, to add no delay) on its own pipe. Audio does not pass through ffmpeg.
 */
export class LiveTranscoder {
  private child: ChildProcess | null = null;
  private stdin: Writable | null = null;
  private stopped = false;

  constructor(private readonly options: TranscoderOptions) {}

  start(): void {
    const { renditions, segmentSeconds, preset } = this.options;
    const labels = renditions.map((_, i) => `[s${i}]`).join('');
    const scales = renditions.map((r, i) => `[s${i}]scale=${r.width}:${r.height}:flags=bicubic,setsar=1[${r.id}]`);
    // Small probing so output starts at once; no -fflags nobuffer (it drops the first second here).
    const args = ['-hide_banner', '-loglevel', 'error', '-probesize', '32', '-analyzeduration', '0', '-f', 'flv', '-i', 'pipe:0', '-vsync', '0'];
    args.push('-filter_complex', [`[0:v:0]format=yuv420p,split=${renditions.length}${labels}`, ...scales].join(';'));
    renditions.forEach((r, i) => {
      args.push(
        '-map', `[${r.id}]`, '-c:v', 'libx264', '-preset', preset, '-tune', 'zerolatency', '-profile:v', 'high',
        '-b:v', String(r.bitrate), '-maxrate', String(Math.round(r.bitrate * 1.2)), '-bufsize', String(r.bitrate),
        '-sc_threshold', '0', '-force_key_frames', `expr:gte(t,n_forced*${segmentSeconds})`,
        '-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_every_frame', `pipe:${3 + i}`,
      );
    });
    const stdio: ('pipe' | 'ignore')[] = ['pipe', 'ignore', 'pipe', ...renditions.map(() => 'pipe' as const)];
    const child = spawn(this.options.ffmpeg, args, { stdio });
    this.child = child;
    this.stdin = child.stdin!;
    this.stdin.on('error', () => {}); // a broken pipe surfaces through the exit handler
    this.stdin.write(flvHeader);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    renditions.forEach((r, i) => {
      const parser = new Fmp4StreamParser((event) => {
        if (event.kind === 'tracks') {
          const track = event.tracks[0];
          if (track) this.options.output.onTrack(r.id, track);
        } else {
          this.options.output.onSamples(r.id, event.samples);
        }
      });
      (child.stdio[3 + i] as Readable).on('data', (chunk: Buffer) => {
        try {
          parser.push(chunk);
        } catch (error) {
          this.options.log.error({ err: error, rendition: r.id }, 'transcoder output could not be parsed');
          this.stop();
        }
      });
    });
    child.on('exit', (code, signal) => {
      this.child = null;
      if (this.stopped) {
        this.options.output.onExit(null);
        return;
      }
      const detail = stderr.trim().split('\n').slice(-1)[0] ?? '';
      this.options.output.onExit(new Error(`the live transcoder exited (${signal ?? `code ${code}`}): ${detail}`));
    });
    this.options.log.info({ renditions: renditions.map((r) => `${r.width}x${r.height}@${r.bitrate}`) }, 'live transcoder started');
  }

  /** The decoder configuration (avcC), before the first frame. */
  writeConfig(avcC: Uint8Array): void {
    if (!this.stdin || this.stopped) return;
    this.stdin.write(flvVideoTagOf(0, 1, 0, 0, avcC));
  }

  /**
   * One frame (AVC length-prefixed NAL units), `dts` and `cto` in `timescale` counted from the
   * first frame fed: FLV carries milliseconds, and the output starts at zero whatever it is fed.
   */
  writeVideo(frame: { dts: number; cto: number; keyframe: boolean; data: Uint8Array }, timescale: number): void {
    if (!this.stdin || this.stopped) return;
    const ms = (ticks: number) => Math.round((ticks * 1000) / timescale);
    const dtsMs = ms(frame.dts);
    this.stdin.write(flvVideoTagOf(dtsMs, frame.keyframe ? 1 : 2, 1, ms(frame.dts + frame.cto) - dtsMs, frame.data));
  }

  stop(): void {
    this.stopped = true;
    this.stdin?.end();
    this.child?.kill('SIGKILL');
  }
}
