import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../src/logger.js';
import { flvTagToUnit } from '../../../src/pipeline/demux/flv.js';
import { Fmp4StreamParser } from '../../../src/pipeline/demux/fmp4-stream.js';
import { TsDemuxer } from '../../../src/pipeline/demux/mpegts.js';
import type { Sample } from '../../../src/pipeline/media.js';
import { LiveBroadcast, measuredFrameRate } from '../../../src/pipeline/live/broadcast.js';
import { writeLiveMpd } from '../../../src/pipeline/manifest/live-dash.js';
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

/** A clear passthrough broadcast with 1 s segments of 0.2 s parts; media it cannot package fails the test. */
function passthroughBroadcast(t: Test, onPlayable: () => void): LiveBroadcast {
  return new LiveBroadcast({
    video: { mode: 'passthrough' },
    protection: null,
    timing: { partTargetSeconds: 0.2, segmentTargetSeconds: 1 },
    windowSeconds: 30,
    hlsAudio: 'muxed',
    thumbnails: null,
    log: createLogger('silent'),
    recordDir: null,
    onPlayable,
    onUnsupported: (reason) => t.fail(reason),
  });
}

t.test('program date-time is anchored on the packet that arrived earliest for its media time, not on an encoder start-up burst', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-broadcast-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flv = join(dir, 'feed.flv');
  execFileSync(tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-c:a', 'aac', '-f', 'flv', flv]);
  let offered = false;
  const broadcast = passthroughBroadcast(t, () => (offered = true));
  broadcast.startSession();
  // Captured from wall-clock 1 000 000 on; the first half second arrives in one burst at +600 ms
  // (the encoder starting), then every packet 40 ms after its capture.
  const captured = 1_000_000;
  for (const tag of flvTags(flv)) {
    const unit = flvTagToUnit(tag.type, tag.ms, tag.body);
    if (!unit) continue;
    const arrival = tag.ms < 500 ? captured + 600 : captured + tag.ms + 40;
    broadcast.ingest(unit, arrival);
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

t.test('a transport stream keeps its 90 kHz times into the packaged segments: frame durations are exact, not rounded through milliseconds', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-broadcast-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ts = join(dir, 'feed.ts');
  // 30 fps: 3000 ticks a frame, which milliseconds (33 or 34) cannot carry.
  execFileSync(tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '2', '-g', '30', '-c:a', 'aac', '-f', 'mpegts', ts]);
  const broadcast = passthroughBroadcast(t, () => {});
  broadcast.startSession();
  const demuxer = new TsDemuxer((unit) => broadcast.ingest(unit, 1_000_000 + ('dts' in unit ? unit.dts / 90 : 0)));
  demuxer.push(readFileSync(ts));
  demuxer.flush();
  await broadcast.end();
  const samplesOf = (id: string): Sample[] => {
    const rendition = broadcast.renditions.get(id)!;
    const samples: Sample[] = [];
    const parser = new Fmp4StreamParser((event) => event.kind === 'samples' && samples.push(...event.samples));
    parser.push(Buffer.from(rendition.init(rendition.currentInitVersion)!));
    for (const segment of rendition.segments.filter((s) => s.complete)) parser.push(Buffer.from(segment.bytes!));
    return samples;
  };
  const video = samplesOf('v0');
  t.ok(video.length >= 80, `most of 90 frames were packaged (${video.length})`);
  t.same([...new Set(video.slice(0, -1).map((s) => s.duration))], [3000], 'every frame lasts exactly 3000 ticks');
  t.ok(video.every((s) => s.cto % 3000 === 0), 'composition offsets are whole frames');
  t.ok(video.every((s, i) => i === 0 || s.dts === video[i - 1]!.dts + video[i - 1]!.duration), 'decode times are contiguous');
  const audio = samplesOf('a0');
  t.same([...new Set(audio.map((s) => s.duration))], [1024], 'every AAC frame lasts 1024 samples');
});

t.test('a returning publisher\'s DASH Period is listed only once video and audio both have media in it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-broadcast-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flv = join(dir, 'feed.flv');
  execFileSync(tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', flv]);
  const units = flvTags(flv).flatMap((tag) => {
    const unit = flvTagToUnit(tag.type, tag.ms, tag.body);
    return unit ? [{ unit, ms: tag.ms }] : [];
  });
  const broadcast = passthroughBroadcast(t, () => {});
  const settings = { partTargetSeconds: 0.2, segmentTargetSeconds: 1, windowSeconds: 30, utcTimingUrl: 'http://example.test/time' };
  const periods = () => [...writeLiveMpd(broadcast, settings).matchAll(/<Period id="(\d+)"/g)].map((m) => m[1]);
  broadcast.startSession();
  for (const { unit, ms } of units) broadcast.ingest(unit, 1_000_000 + ms);
  broadcast.endSession();
  t.same(periods(), ['0'], 'the first session');
  // The publisher returns; its audio arrives a good while before its first video frame.
  broadcast.startSession();
  const audioFirst = [...units.filter((u) => u.unit.kind !== 'video'), ...units.filter((u) => u.unit.kind === 'video')];
  let sawAudioOnly = false;
  for (const { unit, ms } of audioFirst) {
    broadcast.ingest(unit, 2_000_000 + ms);
    const audioRun = broadcast.renditions.get('a0')!.segments.some((s) => s.discontinuity);
    const videoRun = broadcast.renditions.get('v0')!.segments.some((s) => s.discontinuity);
    if (audioRun && !videoRun) {
      sawAudioOnly = true;
      t.same(periods(), ['0'], 'while only audio is in, the new Period is held back');
      break;
    }
  }
  t.ok(sawAudioOnly, 'the audio-only moment was seen');
  for (const { unit, ms } of audioFirst.filter((u) => u.unit.kind === 'video' || u.unit.kind === 'video-config')) broadcast.ingest(unit, 2_000_000 + ms);
  t.same(periods(), ['0', '1'], 'with video in too, the new Period is listed');
  await broadcast.end();
});

t.test('a muxed HLS rendition mirrors the video rendition part for part and carries every audio frame once, in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-broadcast-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flv = join(dir, 'feed.flv');
  execFileSync(tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-c:a', 'aac', '-f', 'flv', flv]);
  const broadcast = passthroughBroadcast(t, () => {});
  broadcast.startSession();
  for (const tag of flvTags(flv)) {
    const unit = flvTagToUnit(tag.type, tag.ms, tag.body);
    if (unit) broadcast.ingest(unit, 1_000_000 + tag.ms);
  }
  await broadcast.end();
  const listed = broadcast.hlsRenditions();
  t.same(listed.map((r) => r.id), ['v0-a0'], 'HLS lists one variant with audio inside');
  const muxed = listed[0]!;
  const video = broadcast.renditions.get('v0')!;
  t.ok(muxed.track.codec.startsWith('avc1.') && muxed.track.codec.endsWith(',mp4a.40.2'), `its codecs name both tracks (${muxed.track.codec})`);
  t.same(
    muxed.segments.map((s) => [s.msn, s.duration, s.pdtMs, s.parts.map((p) => [p.duration, p.independent])]),
    video.segments.map((s) => [s.msn, s.duration, s.pdtMs, s.parts.map((p) => [p.duration, p.independent])]),
    'segments, parts, durations, independence and program date-times are the video rendition\'s',
  );
  const tracks: number[] = [];
  const byTrack = new Map<number, Sample[]>();
  const parser = new Fmp4StreamParser((event) => {
    if (event.kind === 'tracks') tracks.push(...event.tracks.map((track) => track.trackId));
    else byTrack.set(event.trackId, [...(byTrack.get(event.trackId) ?? []), ...event.samples]);
  });
  parser.push(Buffer.from(muxed.init(muxed.currentInitVersion)!));
  for (const segment of muxed.segments) for (const part of segment.parts) parser.push(Buffer.from(part.bytes));
  t.same(tracks, [1, 2], 'the init segment describes video (1) and audio (2)');
  const videoSamples = byTrack.get(1)!;
  t.equal(videoSamples.length, video.segments.reduce((n, s) => n + s.samples, 0), 'every video frame is there');
  const audio = byTrack.get(2)!;
  t.ok(audio.every((s, i) => i === 0 || s.dts === audio[i - 1]!.dts + audio[i - 1]!.duration), 'audio decode times are contiguous: nothing lost or repeated');
  const audioRendition = broadcast.renditions.get('a0')!;
  const separateAudio: Sample[] = [];
  const audioParser = new Fmp4StreamParser((event) => event.kind === 'samples' && separateAudio.push(...event.samples));
  audioParser.push(Buffer.from(audioRendition.init(audioRendition.currentInitVersion)!));
  for (const segment of audioRendition.segments) for (const part of segment.parts) audioParser.push(Buffer.from(part.bytes));
  const last = audio[audio.length - 1]!;
  t.ok(separateAudio.some((s) => s.dts === last.dts), 'the muxed audio runs to the end of the separate audio track');
  const firstVideoSeconds = videoSamples[0]!.dts / video.track.timescale;
  t.ok(Math.abs(audio[0]!.dts / audioRendition.track.timescale - firstVideoSeconds) < 0.05, 'audio starts with the first video frame (within a frame)');
});

t.test('audio that arrives after the video has started never leaves a segment of video alone in the muxed HLS rendition', async (t) => {
  // As over UDP or SRT joined mid-stream: the first video segment starts before any audio is known.
  const dir = mkdtempSync(join(tmpdir(), 'weir-broadcast-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flv = join(dir, 'feed.flv');
  execFileSync(tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=sample_rate=48000', '-t', '5', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-c:a', 'aac', '-f', 'flv', flv]);
  let listedWhenOffered: { id: string; complete: number }[] = [];
  const broadcast = passthroughBroadcast(t, () => {
    listedWhenOffered = broadcast.hlsRenditions().map((r) => ({ id: r.id, complete: r.segments.filter((s) => s.complete).length }));
  });
  broadcast.startSession();
  const tags = flvTags(flv);
  const audioConfig = tags.find((tag) => tag.type === 8 && tag.body[1] === 0)!;
  let configSent = false;
  for (const tag of tags) {
    if (tag.type === 8 && (tag === audioConfig || tag.ms < 300)) continue;
    if (tag.type === 8 && !configSent) {
      const unit = flvTagToUnit(audioConfig.type, tag.ms, audioConfig.body);
      if (unit) broadcast.ingest(unit, 1_000_000 + tag.ms);
      configSent = true;
    }
    const unit = flvTagToUnit(tag.type, tag.ms, tag.body);
    if (unit) broadcast.ingest(unit, 1_000_000 + tag.ms);
  }
  await broadcast.end();
  const video = broadcast.renditions.get('v0')!;
  const muxed = broadcast.hlsRenditions()[0]!;
  t.equal(muxed.id, 'v0-a0');
  t.ok(video.segments[0]!.msn < muxed.segments[0]!.msn, `the video rendition starts at segment ${video.segments[0]!.msn}, the muxed one at ${muxed.segments[0]!.msn}, the first begun with audio known`);
  for (const segment of muxed.segments) {
    const tracks: number[] = [];
    new Fmp4StreamParser((event) => event.kind === 'tracks' && tracks.push(...event.tracks.map((track) => track.trackId))).push(Buffer.from(muxed.init(segment.initVersion)!));
    t.same(tracks, [1, 2], `segment ${segment.msn}: its init describes video and audio`);
  }
  t.same(new Set(muxed.segments.map((s) => s.initVersion)).size, 1, 'one init for the whole playlist: no change of tracks for a player to follow');
  t.same(listedWhenOffered.map((r) => r.id), ['v0-a0'], 'offered with the audio inside');
  t.ok(listedWhenOffered.every((r) => r.complete > 0), `once the muxed rendition had a complete segment (${JSON.stringify(listedWhenOffered)})`);
});
