import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import { Chunker } from '../cmaf/chunker.js';
import { buildInitSegment } from '../cmaf/init-segment.js';
import { initSegmentName, SegmentFileWriter, type SegmentRecord } from '../cmaf/segment-writer.js';
import { openFragmentedMp4 } from '../demux/fmp4.js';
import { aacEncoderDelaySamples, encodedFile } from '../encode/encode.js';
import { runFfmpeg } from '../encode/ffmpeg.js';
import type { Ladder } from '../encode/ladder.js';
import { dashManifestName, writeStaticMpd } from '../manifest/dash.js';
import { mediaPlaylistName, multivariantName, writeMultivariantPlaylist, writeVodMediaPlaylist } from '../manifest/hls.js';
import { packagedRendition, type PackagedRendition } from '../manifest/packaged-rendition.js';

export const posterName = 'poster.jpg';

export type PackageVodOptions = {
  encodedDir: string;
  outDir: string;
  ladder: Ladder;
  segmentSeconds: number;
  ffmpeg: string;
  log: Logger;
  signal?: AbortSignal;
};

/** Packages one encoded rendition: demux → chunk → fMP4 segments, plus its init segment. */
async function packageRendition(options: PackageVodOptions, id: string, frameRate: PackagedRendition['frameRate']): Promise<PackagedRendition> {
  const input = await openFragmentedMp4(encodedFile(options.encodedDir, id));
  try {
    const encoded = input.tracks[0];
    if (!encoded) throw new Error(`encoded rendition ${id} holds no video or audio track`);
    // Our audio comes from ffmpeg's AAC encoder: trim its priming so audio starts with video.
    const track = encoded.kind === 'audio' && !encoded.mediaStart ? { ...encoded, mediaStart: aacEncoderDelaySamples } : encoded;
    const dir = join(options.outDir, id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, initSegmentName), buildInitSegment(track));
    const segments: SegmentRecord[] = [];
    const chunker = new Chunker(options.segmentSeconds * track.timescale, new SegmentFileWriter(dir, (record) => segments.push(record)));
    for await (const fragment of input.fragments()) {
      if (options.signal?.aborted) throw new Error('packaging cancelled');
      if (fragment.trackId === track.trackId) await chunker.push(fragment.samples);
    }
    await chunker.flush();
    if (segments.length === 0) throw new Error(`encoded rendition ${id} produced no samples`);
    const rendition = packagedRendition(id, track, frameRate, segments);
    await writeFile(join(dir, mediaPlaylistName), writeVodMediaPlaylist(rendition));
    return rendition;
  } finally {
    await input.close();
  }
}

/** A still from the top rendition, a tenth of the way in (at most 10 s), for catalog art. */
async function writePoster(options: PackageVodOptions, durationSeconds: number): Promise<void> {
  const top = options.ladder.video[0]!;
  const at = Math.min(10, durationSeconds / 10).toFixed(3);
  await runFfmpeg({
    binary: options.ffmpeg,
    args: ['-hide_banner', '-nostdin', '-y', '-ss', at, '-i', encodedFile(options.encodedDir, top.id), '-frames:v', '1', '-vf', "scale=-2:'min(720,ih)'", '-q:v', '3', join(options.outDir, posterName)],
    log: options.log,
    signal: options.signal,
  });
}

/** Turns an encoded ladder into one CMAF segment set with HLS playlists, a DASH MPD and a poster. */
export async function packageVod(options: PackageVodOptions): Promise<PackagedRendition[]> {
  await mkdir(options.outDir, { recursive: true });
  const jobs = options.ladder.video.map((r) => packageRendition(options, r.id, r.frameRate));
  if (options.ladder.audio) jobs.push(packageRendition(options, options.ladder.audio.id, null));
  const renditions = await Promise.all(jobs);
  await writeFile(join(options.outDir, multivariantName), writeMultivariantPlaylist(renditions));
  await writeFile(join(options.outDir, dashManifestName), writeStaticMpd(renditions));
  const top = renditions[0]!;
  await writePoster(options, top.segments.reduce((s, x) => s + x.duration, 0) / top.timescale);
  return renditions;
}
