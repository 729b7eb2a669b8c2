import t, { type Test } from 'tap';
import { join } from 'node:path';
import { decode, firstPresentation, makeSource } from '../helpers/media.js';
import { fetchHlsTree, fetchMpd, fetchOk, joinSegments } from '../helpers/playback.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Session = { id: string; contentId: string; expiresAt: string; sources: { protocol: string; url: string }[] };
type Rendition = { id: string; kind: string; width: number | null; height: number | null; bandwidth: number; codecs: string };

async function playbackSession(server: TestServer, contentId: string): Promise<Session> {
  const response = await server.api('/v1/playback-sessions', { method: 'POST', admin: false, json: { contentId } });
  if (response.status !== 201) throw new Error(`session answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Session;
}

const sourceUrl = (session: Session, protocol: string) => session.sources.find((s) => s.protocol === protocol)!.url;

let server: TestServer;
t.before(async () => {
  server = await startTestServer({ packaging: { segmentSeconds: 2 } });
});
t.teardown(() => server.stop());

/** Fetches a title's HLS and DASH and checks both describe and deliver the same decodable segment set. */
async function checkPlayback(t: Test, id: string, expect: { videoRenditions: number; audio: boolean; seconds: number; fps: number }) {
  const session = await playbackSession(server, id);
  t.equal(session.contentId, id);
  t.ok(Date.parse(session.expiresAt) > Date.now(), 'the session expires in the future');
  t.same(session.sources.map((s) => s.protocol), ['hls', 'dash']);
  t.equal((session as Session & { live: unknown }).live, null, 'no live player settings for a title');

  const { master, renditions } = await fetchHlsTree(sourceUrl(session, 'hls'));
  t.equal(master.playlists?.length, expect.videoRenditions, 'one variant per video rendition');
  t.equal(Object.keys(master.mediaGroups.AUDIO).length, expect.audio ? 1 : 0, 'audio is one rendition group, or absent');
  for (const variant of master.playlists ?? []) {
    t.match(variant.attributes.CODECS, expect.audio ? /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/ : /^avc1\.[0-9a-f]{6}$/);
    t.ok((variant.attributes.BANDWIDTH ?? 0) > 0, 'BANDWIDTH is measured');
    t.ok(variant.attributes['AVERAGE-BANDWIDTH'], 'AVERAGE-BANDWIDTH is present');
    t.ok(variant.attributes['FRAME-RATE'], 'FRAME-RATE is present');
  }
  const byPixels = [...(master.playlists ?? [])].sort((a, b) => a.attributes.RESOLUTION!.width * a.attributes.RESOLUTION!.height - b.attributes.RESOLUTION!.width * b.attributes.RESOLUTION!.height);
  for (let i = 1; i < byPixels.length; i++) {
    const [lower, higher] = [byPixels[i - 1]!.attributes, byPixels[i]!.attributes];
    t.ok(higher.BANDWIDTH! > lower.BANDWIDTH!, `${higher.RESOLUTION!.height}p advertises more than ${lower.RESOLUTION!.height}p (${higher.BANDWIDTH} > ${lower.BANDWIDTH})`);
  }
  for (const rendition of renditions) {
    const styp = rendition.segments[0]!.subarray(0, rendition.segments[0]!.readUInt32BE(0));
    t.equal(styp.subarray(4, 8).toString(), 'styp', 'segments open with styp');
    t.notOk(styp.includes(Buffer.from('msix')), 'no msix brand, since segments carry no sidx');
  }
  const videoTimelines: number[][] = [];
  for (const rendition of renditions) {
    t.equal(rendition.playlist.endList, true, `${rendition.playlistUrl} is a finished VOD playlist`);
    t.equal(rendition.playlist.playlistType, 'VOD');
    const total = rendition.playlist.segments.reduce((sum, s) => sum + s.duration, 0);
    t.ok(Math.abs(total - expect.seconds) < 0.2, `playlist covers the source's ${expect.seconds} s (got ${total.toFixed(3)})`);
    const decoded = decode(joinSegments(join(server.dataDir, `check-${Math.random()}.mp4`), rendition.init, rendition.segments));
    t.equal(decoded.errors, '', 'segments decode without errors');
    if (decoded.videoFrames > 0) {
      t.equal(decoded.videoFrames, expect.seconds * expect.fps, 'every source frame is in the segments');
      videoTimelines.push(rendition.playlist.segments.map((s) => s.duration));
    } else {
      t.ok(decoded.audioFrames > 0, 'audio rendition decodes to audio frames');
      // The AAC encoder's 1024 priming samples are trimmed by an edit list, so audio starts with video.
      const audioFile = joinSegments(join(server.dataDir, `audio-start-${Math.random()}.mp4`), rendition.init, rendition.segments.slice(0, 1));
      const start = firstPresentation(audioFile).audio!;
      t.ok(Math.abs(start + 1024 / 48_000) < 0.001, `the priming presents before 0, so the first heard sample is at 0 (first packet at ${start})`);
    }
  }
  t.equal(videoTimelines.length, expect.videoRenditions);
  for (const timeline of videoTimelines.slice(1)) t.same(timeline, videoTimelines[0], 'video renditions cut at the same instants');

  const mpd = await fetchMpd(sourceUrl(session, 'dash'));
  t.equal(mpd.playlists.length, expect.videoRenditions, 'the MPD lists the same video renditions');
  const dashRates = [...mpd.playlists].sort((a, b) => a.attributes.RESOLUTION!.width - b.attributes.RESOLUTION!.width).map((p) => p.attributes.BANDWIDTH);
  t.same(dashRates, [...dashRates].sort((a, b) => a - b), 'DASH bandwidths rise with resolution too');
  t.ok(Math.abs(mpd.duration - expect.seconds) < 0.2, 'the MPD duration matches the source');
  const audioPlaylists = Object.values(mpd.mediaGroups.AUDIO).flatMap((group) => Object.values(group).flatMap((r) => r.playlists));
  t.equal(audioPlaylists.length, expect.audio ? 1 : 0);
  for (const playlist of [...mpd.playlists, ...audioPlaylists]) {
    const init = Buffer.from(await (await fetchOk(playlist.segments[0]!.map.resolvedUri)).arrayBuffer());
    const segments = await Promise.all(playlist.segments.map(async (s) => Buffer.from(await (await fetchOk(s.resolvedUri)).arrayBuffer())));
    const decoded = decode(joinSegments(join(server.dataDir, `dash-${Math.random()}.mp4`), init, segments));
    t.equal(decoded.errors, '', `DASH representation ${playlist.attributes.NAME} decodes without errors`);
  }
  return session;
}

t.test('an uploaded landscape file becomes a ready title that plays from one segment set over HLS and DASH', async (t) => {
  const { id, view } = await server.ingest(makeSource({ width: 1280, height: 720, seconds: 6 }));
  t.equal(view.state, 'ready', JSON.stringify(view.error));
  t.equal(view.progress, 1);
  const title = (await (await server.api(`/v1/titles/${id}`)).json()) as { source: Record<string, unknown>; renditions: Rendition[] };
  t.match(title.source, { durationMs: 6000, width: 1280, height: 720, frameRate: 30, videoCodec: 'h264', audio: { codec: 'aac' } });
  const video = title.renditions.filter((r) => r.kind === 'video');
  t.same(video.map((r) => [r.width, r.height]), [[1280, 720], [854, 480], [640, 360]], 'ladder steps down from the source, never above it');
  t.ok(title.renditions.some((r) => r.kind === 'audio' && r.codecs === 'mp4a.40.2'), 'audio is published as its own AAC-LC rendition');

  const session = await checkPlayback(t, id, { videoRenditions: 3, audio: true, seconds: 6, fps: 30 });
  const master = await fetchOk(sourceUrl(session, 'hls'));
  t.match(master.headers.get('cache-control'), /max-age=5\b/, 'manifests get a short cache lifetime');
  const segment = await fetchOk(new URL('v0/seg-1.m4s', sourceUrl(session, 'hls')).href);
  t.match(segment.headers.get('cache-control'), /immutable/, 'segments are cached long and immutable');
  const poster = await fetchOk(new URL('poster.jpg', sourceUrl(session, 'hls')).href);
  t.equal(poster.headers.get('content-type'), 'image/jpeg', 'a poster image is published');
});

t.test('a phone video with rotation metadata becomes portrait renditions', async (t) => {
  const { id, view } = await server.ingest(makeSource({ width: 854, height: 480, seconds: 4, rotate: 90 }));
  t.equal(view.state, 'ready', JSON.stringify(view.error));
  const title = (await (await server.api(`/v1/titles/${id}`)).json()) as { source: Record<string, unknown>; renditions: Rendition[] };
  t.match(title.source, { width: 480, height: 854, rotation: 90 });
  t.same(
    title.renditions.filter((r) => r.kind === 'video').map((r) => [r.width, r.height]),
    [[480, 854], [360, 640]],
    'the ladder is chosen by the short side and keeps the portrait shape',
  );
  await checkPlayback(t, id, { videoRenditions: 2, audio: true, seconds: 4, fps: 30 });
});

t.test('a source without audio produces video-only output', async (t) => {
  const { id, view } = await server.ingest(makeSource({ width: 640, height: 360, seconds: 4, audio: false, fps: 25 }));
  t.equal(view.state, 'ready', JSON.stringify(view.error));
  const title = (await (await server.api(`/v1/titles/${id}`)).json()) as { renditions: Rendition[] };
  t.same(title.renditions.map((r) => r.kind), ['video']);
  await checkPlayback(t, id, { videoRenditions: 1, audio: false, seconds: 4, fps: 25 });
});

t.test('a server keeping media on local disk refuses uploads straight to a bucket, saying how to upload instead', async (t) => {
  const created = (await (await server.api('/v1/titles', { method: 'POST', json: { title: 'No bucket' } })).json()) as { id: string };
  for (const step of ['upload-url', 'uploaded']) {
    const refused = await server.api(`/v1/titles/${created.id}/source/${step}`, { method: 'POST' });
    t.equal(refused.status, 409);
    t.match(await refused.json(), { error: { code: 'DIRECT_UPLOAD_UNAVAILABLE', message: /PUT \/v1\/titles\/\{id\}\/source or tus/ } });
  }
});
