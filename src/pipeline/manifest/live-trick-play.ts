import { thumbnailTimescale, type LiveThumbnail, type LiveThumbnails } from '../live/thumbnails.js';
import { imagePlaylistName, trickPlayDir } from './trick-play.js';

/** The file of a slot of a publisher session (its start on the broadcast clock, ms), beside the image playlist in `trickPlayDir`. */
export const liveThumbnailName = (sessionStartMs: number, slot: number | '$Number$'): string => `live-${sessionStartMs}-${slot}.jpg`;
export const liveThumbnailPattern = /^live-(\d{1,15})-(\d{1,12})\.jpg$/;

const seconds = (ticks: number) => (ticks / thumbnailTimescale).toFixed(3);

function bandwidth(items: readonly LiveThumbnail[]): number {
  const bytes = items.reduce((sum, item) => sum + item.bytes.length, 0);
  const ticks = items.reduce((sum, item) => sum + item.durationTicks, 0);
  return Math.max(1, Math.ceil((bytes * 8 * thumbnailTimescale) / Math.max(1, ticks)));
}

/**
 * The live HLS image media playlist (Image Media Playlist spec 0.4): one 1×1 tile per entry, each
 * with its program date-time so players place it on the stream's clock, a discontinuity where a
 * publisher session begins, and EXT-X-ENDLIST once the broadcast ends.
 */
export function writeLiveImagePlaylist(thumbnails: LiveThumbnails): string {
  const items = thumbnails.list();
  const target = Math.max(1, ...items.map((item) => Math.ceil(item.durationTicks / thumbnailTimescale)));
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', `#EXT-X-TARGETDURATION:${target}`, `#EXT-X-MEDIA-SEQUENCE:${items[0]?.number ?? 1}`];
  if (thumbnails.discontinuitySequence > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${thumbnails.discontinuitySequence}`);
  lines.push('#EXT-X-IMAGES-ONLY');
  items.forEach((item, index) => {
    if (index > 0 && items[index - 1]!.sessionStartMs !== item.sessionStartMs) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(item.pdtMs).toISOString()}`);
    lines.push(`#EXTINF:${seconds(item.durationTicks)},`);
    lines.push(`#EXT-X-TILES:RESOLUTION=${item.tile.width}x${item.tile.height},LAYOUT=1x1,DURATION=${seconds(item.durationTicks)}`);
    lines.push(liveThumbnailName(item.sessionStartMs, item.slot));
  });
  if (thumbnails.isEnded) lines.push('#EXT-X-ENDLIST');
  lines.push('');
  return lines.join('\n');
}

/** The multivariant playlist's line naming the live image playlist; null before the first thumbnail. */
export function liveImageStreamInf(thumbnails: LiveThumbnails): string | null {
  const items = thumbnails.list();
  const newest = items.at(-1);
  if (!newest) return null;
  return `#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=${bandwidth(items)},RESOLUTION=${newest.tile.width}x${newest.tile.height},CODECS="jpeg",URI="${trickPlayDir}/${imagePlaylistName}"`;
}

/**
 * A live MPD Period's thumbnail AdaptationSet (DASH-IF `thumbnail_tile`, 1×1): a number-based
 * template of the session's slots on the broadcast's 90 kHz clock, so a player computes the tile
 * of any moment without waiting for the next MPD (dash.js reads thumbnails only this way). Empty
 * when the Period has no thumbnail yet.
 */
export function liveThumbnailAdaptationSet(thumbnails: LiveThumbnails, id: number, sessionStartMs: number): string {
  const items = thumbnails.list().filter((item) => item.sessionStartMs === sessionStartMs);
  const newest = items.at(-1);
  if (!newest) return '';
  return (
    `<AdaptationSet id="${id}" contentType="image" mimeType="image/jpeg">` +
    `<SegmentTemplate media="${trickPlayDir}/${liveThumbnailName(sessionStartMs, '$Number$')}" timescale="${thumbnailTimescale}" duration="${thumbnails.intervalTicks}" startNumber="0" presentationTimeOffset="${Math.round((sessionStartMs * thumbnailTimescale) / 1000)}"/>` +
    `<Representation id="thumbnails" bandwidth="${bandwidth(items)}" width="${newest.tile.width}" height="${newest.tile.height}">` +
    '<EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="1x1"/>' +
    '</Representation></AdaptationSet>'
  );
}
