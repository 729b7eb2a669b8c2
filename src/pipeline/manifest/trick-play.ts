/**
 * Trick-play thumbnails: sprite images of tiles, one tile every `intervalMs`, described in the
 * forms players read: a WebVTT track (`#xywh=` fragments; web players and apps), an HLS image
 * media playlist (EXT-X-IMAGES-ONLY and EXT-X-TILES, Roku's spec) named by EXT-X-IMAGE-STREAM-INF,
 * and a DASH thumbnail AdaptationSet (DASH-IF `http://dashif.org/thumbnail_tile`).
 */
export type TrickPlay = {
  /** Directory of the sprites and their descriptions, relative to the manifests. */
  dir: string;
  intervalMs: number;
  tile: { width: number; height: number };
  columns: number;
  rows: number;
  /** Thumbnails in all (the last sprite may be partly empty). */
  count: number;
  durationMs: number;
  /** Bytes of every sprite, for the bandwidth manifests declare. */
  totalBytes: number;
};

export const trickPlayDir = 'tiles';
export const spriteName = (number: number): string => `tile-${number}.jpg`;
export const thumbnailsVttName = 'thumbnails.vtt';
export const imagePlaylistName = 'images.m3u8';

const perSprite = (trick: TrickPlay) => trick.columns * trick.rows;
export const spriteCount = (trick: TrickPlay): number => Math.ceil(trick.count / perSprite(trick));

/** One thumbnail every so often: about 100 for the title, 1 to 10 s apart. */
export function trickPlayIntervalMs(durationMs: number): number {
  return Math.min(10, Math.max(1, Math.round(durationMs / 100_000))) * 1000;
}

const vttTime = (ms: number) => {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}`;
};

/** The WebVTT track: one cue per thumbnail, pointing into its sprite (beside it in `dir`). */
export function writeThumbnailsVtt(trick: TrickPlay): string {
  const lines = ['WEBVTT', ''];
  for (let i = 0; i < trick.count; i++) {
    const start = i * trick.intervalMs;
    const end = Math.min((i + 1) * trick.intervalMs, trick.durationMs);
    if (end <= start) break;
    const position = i % perSprite(trick);
    const x = (position % trick.columns) * trick.tile.width;
    const y = Math.floor(position / trick.columns) * trick.tile.height;
    lines.push(`${vttTime(start)} --> ${vttTime(end)}`, `${spriteName(Math.floor(i / perSprite(trick)) + 1)}#xywh=${x},${y},${trick.tile.width},${trick.tile.height}`, '');
  }
  return lines.join('\n');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);
const bandwidth = (trick: TrickPlay) => Math.max(1, Math.ceil((trick.totalBytes * 8 * 1000) / Math.max(1, trick.durationMs)));

/** The HLS image media playlist (Image Media Playlist spec 0.4, as Roku reads it). */
export function writeImagePlaylist(trick: TrickPlay): string {
  const spriteMs = perSprite(trick) * trick.intervalMs;
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', `#EXT-X-TARGETDURATION:${Math.ceil(spriteMs / 1000)}`, '#EXT-X-MEDIA-SEQUENCE:1', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-IMAGES-ONLY'];
  for (let n = 1; n <= spriteCount(trick); n++) {
    const start = (n - 1) * spriteMs;
    lines.push(`#EXTINF:${seconds(Math.min(spriteMs, trick.durationMs - start))},`);
    lines.push(`#EXT-X-TILES:RESOLUTION=${trick.tile.width}x${trick.tile.height},LAYOUT=${trick.columns}x${trick.rows},DURATION=${seconds(trick.intervalMs)}`);
    lines.push(spriteName(n));
  }
  lines.push('#EXT-X-ENDLIST', '');
  return lines.join('\n');
}

/** The multivariant playlist's line naming the image playlist. */
export function imageStreamInf(trick: TrickPlay): string {
  return `#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=${bandwidth(trick)},RESOLUTION=${trick.tile.width}x${trick.tile.height},CODECS="jpeg",URI="${trick.dir}/${imagePlaylistName}"`;
}

/** The MPD's thumbnail AdaptationSet: one Representation, one sprite per segment. */
export function thumbnailAdaptationSet(trick: TrickPlay, id: number): string {
  return (
    `<AdaptationSet id="${id}" contentType="image" mimeType="image/jpeg">` +
    `<SegmentTemplate media="${trick.dir}/tile-$Number$.jpg" timescale="1000" duration="${perSprite(trick) * trick.intervalMs}" startNumber="1"/>` +
    `<Representation id="thumbnails" bandwidth="${bandwidth(trick)}" width="${trick.tile.width * trick.columns}" height="${trick.tile.height * trick.rows}">` +
    `<EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="${trick.columns}x${trick.rows}"/>` +
    '</Representation></AdaptationSet>'
  );
}
