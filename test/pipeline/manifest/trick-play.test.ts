import t from 'tap';
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { capMpd } from '../../../src/pipeline/manifest/cap.js';
import { imageStreamInf, thumbnailAdaptationSet, trickPlayIntervalMs, writeImagePlaylist, writeThumbnailsVtt, type TrickPlay } from '../../../src/pipeline/manifest/trick-play.js';

// 62 thumbnails 2 s apart: two full 5×5 sprites and a third with 12 tiles.
const trick: TrickPlay = { dir: 'tiles', intervalMs: 2000, tile: { width: 320, height: 180 }, columns: 5, rows: 5, count: 62, durationMs: 123_500, totalBytes: 300_000 };

t.test('one thumbnail about every hundredth of the title, between 1 and 10 s apart', async (t) => {
  t.equal(trickPlayIntervalMs(12_000), 1000);
  t.equal(trickPlayIntervalMs(300_000), 3000);
  t.equal(trickPlayIntervalMs(7_200_000), 10_000);
});

t.test('the WebVTT track has a cue per thumbnail pointing at its tile in its sprite', async (t) => {
  const cues = writeThumbnailsVtt(trick).split('\n\n').slice(1).map((cue) => cue.trim()).filter(Boolean);
  t.equal(cues.length, 62);
  t.equal(cues[0], '00:00:00.000 --> 00:00:02.000\ntile-1.jpg#xywh=0,0,320,180');
  t.equal(cues[6], '00:00:12.000 --> 00:00:14.000\ntile-1.jpg#xywh=320,180,320,180', 'row 2, column 2');
  t.equal(cues[25], '00:00:50.000 --> 00:00:52.000\ntile-2.jpg#xywh=0,0,320,180', 'the next sprite');
  t.equal(cues[61], '00:02:02.000 --> 00:02:03.500\ntile-3.jpg#xywh=320,360,320,180', 'the last cue ends with the title');
});

t.test('the HLS image playlist follows the Image Media Playlist spec, and the multivariant names it', async (t) => {
  const playlist = writeImagePlaylist(trick);
  t.match(playlist, /#EXT-X-IMAGES-ONLY\n/);
  t.equal(playlist.match(/#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=5x5,DURATION=2\.000/g)?.length, 3);
  t.match(playlist, /#EXTINF:50\.000,\n#EXT-X-TILES:[^\n]+\ntile-1\.jpg\n/);
  t.match(playlist, /#EXTINF:23\.500,\n#EXT-X-TILES:[^\n]+\ntile-3\.jpg\n#EXT-X-ENDLIST/, 'the last sprite lasts to the end');
  const parser = new Parser();
  parser.push(playlist);
  parser.end();
  t.equal(parser.manifest.segments.length, 3, 'm3u8-parser reads three segments');
  t.equal(imageStreamInf(trick), '#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=19434,RESOLUTION=320x180,CODECS="jpeg",URI="tiles/images.m3u8"');
});

t.test('the DASH thumbnail set is a DASH-IF tile Representation, and capping an MPD leaves it alone', async (t) => {
  const set = thumbnailAdaptationSet(trick, 2);
  t.match(set, /<EssentialProperty schemeIdUri="http:\/\/dashif\.org\/thumbnail_tile" value="5x5"\/>/);
  t.match(set, /width="1600" height="900"/);
  t.match(set, /media="tiles\/tile-\$Number\$\.jpg" timescale="1000" duration="50000" startNumber="1"/);
  const video = (height: number) => `<Representation id="v${height}" bandwidth="${height * 1000}" width="${(height * 16) / 9}" height="${height}" codecs="avc1.64001f"/>`;
  const mpd = `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT2M3.5S"><Period id="0" start="PT0S"><AdaptationSet id="0" contentType="video" mimeType="video/mp4" maxWidth="1920" maxHeight="1080"><SegmentTemplate media="$RepresentationID$/seg-$Number$.m4s" initialization="$RepresentationID$/init.mp4" timescale="1000" duration="2000"/>${video(1080)}${video(720)}</AdaptationSet>${set}</Period></MPD>`;
  const capped = capMpd(mpd, 720);
  t.notMatch(capped, /id="v1080"/, 'the 1080p video is gone');
  t.match(capped, /id="thumbnails"/, 'the thumbnails (900 lines of sprite) stay');
  t.match(capped, /maxHeight="720"/);
  const parsed = parseMpd(capped, { manifestUri: 'https://example.test/manifest.mpd' });
  t.equal(parsed.playlists.length, 1, 'mpd-parser sees one video playlist');
});
