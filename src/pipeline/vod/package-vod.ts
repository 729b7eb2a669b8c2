import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import { Chunker, type ChunkSink } from '../cmaf/chunker.js';
import { EncryptionStage, protectTrack, psshBoxes, sealAes128Segment, type CencScheme, type SourcedKey } from '../cmaf/encrypt.js';
import { buildInitSegment } from '../cmaf/init-segment.js';
import { TsSegmentWriter } from '../mpegts/ts-writer.js';
import { SegmentFileWriter, type SegmentRecord } from '../cmaf/segment-writer.js';
import { openFragmentedMp4 } from '../demux/fmp4.js';
import { aacEncoderDelaySamples, encodedFile } from '../encode/encode.js';
import { runFfmpeg } from '../encode/ffmpeg.js';
import type { Ladder } from '../encode/ladder.js';
import { writeStaticMpd } from '../manifest/dash.js';
import { writeMultivariantPlaylist, writeVodMediaPlaylist } from '../manifest/hls.js';
import { packagedRendition, type ManifestProtection, type PackagedRendition } from '../manifest/packaged-rendition.js';
import { imagePlaylistName, thumbnailsVttName, trickPlayDir, trickPlayIntervalMs, writeImagePlaylist, writeThumbnailsVtt, type TrickPlay } from '../manifest/trick-play.js';
import { multivariantName, mediaPlaylistName, dashManifestName, initSegmentName, posterName, stillName } from '../../layout.js';

/** How a title is protected: sample encryption (cenc, cbcs) or whole-segment AES-128 (HLS only). */
export type VodProtection = CencScheme | 'aes-128';

export type PackageVodOptions = {
  encodedDir: string;
  /** The title's protection and key; null for a clear title. */
  protection: { scheme: VodProtection; key: SourcedKey } | null;
  outDir: string;
  ladder: Ladder;
  segmentSeconds: number;
  ffmpeg: string;
  log: Logger;
  signal?: AbortSignal;
};

/** What the manifests signal of a title's protection (the KID and key-source systems, never the key). */
function signalled(protection: PackageVodOptions['protection']): ManifestProtection | null {
  if (!protection) return null;
  if (protection.scheme === 'aes-128') return { scheme: 'aes-128' };
  return { scheme: protection.scheme, kid: protection.key.kid, pssh: protection.key.pssh };
}

/**
 * Packages one encoded rendition: demux → chunk → [encrypt] → fMP4 segments, plus its init
 * segment (protected: encv/enca with the key's pssh boxes); for AES-128, MPEG-TS segments
 * encrypted whole.
 */
async function packageRendition(options: PackageVodOptions, id: string, frameRate: PackagedRendition['frameRate']): Promise<PackagedRendition> {
  const input = await openFragmentedMp4(encodedFile(options.encodedDir, id));
  try {
    const encoded = input.tracks[0];
    if (!encoded) throw new Error(`encoded rendition ${id} holds no video or audio track`);
    // Our audio comes from ffmpeg's AAC encoder: trim its priming so audio starts with video.
    const track = encoded.kind === 'audio' && !encoded.mediaStart ? { ...encoded, mediaStart: aacEncoderDelaySamples } : encoded;
    const dir = join(options.outDir, id);
    await mkdir(dir, { recursive: true });
    const { protection } = options;
    const segments: SegmentRecord[] = [];
    const written = (record: SegmentRecord) => segments.push(record);
    let next: ChunkSink;
    if (protection?.scheme === 'aes-128') {
      // Whole-segment AES-128 is for HLS players that cannot decrypt fMP4: transport streams, sealed as written.
      next = new TsSegmentWriter(dir, track, written, sealAes128Segment(protection.key.key));
    } else if (protection) {
      await writeFile(join(dir, initSegmentName), buildInitSegment(protectTrack(track, protection.scheme, protection.key), psshBoxes(protection.key, protection.key.pssh)));
      next = new EncryptionStage(protection.scheme, protection.key, track.kind, new SegmentFileWriter(dir, written));
    } else {
      await writeFile(join(dir, initSegmentName), buildInitSegment(track));
      next = new SegmentFileWriter(dir, written);
    }
    const chunker = new Chunker(options.segmentSeconds * track.timescale, next);
    for await (const fragment of input.fragments()) {
      if (options.signal?.aborted) throw new Error('packaging cancelled');
      if (fragment.trackId === track.trackId) await chunker.push(fragment.samples);
    }
    await chunker.flush();
    if (segments.length === 0) throw new Error(`encoded rendition ${id} produced no samples`);
    const rendition = { ...packagedRendition(id, track, frameRate, segments), ...(protection?.scheme === 'aes-128' ? { transportStream: true } : {}) };
    await writeFile(join(dir, mediaPlaylistName), writeVodMediaPlaylist(rendition, signalled(options.protection)));
    return rendition;
  } finally {
    await input.close();
  }
}

/** A still from the top rendition, a tenth of the way in (at most 10 s): the poster, and full size for catalog art. */
async function writePoster(options: PackageVodOptions, durationSeconds: number): Promise<void> {
  const top = options.ladder.video[0]!;
  const at = Math.min(10, durationSeconds / 10).toFixed(3);
  await runFfmpeg({
    binary: options.ffmpeg,
    args: [
      ...['-hide_banner', '-nostdin', '-y', '-ss', at, '-i', encodedFile(options.encodedDir, top.id), '-filter_complex', "[0:v]split=2[a][b];[a]scale=-2:'min(720,ih)'[poster]"],
      ...['-map', '[poster]', '-frames:v', '1', '-q:v', '3', join(options.outDir, posterName)],
      ...['-map', '[b]', '-frames:v', '1', '-q:v', '2', join(options.outDir, stillName)],
    ],
    log: options.log,
    signal: options.signal,
  });
}

/** Thumbnails for scrubbing: 5×5 sprites of 320-pixel-wide tiles, cut from the smallest rendition at least 180 lines tall. */
async function writeTrickPlay(options: PackageVodOptions, durationMs: number): Promise<TrickPlay> {
  const video = [...options.ladder.video].sort((a, b) => a.height - b.height);
  const source = video.find((r) => r.height >= 180) ?? video[video.length - 1]!;
  const tileWidth = 320;
  const tileHeight = Math.max(2, Math.round((tileWidth * source.height) / source.width / 2) * 2);
  const intervalMs = trickPlayIntervalMs(durationMs);
  const dir = join(options.outDir, trickPlayDir);
  await mkdir(dir, { recursive: true });
  await runFfmpeg({
    binary: options.ffmpeg,
    args: ['-hide_banner', '-nostdin', '-y', '-i', encodedFile(options.encodedDir, source.id), '-an', '-vf', `fps=1000/${intervalMs},scale=${tileWidth}:${tileHeight},tile=5x5`, '-q:v', '5', join(dir, 'tile-%d.jpg')],
    log: options.log,
    signal: options.signal,
  });
  const sprites = (await readdir(dir)).filter((name) => /^tile-\d+\.jpg$/.test(name));
  const sizes = await Promise.all(sprites.map(async (name) => (await stat(join(dir, name))).size));
  const trick: TrickPlay = {
    dir: trickPlayDir,
    intervalMs,
    tile: { width: tileWidth, height: tileHeight },
    columns: 5,
    rows: 5,
    count: Math.min(Math.ceil(durationMs / intervalMs), sprites.length * 25),
    durationMs,
    totalBytes: sizes.reduce((sum, size) => sum + size, 0),
  };
  await writeFile(join(dir, thumbnailsVttName), writeThumbnailsVtt(trick));
  await writeFile(join(dir, imagePlaylistName), writeImagePlaylist(trick));
  return trick;
}

/**
 * Turns an encoded ladder into one CMAF segment set with HLS playlists, a DASH MPD, trick-play
 * thumbnails and a poster;
 * a protected title's set is encrypted as it is written, and its manifests signal the key.
 */
export async function packageVod(options: PackageVodOptions): Promise<PackagedRendition[]> {
  await mkdir(options.outDir, { recursive: true });
  const jobs = options.ladder.video.map((r) => packageRendition(options, r.id, r.frameRate));
  if (options.ladder.audio) jobs.push(packageRendition(options, options.ladder.audio.id, null));
  const renditions = await Promise.all(jobs);
  const top = renditions[0]!;
  const durationSeconds = top.segments.reduce((s, x) => s + x.duration, 0) / top.timescale;
  const trickPlay = await writeTrickPlay(options, Math.round(durationSeconds * 1000));
  await writeFile(join(options.outDir, multivariantName), writeMultivariantPlaylist(renditions, trickPlay));
  // Whole-segment AES-128 is HLS only: no DASH manifest is published for it.
  if (options.protection?.scheme !== 'aes-128') await writeFile(join(options.outDir, dashManifestName), writeStaticMpd(renditions, signalled(options.protection), trickPlay));
  await writePoster(options, durationSeconds);
  return renditions;
}
