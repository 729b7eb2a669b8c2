import t from 'tap';
import { join } from 'node:path';
import { decode, firstPresentation } from '../helpers/media.js';
import { findBox, type Box } from '../../src/pipeline/bmff/boxes.js';
import { parseBoxes } from '../../src/pipeline/bmff/read.js';
import { gstreamerMissing, playWithGStreamer } from '../helpers/players.js';
import { fetchOk, joinSegments, parseM3u8, parseMpd } from '../helpers/playback.js';
import { publishRtmp, type Publisher } from '../helpers/publisher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let publisher: Publisher;
let streamId: string;
let streamKey: string;
let rtmpUrl: string;
let base: string;
/** The playlists as a viewer who joined the instant the stream turned live read them. */
let atGoLive: Record<string, string>;

const partTarget = 0.2; // 200 ms parts, advertised exactly: no part is longer
t.before(async () => {
  server = await startTestServer({ live: { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 30, stallTimeoutSeconds: 2, reconnectWindowSeconds: 10 } });
  const stream = await server.createStream({ name: 'main' });
  ({ id: streamId, streamKey } = stream);
  rtmpUrl = stream.ingest.rtmp;
  publisher = publishRtmp({ url: rtmpUrl, seconds: 120, fps: 30, gop: 30 });
  await server.waitForStream(streamId, (v) => v.state === 'live');
  const session = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: streamId } });
  const body = (await session.json()) as { sources: { protocol: string; url: string }[] };
  base = body.sources.find((s) => s.protocol === 'hls')!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', '');
  const texts = await Promise.all(['master.m3u8', 'v0/index.m3u8', 'a0/index.m3u8', 'v0-a0/index.m3u8'].map(async (path) => (await fetchOk(base + path)).text()));
  atGoLive = { master: texts[0]!, video: texts[1]!, audio: texts[2]!, muxed: texts[3]! };
});
t.teardown(async () => {
  await publisher?.stop();
  await server?.stop();
});

const playlist = async (path: string) => parseM3u8(await (await fetchOk(base + path)).text());
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

/** Waits until a media playlist satisfies a condition, each reload blocking on the hinted part. */
async function playlistWhen(path: string, ready: (text: string) => boolean, timeoutMs = 30_000, root = base): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = await (await fetchOk(root + path)).text();
  while (!ready(text)) {
    if (Date.now() > deadline) throw new Error(`playlist ${path} never satisfied the condition:\n${text}`);
    const hint = parseM3u8(text).preloadSegment?.preloadHints?.[0]?.uri ?? '';
    const match = /part-(\d+)\.(\d+)/.exec(hint);
    const query = match ? `?_HLS_msn=${match[1]}&_HLS_part=${match[2]}` : '';
    text = await (await fetchOk(root + path + query)).text();
  }
  return text;
}

t.test('a published stream goes live and its LL-HLS playlist carries every low-latency tag', async (t) => {
  const master = await playlist('master.m3u8');
  t.equal(master.playlists?.length, 1, 'passthrough: one video rendition');
  t.match(master.playlists?.[0]?.attributes.CODECS, /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
  t.same(master.playlists?.[0]?.attributes.RESOLUTION, { width: 640, height: 360 });
  t.equal(master.playlists?.[0]?.uri, 'v0-a0/index.m3u8', 'HLS variants carry their audio inside (one playlist to follow)');
  t.same(Object.keys(master.mediaGroups.AUDIO), [], 'so no audio rendition is listed beside them');

  const text = await playlistWhen('v0/index.m3u8', (p) => (p.match(/#EXTINF/g)?.length ?? 0) >= 2);
  const media = parseM3u8(text);
  t.match(media.serverControl, { canBlockReload: true, partHoldBack: Number((3 * partTarget).toFixed(3)), canSkipUntil: 6 });
  t.same(media.partInf, { partTarget });
  t.equal(media.targetDuration, 1);
  t.ok(media.segments.length >= 2, 'complete segments are listed');
  for (const segment of media.segments) {
    t.ok(segment.dateTimeString, 'every segment has EXT-X-PROGRAM-DATE-TIME');
    t.ok(Math.abs(Date.parse(segment.dateTimeString!) - Date.now()) < 60_000, 'program date-time is wall-clock time');
  }
  const parts = media.segments.flatMap((s) => s.parts ?? []).concat(media.preloadSegment?.parts ?? []);
  t.ok(parts.length > 0, 'parts are listed');
  for (const part of parts) t.ok(part.duration <= partTarget, `part ${part.uri} (${part.duration}) is within PART-TARGET`);
  t.ok(parts.some((p) => p.independent), 'parts that open with a keyframe are INDEPENDENT');
  t.match(media.preloadSegment?.preloadHints?.[0], { type: 'PART', uri: /^part-\d+\.\d+\.m4s$/ }, 'a preload hint names the next part');
  t.equal(media.renditionReports?.[0]?.uri, '../a0/index.m3u8', 'a rendition report names the audio rendition');
  t.notOk(/#EXT-X-ENDLIST/.test(text), 'the live playlist is open');
});

t.test('the instant a stream turns live, every rendition lists a complete segment, enough for any hold-back', async (t) => {
  const master = parseM3u8(atGoLive.master!);
  t.equal(master.playlists?.length, 1, 'the multivariant playlist lists the rendition');
  t.equal(master.playlists?.[0]?.attributes['FRAME-RATE'], 30, 'with the frame rate measured from the complete segment');
  for (const kind of ['video', 'audio', 'muxed']) {
    const media = parseM3u8(atGoLive[kind]!);
    const listed = media.segments.reduce((sum, s) => sum + (s.duration ?? 0), 0);
    t.ok(media.segments.some((s) => s.uri), `${kind}: a complete segment (EXTINF) is listed`);
    t.ok(listed >= media.serverControl!.partHoldBack!, `${kind}: ${listed.toFixed(3)} s of complete segments cover PART-HOLD-BACK`);
  }
});

t.test("audio keeps the publisher's alignment: its first heard sample (after the AAC priming the publisher stamped before its video) presents with the first frame", async (t) => {
  const starts: Record<string, number> = {};
  let muxed: { video: number | null; audio: number | null } = { video: null, audio: null };
  for (const [kind, rendition] of [['video', 'v0'], ['audio', 'a0'], ['muxed', 'v0-a0']] as const) {
    const first = parseM3u8(atGoLive[kind]!).segments[0]!;
    const init = Buffer.from(await (await fetchOk(`${base}${rendition}/${first.map!.uri}`)).arrayBuffer());
    const segment = Buffer.from(await (await fetchOk(`${base}${rendition}/${first.uri}`)).arrayBuffer());
    const presented = firstPresentation(joinSegments(join(server.dataDir, `first-${rendition}.mp4`), init, [segment]));
    if (kind === 'muxed') muxed = presented;
    else starts[kind] = (kind === 'video' ? presented.video : presented.audio)!;
  }
  // ffmpeg, like most encoders, stamps its 1024 priming samples before the first video frame.
  const heard = starts.audio! + 1024 / 48_000;
  t.ok(Math.abs(heard - starts.video!) < 0.012, `first heard audio at ${heard.toFixed(3)} s, first frame at ${starts.video!.toFixed(3)} s`);
  t.equal(muxed.video, starts.video, 'the muxed HLS rendition presents its first frame at the same time');
  t.equal(muxed.audio, starts.audio, 'and its audio from the same sample, priming included');
});

t.test('GStreamer, a plain HLS client that never blocks, plays the stream it joined at go-live', { skip: gstreamerMissing() }, async (t) => {
  const report = await playWithGStreamer(base + 'master.m3u8', 8);
  t.same(report.errors, [], 'no errors');
  t.ok(report.rendered >= 90, `frames rendered in real time (${report.rendered})`);
});

t.test('a blocking request for the next part is answered once that part exists, about a part duration later', async (t) => {
  const media = await playlist('v0/index.m3u8');
  const hint = /part-(\d+)\.(\d+)\.m4s/.exec(media.preloadSegment!.preloadHints![0]!.uri)!;
  const [msn, part] = [Number(hint[1]), Number(hint[2])];
  const started = performance.now();
  const response = await fetchOk(`${base}v0/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`);
  const text = await response.text();
  const elapsed = (performance.now() - started) / 1000;
  const answered = parseM3u8(text);
  const listed = [...answered.segments.flatMap((s) => s.parts ?? []), ...(answered.preloadSegment?.parts ?? [])].map((p) => p.uri);
  const segmentDone = answered.segments.some((s) => s.uri === `seg-${msn}.m4s`);
  t.ok(listed.includes(`part-${msn}.${part}.m4s`) || segmentDone, 'the answer contains the awaited part');
  t.ok(elapsed < 3 * partTarget + 0.5, `it came about a part duration later (${elapsed.toFixed(3)} s)`);
  t.match(response.headers.get('cache-control'), /max-age/, 'a blocking answer names an exact version and may be cached');

  // The furthest allowed request (last complete segment + 2, one past the open one) really waits.
  const now = parseM3u8(await (await fetchOk(`${base}v0/index.m3u8`)).text());
  const lastComplete = (now.mediaSequence ?? 0) + now.segments.length - 1;
  const later = performance.now();
  await fetchOk(`${base}v0/index.m3u8?_HLS_msn=${lastComplete + 2}`);
  t.ok((performance.now() - later) / 1000 > 0.5, 'a request for the segment after the open one is held until it exists');
});

t.test('a request for the hinted part waits for it and returns its bytes', async (t) => {
  const media = await playlist('v0/index.m3u8');
  const uri = media.preloadSegment!.preloadHints![0]!.uri;
  const response = await fetchOk(base + 'v0/' + uri);
  const bytes = Buffer.from(await response.arrayBuffer());
  // The first part of a segment opens with styp, so the joined parts are a whole segment.
  const first = bytes.subarray(4, 8).toString('latin1') === 'styp' ? bytes.readUInt32BE(0) : 0;
  t.equal(bytes.subarray(first + 4, first + 8).toString('latin1'), 'moof', 'a part is a CMAF chunk: moof then mdat');
  t.equal(first > 0, /\.0\.m4s$/.test(uri), 'only the first part of a segment carries styp');
  t.match(response.headers.get('cache-control'), /immutable/);
  const unknown = await fetch(`${base}v0/part-999999.0.m4s`);
  t.equal(unknown.status, 404, 'parts far ahead of the live edge are not waited for');
});

t.test('requests past the live edge or with malformed parameters are refused with 400', async (t) => {
  const media = await playlist('v0/index.m3u8');
  const last = media.segments[media.segments.length - 1]!;
  const lastMsn = Number(/seg-(\d+)/.exec(last.uri)![1]);
  const tooFar = await fetch(`${base}v0/index.m3u8?_HLS_msn=${lastMsn + 10}`);
  t.equal(tooFar.status, 400);
  t.match(await errorOf(tooFar), { code: 'LIVE_REQUEST_INVALID', message: /beyond the next segments/ });
  const partOnly = await fetch(`${base}v0/index.m3u8?_HLS_part=2`);
  t.equal(partOnly.status, 400);
  t.match(await errorOf(partOnly), { message: /_HLS_part was given without _HLS_msn/ });
  const garbage = await fetch(`${base}v0/index.m3u8?_HLS_msn=abc`);
  t.equal(garbage.status, 400);
  t.match(await errorOf(garbage), { message: /_HLS_msn must be a non-negative integer, received "abc"/ });
});

t.test('_HLS_skip=YES replaces segments older than CAN-SKIP-UNTIL with EXT-X-SKIP', async (t) => {
  // CAN-SKIP-UNTIL is 6 s with 1 s segments: wait for more than that to exist.
  await playlistWhen('v0/index.m3u8', (p) => (p.match(/#EXTINF/g)?.length ?? 0) >= 9);
  const full = await playlist('v0/index.m3u8');
  const delta = await playlist('v0/index.m3u8?_HLS_skip=YES');
  t.ok((delta.skip?.skippedSegments ?? 0) > 0, `segments were skipped (${delta.skip?.skippedSegments})`);
  t.equal(delta.mediaSequence, full.mediaSequence, 'the media sequence is unchanged');
  const remaining = delta.segments.reduce((sum, s) => sum + s.duration, 0);
  t.ok(remaining >= 6 - 1.5, 'what remains covers at least CAN-SKIP-UNTIL');
  t.ok(delta.segments.length < full.segments.length);
});

t.test('rendition reports tell where the other rendition is', async (t) => {
  const video = await playlist('v0/index.m3u8');
  const report = video.renditionReports![0]!;
  const audio = await playlist('a0/index.m3u8');
  const audioParts = [...audio.segments, ...(audio.preloadSegment ? [audio.preloadSegment] : [])];
  const lastSegmentMsn = (audio.mediaSequence ?? 0) + audio.segments.length - (audio.preloadSegment?.parts?.length ? 0 : 1);
  t.ok(report.lastMsn <= lastSegmentMsn + 1 && report.lastMsn >= lastSegmentMsn - 1, `LAST-MSN ${report.lastMsn} is the audio live edge (${lastSegmentMsn})`);
  t.ok(audioParts.length > 0);
  t.equal(audio.renditionReports?.[0]?.uri, '../v0/index.m3u8', 'and the audio playlist reports the video one');
});

t.test('the live segments and parts decode cleanly with ffmpeg', async (t) => {
  const media = await playlist('v0/index.m3u8');
  const init = Buffer.from(await (await fetchOk(base + 'v0/' + media.segments[0]!.map!.uri)).arrayBuffer());
  const segments = await Promise.all(media.segments.slice(-3).map(async (s) => Buffer.from(await (await fetchOk(base + 'v0/' + s.uri)).arrayBuffer())));
  const decoded = decode(joinSegments(join(server.dataDir, 'live-check.mp4'), init, segments));
  t.equal(decoded.errors, '');
  t.ok(decoded.videoFrames >= 80, `three 1 s segments hold about 90 frames (${decoded.videoFrames})`);
  t.same([decoded.width, decoded.height], [640, 360]);
});

/** Each fragment of a segment: its tfdt and its samples' durations and composition offsets. */
function fragmentsOf(segment: Buffer): { tfdt: number; durations: number[]; ctos: number[] }[] {
  const boxes = parseBoxes(segment);
  return boxes
    .filter((b): b is Extract<Box, { type: 'moof' }> => b.type === 'moof')
    .map((moof) => {
      const trun = findBox([moof], 'trun')!;
      return { tfdt: Number(findBox([moof], 'tfdt')!.baseMediaDecodeTime), durations: trun.samples.map((x) => x.duration!), ctos: trun.samples.map((x) => x.compositionTimeOffset ?? 0) };
    });
}

t.test('a passthrough timeline is exact: segments open with styp, fragments are contiguous, presentation starts at tfdt, PDT follows media time', async (t) => {
  const text = await playlistWhen('v0/index.m3u8', (p) => (p.match(/#EXTINF/g)?.length ?? 0) >= 4);
  const media = parseM3u8(text);
  const complete = media.segments.filter((s) => s.uri).slice(-4);
  const segments = await Promise.all(complete.map(async (s) => Buffer.from(await (await fetchOk(base + 'v0/' + s.uri)).arrayBuffer())));
  let previousEnd: number | null = null;
  const gaps: string[] = [];
  for (const [i, bytes] of segments.entries()) {
    t.equal(bytes.subarray(4, 8).toString('latin1'), 'styp', `segment ${complete[i]!.uri} opens with styp`);
    const fragments = fragmentsOf(bytes);
    for (const fragment of fragments) {
      if (previousEnd !== null && fragment.tfdt !== previousEnd) gaps.push(`tfdt ${fragment.tfdt} after an end at ${previousEnd}`);
      previousEnd = fragment.tfdt + fragment.durations.reduce((a, b) => a + b, 0);
    }
    // The keyframe that opens a segment presents at its tfdt: no offset for players to reconcile.
    t.equal(fragments[0]!.ctos[0], 0, `segment ${complete[i]!.uri} presents from its tfdt`);
    const seconds = fragments.reduce((sum, f) => sum + f.durations.reduce((a, b) => a + b, 0), 0) / 90_000;
    t.ok(Math.abs(seconds - complete[i]!.duration) < 0.0011, `EXTINF ${complete[i]!.duration} is the segment's media duration ${seconds}`);
  }
  t.same(gaps, [], 'fragments are contiguous across segments: each tfdt is where the one before ended');
  for (let i = 1; i < complete.length; i++) {
    const step = (Date.parse(complete[i]!.dateTimeString!) - Date.parse(complete[i - 1]!.dateTimeString!)) / 1000;
    t.ok(Math.abs(step - complete[i - 1]!.duration) < 0.0015, `program date-time advances by the media duration (${step.toFixed(3)} vs ${complete[i - 1]!.duration})`);
  }
});

t.test('a publisher with B-frames: the keyframe opening each segment presents at its tfdt, and the frames decode in order', async (t) => {
  const stream = await server.createStream({ name: 'b-frames' });
  const bPublisher = publishRtmp({ url: stream.ingest.rtmp, seconds: 30, fps: 30, gop: 30, bframes: true });
  t.teardown(() => bPublisher.stop());
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } })).json()) as { sources: { url: string }[] };
  const root = session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', '');
  const text = await playlistWhen('v0/index.m3u8', (p) => (p.match(/#EXTINF/g)?.length ?? 0) >= 2, 30_000, root);
  const media = parseM3u8(text);
  const complete = media.segments.filter((s) => s.uri);
  const init = Buffer.from(await (await fetchOk(root + 'v0/' + complete[0]!.map!.uri)).arrayBuffer());
  const segments = await Promise.all(complete.map(async (s) => Buffer.from(await (await fetchOk(root + 'v0/' + s.uri)).arrayBuffer())));
  const ctos = segments.flatMap((bytes) => fragmentsOf(bytes).flatMap((f) => f.ctos));
  t.ok(ctos.some((c) => c !== 0), 'the publisher really sends reordered frames');
  for (const bytes of segments) t.equal(fragmentsOf(bytes)[0]!.ctos[0], 0, 'the opening keyframe presents at tfdt');
  const decoded = decode(joinSegments(join(server.dataDir, 'bframes-check.mp4'), init, segments));
  t.equal(decoded.errors, '', 'the segments decode cleanly');
  t.ok(decoded.videoFrames >= 55, `with their frames (${decoded.videoFrames})`);
});

t.test('a publisher GOP longer than the segment target decides TARGETDURATION before go-live, and nothing published changes after', async (t) => {
  const stream = await server.createStream({ name: 'long gop' });
  const longGop = publishRtmp({ url: stream.ingest.rtmp, seconds: 30, fps: 30, gop: 60 }); // 2 s GOP, 1 s segments
  t.teardown(() => longGop.stop());
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } })).json()) as { sources: { url: string }[] };
  const root = session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', '');
  const first = parseM3u8(await (await fetchOk(root + 'v0/index.m3u8')).text());
  const later = parseM3u8(await playlistWhen('v0/index.m3u8', (p) => (p.match(/#EXTINF/g)?.length ?? 0) >= 4, 30_000, root));
  t.equal(first.targetDuration, 2, 'the first playlist already carries the GOP-sized target');
  t.equal(later.targetDuration, first.targetDuration, 'TARGETDURATION never changes');
  t.equal(later.serverControl!.canSkipUntil, first.serverControl!.canSkipUntil, 'nor does CAN-SKIP-UNTIL');
  for (const segment of later.segments.filter((s) => s.uri)) t.ok(Math.round(segment.duration) <= later.targetDuration!, `EXTINF ${segment.duration} is within the target`);
  const earlier = first.segments.filter((s) => s.uri).map((s) => [s.uri, s.duration]);
  const again = later.segments.filter((s) => s.uri && earlier.some(([uri]) => uri === s.uri)).map((s) => [s.uri, s.duration]);
  t.same(again, earlier.slice(-again.length), 'segments already announced keep their durations');
});

t.test('an unknown key is refused at publish, and a duplicate publisher is refused without disturbing the first', async (t) => {
  const wrong = publishRtmp({ url: rtmpUrl.replace(streamKey, 'not-a-key'), seconds: 5 });
  t.not(await wrong.exited, 0, 'ffmpeg with an unknown key is disconnected');
  const before = await playlist('v0/index.m3u8');
  const duplicate = publishRtmp({ url: rtmpUrl, seconds: 5, width: 320, height: 180 });
  t.not(await duplicate.exited, 0, 'a second publisher on a live key is disconnected');
  t.equal(publisher.child.exitCode, null, 'the first publisher is still connected');
  const after = await playlistWhen('v0/index.m3u8', (p) => parseM3u8(p).segments.length > 0 && (parseM3u8(p).mediaSequence ?? 0) + parseM3u8(p).segments.length > (before.mediaSequence ?? 0) + before.segments.length + 1);
  const media = parseM3u8(after);
  const init = Buffer.from(await (await fetchOk(base + 'v0/' + media.segments[0]!.map!.uri)).arrayBuffer());
  const newest = await Promise.all(media.segments.slice(-2).map(async (s) => Buffer.from(await (await fetchOk(base + 'v0/' + s.uri)).arrayBuffer())));
  const decoded = decode(joinSegments(join(server.dataDir, 'after-duplicate.mp4'), init, newest));
  t.equal(decoded.errors, '', 'what follows still decodes cleanly');
  t.same([decoded.width, decoded.height], [640, 360], "the intruder's 320x180 never reached the stream");
  t.equal((await (await server.api(`/v1/live-streams/${streamId}`)).json() as { state: string }).state, 'live');
});

t.test('a publisher that drops and returns within the window continues the same playlist with a discontinuity', async (t) => {
  const stream = await server.createStream({ name: 'flaky', reconnectWindowSeconds: 10 });
  const first = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } })).json()) as { sources: { url: string }[] };
  const streamBase = session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', '');
  const beforeDrop = parseM3u8(await playlistWhen('v0/index.m3u8', (p) => (p.match(/#EXTINF/g)?.length ?? 0) >= 2, 30_000, streamBase));

  await first.stop();
  await server.waitForStream(stream.id, (v) => v.state === 'reconnecting');
  const second = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
  t.teardown(() => second.stop());
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const lastBefore = (beforeDrop.mediaSequence ?? 0) + beforeDrop.segments.length - 1;
  const text = await playlistWhen('v0/index.m3u8', (p) => (parseM3u8(p).mediaSequence ?? 0) + parseM3u8(p).segments.length - 1 >= lastBefore + 2, 30_000, streamBase);
  const after = parseM3u8(text);
  t.match(text, /#EXT-X-DISCONTINUITY/, 'the new session is marked as a discontinuity');
  t.equal(after.mediaSequence, beforeDrop.mediaSequence, 'the same playlist continues (the window still starts where it did)');
  t.ok((after.mediaSequence ?? 0) + after.segments.length - 1 >= lastBefore + 2, 'media sequence numbers keep counting up');
});

t.test('after the reconnect window the broadcast ends and its playlist is closed', async (t) => {
  const stream = await server.createStream({ name: 'short window', reconnectWindowSeconds: 1 });
  const pub = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const session = (await (await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } })).json()) as { sources: { url: string }[] };
  const playlistUrl = session.sources[0]!.url.replace('localhost', '127.0.0.1').replace('master.m3u8', 'v0/index.m3u8');
  await pub.stop();
  await server.waitForStream(stream.id, (v) => v.state === 'reconnecting');
  await server.waitForStream(stream.id, (v) => v.state === 'ended');
  const ended = await (await fetchOk(playlistUrl)).text();
  t.match(ended, /#EXT-X-ENDLIST\n$/, 'players see the end of the broadcast, as the last tag');
  t.notMatch(ended, /EXT-X-RENDITION-REPORT|EXT-X-PRELOAD-HINT/, 'with no live edge left to report');
  const refused = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId: stream.id } });
  t.equal(refused.status, 404, 'new sessions are refused until the next broadcast');
  t.match(await refused.json(), { error: { code: 'CONTENT_UNAVAILABLE' } });
});

t.test('resetting the key cuts the live publisher and the old key stops working', async (t) => {
  const stream = await server.createStream({ name: 'reset', reconnectWindowSeconds: 5 });
  const pub = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  const reset = await server.api(`/v1/live-streams/${stream.id}/reset-key`, { method: 'POST' });
  const body = (await reset.json()) as { streamKey: string; ingest: { rtmp: string } };
  t.not(body.streamKey, stream.streamKey, 'a new key is issued');
  t.not(await pub.exited, 0, 'the publisher on the old key is cut');
  const old = publishRtmp({ url: stream.ingest.rtmp, seconds: 5 });
  t.not(await old.exited, 0, 'the old key is refused');
  const fresh = publishRtmp({ url: body.ingest.rtmp.replace('localhost', '127.0.0.1'), seconds: 60 });
  t.teardown(() => fresh.stop());
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  t.pass('the new key publishes');
});

t.test('a publisher that stops sending media is detected and cut', async (t) => {
  const stream = await server.createStream({ name: 'stall', reconnectWindowSeconds: 30 });
  const pub = publishRtmp({ url: stream.ingest.rtmp, seconds: 60 });
  t.teardown(() => {
    pub.child.kill('SIGCONT');
    return pub.stop();
  });
  await server.waitForStream(stream.id, (v) => v.state === 'live');
  pub.child.kill('SIGSTOP'); // the connection stays open, but nothing arrives
  await server.waitForStream(stream.id, (v) => v.state === 'reconnecting', 10_000);
  t.pass('the stalled publisher was disconnected and the stream awaits its return');
});

t.test('a publisher sending audio Weir cannot package is refused with a clear stream state', async (t) => {
  const stream = await server.createStream({ name: 'mp3' });
  const pub = publishRtmp({ url: stream.ingest.rtmp, seconds: 10, audioCodec: 'libmp3lame' });
  const view = await server.waitForStream(stream.id, (v) => v.error !== null);
  t.equal(view.error?.code, 'LIVE_MEDIA_UNSUPPORTED');
  t.match(view.error?.message, /audio format MP3 is not supported; send AAC/);
  t.not(await pub.exited, 0, 'the publisher is disconnected');
});

t.test('the LL-DASH manifest of the same chunks parses, and the open segment arrives chunk by chunk', async (t) => {
  const response = await fetchOk(base + 'manifest.mpd');
  const xml = await response.text();
  t.match(xml, /type="dynamic"/);
  t.match(xml, /availabilityTimeOffset="0\.800"/, 'segments are announced one (advertised) part target after they start');
  t.match(xml, /availabilityTimeComplete="false"/);
  t.match(xml, /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014"/);
  t.match(xml, /<Latency referenceId="0" target="\d+"/);
  const mpd = parseMpd(xml, { manifestUri: base + 'manifest.mpd' });
  t.equal(mpd.playlists.length, 1);
  t.equal(mpd.playlists[0]!.attributes.NAME, 'v0');
  const segments = mpd.playlists[0]!.segments;
  t.ok(segments.length >= 2);
  t.match(segments[0]!.resolvedUri, /\/v0\/seg-\d+\.m4s$/, 'DASH names the same segment files as HLS');

  // Catch a segment just as it opens (blocking on its first part), then fetch it: it streams as its chunks complete.
  const now = parseM3u8(await (await fetchOk(base + 'v0/index.m3u8')).text());
  const opening = (now.mediaSequence ?? 0) + now.segments.length + 1;
  await fetchOk(`${base}v0/index.m3u8?_HLS_msn=${opening}&_HLS_part=0`);
  const open = { resolvedUri: segments[0]!.resolvedUri.replace(/seg-\d+\.m4s$/, `seg-${opening}.m4s`) };
  const started = performance.now();
  const streamed = await fetch(open.resolvedUri);
  const reader = streamed.body!.getReader();
  const arrivals: number[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
    arrivals.push(performance.now() - started);
  }
  t.equal(streamed.status, 200);
  t.equal(streamed.headers.get('transfer-encoding'), 'chunked', 'sent with chunked transfer');
  t.ok(bytes > 1000, `the whole segment arrived (${bytes} bytes)`);
  t.ok(arrivals[arrivals.length - 1]! - arrivals[0]! > 200, 'its chunks arrived over time, as they were made');
});
