import { join } from 'node:path';

/**
 * Where things live, in one place: the data dir's tree of titles and streams, and the names of
 * the files a title or live stream publishes (as manifests name them and delivery serves them).
 * Every path is built from ids Weir made; none from what a client sent.
 */

/** HLS and DASH manifests. */
export const multivariantName = 'master.m3u8';
export const mediaPlaylistName = 'index.m3u8';
export const dashManifestName = 'manifest.mpd';

/** A title's CMAF files, in each rendition's directory, and the same as a DASH URI template. */
export const initSegmentName = 'init.mp4';
export const segmentName = (number: number): string => `seg-${number}.m4s`;
export const segmentTemplate = 'seg-$Number$.m4s';
/** A title's MPEG-TS segments (AES-128 titles, for players that cannot decrypt fragmented MP4). */
export const tsSegmentName = (number: number): string => `seg-${number}.ts`;

/** A live rendition's files: an init segment per version (a new picture, a new key), segments and parts by media sequence. */
export const liveInitName = (version: number): string => `init-${version}.mp4`;
export const liveSegmentName = (msn: number): string => `seg-${msn}.m4s`;
export const livePartName = (msn: number, index: number): string => `part-${msn}.${index}.m4s`;

/** Beside the manifests of protected content: the AES-128 key file and the ClearKey license endpoint. */
export const aes128KeyName = 'aes128.key';
export const clearKeyLicenseName = 'clearkey';

/** A title's still for catalog art, and the renditions it published (read back by the catalog). */
export const posterName = 'poster.jpg';
/** A full-size still beside the poster, from which catalog art is cut. */
export const stillName = 'still.jpg';
export const renditionsFile = 'renditions.json';

/**
 * Where a title's files live. Each stage writes into a temp dir and renames it when done, so a
 * crash leaves either finished work (kept) or a temp dir (discarded and redone).
 */
export function titlePaths(dataDir: string, titleId: string) {
  const root = join(dataDir, 'titles', titleId);
  return {
    root,
    source: join(root, 'source'),
    encodingTmp: join(root, 'work', 'encoding.tmp'),
    encoded: join(root, 'work', 'encoded'),
    packagingTmp: join(root, 'work', 'packaging.tmp'),
    packaged: join(root, 'work', 'packaged'),
    // A protected title's set, encrypted as it was packaged. Apart from the clear one's, so a
    // clear set left by an older version (which encrypted afterwards) is never published as is.
    keyed: join(root, 'work', 'keyed'),
    work: join(root, 'work'),
    media: join(root, 'media'),
    pidFile: join(root, 'work', 'ffmpeg.pid'),
  };
}

/** Where a live stream's files live: one recording directory per broadcast, for archiving. */
export function streamPaths(dataDir: string, streamId: string) {
  const root = join(dataDir, 'streams', streamId);
  return { root, recording: (broadcast: number) => join(root, 'broadcasts', String(broadcast)) };
}
