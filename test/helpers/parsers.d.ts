// Minimal typings for the manifest parsers the tests use (neither package ships its own).
declare module 'm3u8-parser' {
  export type M3u8Part = { uri: string; duration: number; independent?: boolean };
  export type M3u8Segment = { uri: string; duration: number; map?: { uri: string }; key?: unknown; dateTimeString?: string; programDateTime?: number; parts?: M3u8Part[]; discontinuity?: boolean };
  export type M3u8Playlist = { uri: string; attributes: Record<string, unknown> & { BANDWIDTH?: number; CODECS?: string; RESOLUTION?: { width: number; height: number } } };
  export type M3u8Manifest = {
    playlists?: M3u8Playlist[];
    mediaGroups: { AUDIO: Record<string, Record<string, { uri?: string; default?: boolean }>> };
    segments: M3u8Segment[];
    endList?: boolean;
    targetDuration?: number;
    playlistType?: string;
    independentSegments?: boolean;
    mediaSequence?: number;
    serverControl?: { canBlockReload?: boolean; partHoldBack?: number; canSkipUntil?: number };
    partInf?: { partTarget: number };
    skip?: { skippedSegments: number };
    preloadSegment?: { parts?: M3u8Part[]; preloadHints?: { type: string; uri: string }[] };
    renditionReports?: { uri: string; lastMsn: number; lastPart: number }[];
  };
  export class Parser {
    push(text: string): void;
    end(): void;
    manifest: M3u8Manifest;
  }
}
declare module 'mpd-parser' {
  export type MpdSegment = { uri: string; resolvedUri: string; duration: number; number: number; presentationTime: number; map: { uri: string; resolvedUri: string } };
  export type MpdPlaylist = { attributes: Record<string, unknown> & { NAME: string; BANDWIDTH: number; CODECS: string; RESOLUTION?: { width: number; height: number } }; segments: MpdSegment[] };
  export type MpdManifest = {
    duration: number;
    endList: boolean;
    playlists: MpdPlaylist[];
    mediaGroups: { AUDIO: Record<string, Record<string, { playlists: MpdPlaylist[] }>> };
  };
  export function parse(xml: string, options: { manifestUri: string }): MpdManifest;
}

declare module 'parse-prometheus-text-format' {
  export type PromSample = { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string };
  export type PromFamily = { name: string; help: string; type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'; metrics: PromSample[] };
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
