import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../src/logger.js';
import { flvTagType } from '../../../src/pipeline/demux/flv.js';
import { LiveBroadcast, measuredFrameRate } from '../../../src/pipeline/live/broadcast.js';
import { tools } from '../../helpers/media.js';

t.test('a live video frame rate is measured from complete segments and snapped to the common rate it is', async (t) => {
  t.same(measuredFrameRate([{ samples: 60, duration: 180_000 }], 90_000), { num: 30, den: 1 }, '60 frames in 2 s');
  t.same(measuredFrameRate([{ samples: 60, duration: 180_180 }], 90_000), { num: 30000, den: 1001 }, 'NTSC 29.97');
  t.same(measuredFrameRate([{ samples: 50, duration: 30_720 }, { samples: 50, duration: 30_720 }], 15_360), { num: 25, den: 1 }, 'in another timescale');
  t.same(measuredFrameRate([{ samples: 27, duration: 90_000 }], 90_000), { num: 27000, den: 1000 }, 'an uncommon rate stays as measured');
  t.equal(measuredFrameRate([], 90_000), null, 'nothing to measure before a segment completes');
});

/** The tags of an FLV file: type, timestamp (ms) and body, as an RTMP publisher would send them. */
function flvTags(path: string): { type: number; ms: number; body: Uint8Array }[] {
  const bytes = readFileSync(path);
  const tags = [];
  let at = bytes.readUInt8(8) === 9 ? 9 + 4 : 13; // header, then PreviousTagSize0
  while (at + 11 <= bytes.length) {
    const type = bytes[at]! & 0x1f;
    const size = bytes.readUIntBE(at + 1, 3);
    const ms = bytes.readUIntBE(at + 4, 3) + (bytes[at + 7]! << 24);
    tags.push({ type, ms, body: Uint8Array.from(bytes.subarray(at + 11, at + 11 + size)) });
    at += 11 + size + 4;
  }
  return tags;
}

t.test('program date-time is anchored on the packet that arrived earliest for its media time, not on an encoder start-up burst', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-broadcast-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flv = join(dir, 'feed.flv');
  execFileSync(tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-c:a', 'aac', '-f', 'flv', flv]);
  let offered = false;
  const broadcast = new LiveBroadcast({
    video: { mode: 'passthrough' },
    protection: null,
    timing: { partTargetSeconds: 0.2, segmentTargetSeconds: 1 },
    windowSeconds: 30,
    log: createLogger('silent'),
    recordDir: null,
    onPlayable: () => (offered = true),
    onUnsupported: (reason) => t.fail(reason),
  });
  broadcast.startSession();
  // Captured from wall-clock 1 000 000 on; the first half second arrives in one burst at +600 ms
  // (the encoder starting), then every packet 40 ms after its capture.
  const captured = 1_000_000;
  for (const tag of flvTags(flv)) {
    if (tag.type !== flvTagType.audio && tag.type !== flvTagType.video) continue;
    const arrival = tag.ms < 500 ? captured + 600 : captured + tag.ms + 40;
    broadcast.ingestTag(tag.type, tag.ms, tag.body, arrival);
  }
  t.ok(offered, 'the stream was offered');
  const video = broadcast.renditions.get('v0')!;
  const first = video.segments[0]!;
  const firstMediaMs = (first.startDts * 1000) / video.track.timescale;
  t.equal(Math.round(first.pdtMs - firstMediaMs), captured + 40, 'PDT of media time 0 is capture plus the steady 40 ms, not the burst');
  for (const segment of video.segments.slice(1)) {
    t.equal(Math.round(segment.pdtMs - (segment.startDts * 1000) / video.track.timescale), captured + 40, `segment ${segment.msn} follows the same anchor`);
  }
  await broadcast.end();
});
