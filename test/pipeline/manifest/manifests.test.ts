import t from 'tap';
import { writeStaticMpd } from '../../../src/pipeline/manifest/dash.js';
import { writeMultivariantPlaylist, writeVodMediaPlaylist } from '../../../src/pipeline/manifest/hls.js';
import type { PackagedRendition } from '../../../src/pipeline/manifest/packaged-rendition.js';
import { parseM3u8, parseMpd } from '../../helpers/playback.js';

const video = (id: string, width: number, height: number, bytes: number): PackagedRendition => ({
  id,
  kind: 'video',
  codec: 'avc1.64001f',
  width,
  height,
  frameRate: { num: 30000, den: 1001 },
  channels: 0,
  sampleRate: 0,
  timescale: 15360,
  segments: [
    { number: 1, startDts: 0, duration: 61440, bytes },
    { number: 2, startDts: 61440, duration: 61440, bytes: bytes * 2 },
    { number: 3, startDts: 122880, duration: 20480, bytes: bytes / 4 },
  ],
});
const audio: PackagedRendition = {
  id: 'a0',
  kind: 'audio',
  codec: 'mp4a.40.2',
  width: 0,
  height: 0,
  frameRate: null,
  channels: 2,
  sampleRate: 48000,
  timescale: 48000,
  segments: [
    { number: 1, startDts: 0, duration: 192512, bytes: 64000 },
    { number: 2, startDts: 192512, duration: 191488, bytes: 64000 },
  ],
};
const renditions = [video('v0', 1280, 720, 1_000_000), video('v1', 640, 360, 300_000), audio];

t.test('the multivariant playlist parses, with bandwidths measured from the segments and audio as a group', async (t) => {
  const text = writeMultivariantPlaylist(renditions);
  const parsed = parseM3u8(text);
  t.equal(parsed.playlists?.length, 2);
  const top = parsed.playlists![0]!;
  t.equal(top.uri, 'v0/index.m3u8');
  // Peak of v0 is segment 2: 2 MB in 4 s = 4 Mbit/s; audio peak 64000 B over 3.9893 s.
  t.equal(top.attributes.BANDWIDTH, 4_000_000 + Math.ceil((64000 * 8) / (191488 / 48000)));
  t.same(top.attributes.RESOLUTION, { width: 1280, height: 720 });
  t.equal(top.attributes.CODECS, 'avc1.64001f,mp4a.40.2');
  t.match(text, /FRAME-RATE=29\.970/);
  t.match(text, /AVERAGE-BANDWIDTH=\d+/);
  t.equal(parsed.mediaGroups.AUDIO.audio?.Main?.uri, 'a0/index.m3u8');
});

t.test('VOD media playlists parse with EXT-X-MAP, exact durations and a target that bounds them', async (t) => {
  const parsed = parseM3u8(writeVodMediaPlaylist(renditions[0]!));
  t.equal(parsed.targetDuration, 4);
  t.equal(parsed.endList, true);
  t.equal(parsed.playlistType, 'VOD');
  t.same(parsed.segments.map((s) => [s.uri, s.duration, s.map?.uri]), [['seg-1.m4s', 4, 'init.mp4'], ['seg-2.m4s', 4, 'init.mp4'], ['seg-3.m4s', 1.333, 'init.mp4']]);
});

t.test('the static MPD parses into the same renditions and segment timeline', async (t) => {
  const mpd = parseMpd(writeStaticMpd(renditions), { manifestUri: 'http://origin/title/manifest.mpd' });
  t.equal(mpd.playlists.length, 2);
  t.ok(Math.abs(mpd.duration - (61440 * 2 + 20480) / 15360) < 0.001);
  const v0 = mpd.playlists.find((p) => p.attributes.NAME === 'v0')!;
  t.same(v0.segments.map((s) => [s.resolvedUri, s.duration]), [
    ['http://origin/title/v0/seg-1.m4s', 4],
    ['http://origin/title/v0/seg-2.m4s', 4],
    ['http://origin/title/v0/seg-3.m4s', 20480 / 15360],
  ]);
  t.equal(v0.segments[0]!.map.resolvedUri, 'http://origin/title/v0/init.mp4');
  const audioPlaylists = Object.values(mpd.mediaGroups.AUDIO).flatMap((g) => Object.values(g).flatMap((r) => r.playlists));
  t.equal(audioPlaylists.length, 1);
  t.same(audioPlaylists[0]!.segments.map((s) => s.duration), [192512 / 48000, 191488 / 48000]);
});

t.test('a smaller rung that measured more bits than a larger one is still advertised below it, in HLS and DASH', async (t) => {
  // 480p cost more than 720p on an easy picture: ABR players would take 480p for the top rung.
  const inverted = [video('v0', 1280, 720, 300_000), video('v1', 854, 480, 400_000), audio];
  const master = parseM3u8(writeMultivariantPlaylist(inverted));
  const rate = (height: number) => master.playlists!.find((p) => p.attributes.RESOLUTION!.height === height)!.attributes;
  t.ok(rate(720).BANDWIDTH! > rate(480).BANDWIDTH!, `HLS: 720p ${rate(720).BANDWIDTH} > 480p ${rate(480).BANDWIDTH}`);
  t.ok(rate(720)['AVERAGE-BANDWIDTH']! > rate(480)['AVERAGE-BANDWIDTH']!, 'average bandwidth too');
  const mpd = parseMpd(writeStaticMpd(inverted), { manifestUri: 'http://example.test/manifest.mpd' });
  const dash = (height: number) => mpd.playlists.find((p) => p.attributes.RESOLUTION!.height === height)!.attributes.BANDWIDTH;
  t.ok(dash(720) > dash(480), `DASH: 720p ${dash(720)} > 480p ${dash(480)}`);
  t.equal(master.playlists![0]!.attributes.RESOLUTION!.height, 720, 'the top variant is listed first');
});

t.test('a protected VOD playlist signals ClearKey and then each DRM system the key source supplied a PSSH for, in its own key format', async (t) => {
  const kid = Buffer.alloc(16, 0xab);
  const pssh = (systemId: string, data: Buffer) => ({ type: 'pssh' as const, version: 0 as const, systemId: Buffer.from(systemId, 'hex'), kids: [], data });
  const playlist = writeVodMediaPlaylist(renditions[0]!, {
    scheme: 'cbcs',
    kid,
    pssh: [pssh('edef8ba979d64acea3c827dcd51d21ed', Buffer.from('widevine-data')), pssh('9a04f07998404286ab92e65be0885f95', Buffer.from('playready-object')), pssh('94ce86fb07ff4f43adb893d2fa968ca2', Buffer.alloc(0))],
  });
  const keys = playlist.split('\n').filter((line) => line.startsWith('#EXT-X-KEY:'));
  t.same(
    keys.map((line) => /KEYFORMAT="([^"]+)"/.exec(line)![1]),
    ['org.w3.clearkey', 'urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed', 'com.microsoft.playready', 'com.apple.streamingkeydelivery'],
  );
  t.ok(keys.every((line) => line.startsWith('#EXT-X-KEY:METHOD=SAMPLE-AES,')), 'cbcs is SAMPLE-AES for every system');
  const widevine = Buffer.from(/base64,([^"]+)"/.exec(keys[1]!)![1]!, 'base64');
  t.equal(widevine.subarray(4, 8).toString(), 'pssh', 'Widevine gets the whole pssh box');
  t.ok(widevine.includes(Buffer.from('widevine-data')));
  t.match(keys[2], /URI="data:text\/plain;charset=UTF-16;base64,cGxheXJlYWR5LW9iamVjdA=="/, 'PlayReady its object');
  t.match(keys[3], `URI="skd://${kid.toString('hex')}"`, 'FairPlay an skd URI naming the KID');
  t.ok(playlist.indexOf('#EXT-X-KEY') < playlist.indexOf('#EXT-X-MAP'), 'all before the map');
});
