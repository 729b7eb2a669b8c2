import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { TitleRecord } from '../catalog/titles.js';
import type { Logger } from '../logger.js';
import { runFfmpeg } from '../pipeline/encode/ffmpeg.js';
import type { TitleEvent } from './title.machine.js';
import { titlePaths } from '../layout.js';

/** What archiving needs of the catalog's titles. */
export type ArchiveTitles = {
  get(id: string): Pick<TitleRecord, 'state'> | null;
  create(input: { id: string; title: string; description: string; tags: string[] }): unknown;
};

/** What archiving needs of the title actors. */
export type ArchiveTitleActors = {
  has(id: string): boolean;
  create(id: string): void;
  send(id: string, event: TitleEvent): void;
};

export type ArchiveDeps = { titles: ArchiveTitles; titleActors: ArchiveTitleActors; dataDir: string; ffmpeg: string; log: Logger };

/**
 * The archive title of one broadcast: derived from the stream and broadcast number, so running
 * the archive step again (after a restart that lost the stream's snapshot) finds the same title.
 */
export function archiveTitleId(streamId: string, broadcast: number): string {
  const hash = createHash('sha256').update(`weir-archive:${streamId}:${broadcast}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x80; // version 8: a name-based UUID of our own hashing (RFC 9562 §5.8)
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  return hash.subarray(0, 16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
}

/**
 * Live-to-VOD: the recorded renditions are joined (stream copy) into one source for a title.
 * Idempotent: each step is skipped when a previous run already did it, so a broadcast is
 * archived once however often the step runs.
 */
export function createArchiver(deps: ArchiveDeps) {
  return async (stream: { id: string; name: string }, recordingDir: string, broadcast: number): Promise<string> => {
    const id = archiveTitleId(stream.id, broadcast);
    const existing = deps.titles.get(id);
    if (existing && existing.state !== 'awaiting_upload') return id; // handed over before
    const paths = titlePaths(deps.dataDir, id);
    if (!existsSync(paths.source)) {
      const joined = join(recordingDir, 'archive.mp4');
      const args = ['-hide_banner', '-nostdin', '-y', '-i', join(recordingDir, 'v0.mp4')];
      const audio = join(recordingDir, 'a0.mp4');
      if (existsSync(audio)) args.push('-i', audio, '-map', '0:v:0', '-map', '1:a:0');
      args.push('-c', 'copy', joined);
      await runFfmpeg({ binary: deps.ffmpeg, args, log: deps.log });
      await mkdir(paths.root, { recursive: true });
      await rename(joined, paths.source);
    }
    if (!existing) {
      deps.titles.create({ id, title: `${stream.name} — broadcast ${broadcast}`, description: `Recorded from live stream ${stream.id}.`, tags: ['live-archive'] });
    }
    if (!deps.titleActors.has(id)) deps.titleActors.create(id);
    deps.titleActors.send(id, { type: 'SOURCE_UPLOADED', path: paths.source });
    deps.log.info({ streamId: stream.id, titleId: id, broadcast }, 'archived broadcast as a title');
    return id;
  };
}
