import { writeFileSync } from 'node:fs';
import { Parser, type M3u8Manifest } from 'm3u8-parser';
import { parse as parseMpd, type MpdManifest } from 'mpd-parser';

export function parseM3u8(text: string): M3u8Manifest {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

export { parseMpd };

export async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  return response;
}

export type FetchedRendition = { playlistUrl: string; playlist: M3u8Manifest; init: Buffer; segments: Buffer[] };

/** Follows a multivariant playlist to every media playlist, init segment and segment. */
export async function fetchHlsTree(masterUrl: string): Promise<{ master: M3u8Manifest; renditions: FetchedRendition[] }> {
  const master = parseM3u8(await (await fetchOk(masterUrl)).text());
  const playlistUrls = (master.playlists ?? []).map((p) => new URL(p.uri, masterUrl).href);
  for (const group of Object.values(master.mediaGroups.AUDIO)) {
    for (const rendition of Object.values(group)) if (rendition.uri) playlistUrls.push(new URL(rendition.uri, masterUrl).href);
  }
  const renditions: FetchedRendition[] = [];
  for (const playlistUrl of playlistUrls) {
    const playlist = parseM3u8(await (await fetchOk(playlistUrl)).text());
    const mapUri = playlist.segments[0]?.map?.uri;
    if (!mapUri) throw new Error(`${playlistUrl} has no EXT-X-MAP`);
    const init = Buffer.from(await (await fetchOk(new URL(mapUri, playlistUrl).href)).arrayBuffer());
    const segments: Buffer[] = [];
    for (const segment of playlist.segments) segments.push(Buffer.from(await (await fetchOk(new URL(segment.uri, playlistUrl).href)).arrayBuffer()));
    renditions.push({ playlistUrl, playlist, init, segments });
  }
  return { master, renditions };
}

export async function fetchMpd(url: string): Promise<MpdManifest> {
  return parseMpd(await (await fetchOk(url)).text(), { manifestUri: url });
}

/** Writes init + segments as one file, which ffmpeg reads as a fragmented MP4. */
export function joinSegments(path: string, init: Buffer, segments: Buffer[]): string {
  writeFileSync(path, Buffer.concat([init, ...segments]));
  return path;
}
