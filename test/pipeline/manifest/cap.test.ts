import t from 'tap';
import { allowedHeight, capMpd, capMultivariant } from '../../../src/pipeline/manifest/cap.js';

const multivariant = [
  '#EXTM3U',
  '#EXT-X-VERSION:7',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",URI="a0/index.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=6000000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,AUDIO="audio"',
  'v0/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"',
  'v1/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,AUDIO="audio"',
  'v2/index.m3u8',
  '',
].join('\n');

t.test('the tallest rendition a cap allows is the tallest at or under it, or the smallest when all are above', async (t) => {
  t.equal(allowedHeight([1080, 720, 360], 720), 720);
  t.equal(allowedHeight([1080, 720, 360], 1000), 720);
  t.equal(allowedHeight([1080, 720, 360], 2160), 1080);
  t.equal(allowedHeight([1080, 720], 480), 720, 'a manifest always keeps something to play');
});

t.test('a capped multivariant playlist leaves out the variants above the cap and their URIs, and keeps the rest as it was', async (t) => {
  const capped = capMultivariant(multivariant, 720);
  t.notMatch(capped, /1920x1080/);
  t.notMatch(capped, /v0\/index\.m3u8/, 'the 1080p playlist is not named');
  t.match(capped, /RESOLUTION=1280x720,AUDIO="audio"\nv1\/index\.m3u8/);
  t.match(capped, /RESOLUTION=640x360,AUDIO="audio"\nv2\/index\.m3u8/);
  t.match(capped, /#EXT-X-MEDIA:TYPE=AUDIO/, 'audio stays');
  t.equal(capMultivariant(multivariant, 2160), multivariant, 'a cap above every rendition changes nothing');
});

t.test('a capped MPD leaves out the video Representations above the cap and lowers the set\'s maxWidth and maxHeight', async (t) => {
  const mpd = [
    '<MPD><Period id="0">',
    '<AdaptationSet id="0" contentType="video" maxWidth="1920" maxHeight="1080">',
    '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>',
    '<Representation id="v0" bandwidth="6000000" width="1920" height="1080" codecs="avc1.640028"><SegmentTemplate media="v0/seg-$Number$.m4s"/></Representation>',
    '<Representation id="v1" bandwidth="3000000" width="1280" height="720" codecs="avc1.64001f"><SegmentTemplate media="v1/seg-$Number$.m4s"/></Representation>',
    '</AdaptationSet>',
    '<AdaptationSet id="1" contentType="audio"><Representation id="a0" bandwidth="128000" codecs="mp4a.40.2"><AudioChannelConfiguration value="2"/></Representation></AdaptationSet>',
    '</Period></MPD>',
  ].join('');
  const capped = capMpd(mpd, 720);
  t.notMatch(capped, /id="v0"/);
  t.notMatch(capped, /v0\/seg/);
  t.match(capped, /id="v1"/);
  t.match(capped, /maxWidth="1280" maxHeight="720"/);
  t.match(capped, /id="a0"/, 'audio stays');
  t.match(capped, /<ContentProtection/, 'protection signalling stays');
  t.equal(capMpd(mpd, 1080), mpd);
});
