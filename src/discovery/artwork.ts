import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../catalog/database.js';
import type { Logger } from '../logger.js';
import { runFfmpeg } from '../pipeline/encode/ffmpeg.js';

export const artworkKinds = ['poster', 'backdrop', 'thumbnail'] as const;
export type ArtworkKind = (typeof artworkKinds)[number];
export const imageFormats = ['jpeg', 'webp'] as const;
export type ImageFormat = (typeof imageFormats)[number];

/** One stored image: content-addressed, so its URL changes when it does and caches keep it forever. */
export type StoredImage = { kind: ArtworkKind; size: string; format: ImageFormat; file: string; source: 'generated' | 'uploaded' };

const extensions: Record<ImageFormat, string> = { jpeg: 'jpg', webp: 'webp' };
/** The names image files have: a content hash and a format. Nothing else is ever served. */
export const imageFilePattern = /^[a-f0-9]{32}\.(jpg|webp)$/;

type Row = { content_id: string; kind: string; size: string; format: string; file: string; source: string };

/**
 * Catalog art (posters, backdrops, thumbnails) in every size the device profiles name, as JPEG
 * and WebP, cut to fill from a still of the title (at publish) or from an image an admin uploads.
 * Files live in one content-addressed directory; rows say which content uses which.
 */
export class ArtworkStore {
  private readonly s;
  /** Images by content as last read (20 a title: read on demand, bounded, not all at start). */
  private readonly byContent = new Map<string, StoredImage[]>();
  private static readonly cacheLimit = 20_000;
  private queue: Promise<void> = Promise.resolve();
  private readonly stopping = new AbortController();

  constructor(
    db: Db,
    private readonly options: {
      dir: string;
      ffmpeg: string;
      log: Logger;
      sizes: Record<ArtworkKind, readonly string[]>;
      /** Where every node reads art from (a bucket), written before an image is listed; null: this node's disk only. */
      shared?: { put(file: string, path: string): Promise<void> } | null;
    },
  ) {
    this.s = {
      of: db.prepare(`SELECT * FROM artwork WHERE content_id = ?`),
      put: db.prepare(
        `INSERT INTO artwork (content_id, kind, size, format, file, source) VALUES (@contentId, @kind, @size, @format, @file, @source)
         ON CONFLICT (content_id, kind, size, format) DO UPDATE SET file = excluded.file, source = excluded.source`,
      ),
      remove: db.prepare(`DELETE FROM artwork WHERE content_id = ?`),
      transaction: (work: () => void) => db.transaction(work)(),
    };
  }

  /** Moves on every change (the discovery read model compares it). */
  version = 0;

  images(contentId: string): readonly StoredImage[] {
    let images = this.byContent.get(contentId);
    if (!images) {
      images = (this.s.of.all(contentId) as Row[]).map((row) => ({ kind: row.kind as ArtworkKind, size: row.size, format: row.format as ImageFormat, file: row.file, source: row.source as StoredImage['source'] }));
      if (this.byContent.size >= ArtworkStore.cacheLimit) this.byContent.clear();
      this.byContent.set(contentId, images);
    }
    return images;
  }

  path(file: string): string {
    return join(this.options.dir, file);
  }

  /**
   * Cuts every size of the given kinds from a still, in both formats; an uploaded image replaces
   * what was generated, and generated art never replaces an upload. Runs one at a time.
   */
  generate(contentId: string, still: string, source: StoredImage['source'], kinds: readonly ArtworkKind[] = artworkKinds): Promise<StoredImage[]> {
    const run = this.queue.then(() => this.cut(contentId, still, source, kinds));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async cut(contentId: string, still: string, source: StoredImage['source'], kinds: readonly ArtworkKind[]): Promise<StoredImage[]> {
    const uploaded = new Set(this.images(contentId).filter((image) => image.source === 'uploaded').map((image) => image.kind));
    const wanted = kinds.filter((kind) => source === 'uploaded' || !uploaded.has(kind));
    const jobs = wanted.flatMap((kind) => [...new Set(this.options.sizes[kind])].flatMap((size) => imageFormats.map((format) => ({ kind, size, format }))));
    if (jobs.length === 0) return [];
    await mkdir(this.options.dir, { recursive: true });
    const temp = await mkdtemp(join(this.options.dir, '.cut-'));
    try {
      // One decode, split to every size: each scaled to cover its box and cropped to the middle.
      const splits = jobs.map((_, i) => `[s${i}]`).join('');
      const chains = jobs.map((job, i) => {
        const [w, h] = job.size.split('x');
        return `[s${i}]scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h},setsar=1[o${i}]`;
      });
      const outputs = jobs.flatMap((job, i) => ['-map', `[o${i}]`, '-frames:v', '1', ...(job.format === 'jpeg' ? ['-c:v', 'mjpeg', '-q:v', '3'] : ['-c:v', 'libwebp', '-quality', '75']), join(temp, `${i}.${extensions[job.format]}`)]);
      await runFfmpeg({ binary: this.options.ffmpeg, args: ['-hide_banner', '-nostdin', '-y', '-i', still, '-filter_complex', `[0:v]split=${jobs.length}${splits};${chains.join(';')}`, ...outputs], log: this.options.log, signal: this.stopping.signal });
      const stored: StoredImage[] = [];
      for (const [i, job] of jobs.entries()) {
        const bytes = await readFile(join(temp, `${i}.${extensions[job.format]}`));
        const file = `${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}.${extensions[job.format]}`;
        if (!existsSync(this.path(file))) await rename(join(temp, `${i}.${extensions[job.format]}`), this.path(file));
        stored.push({ ...job, file, source });
      }
      const shared = this.options.shared;
      if (shared) await Promise.all(stored.map((image) => shared.put(image.file, this.path(image.file))));
      this.s.transaction(() => {
        for (const image of stored) this.s.put.run({ contentId, ...image });
      });
      const kept = this.images(contentId).filter((image) => !stored.some((s) => s.kind === image.kind && s.size === image.size && s.format === image.format));
      this.byContent.set(contentId, [...kept, ...stored]);
      this.version++;
      return stored;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /** Stops the cut under way (its temp dir is removed) and refuses new ones: the server is stopping. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.queue;
  }

  /** Drops what memory holds of a content's art (all content's without one), to read it again: another node changed it. */
  forget(contentId?: string): void {
    if (contentId === undefined) this.byContent.clear();
    else this.byContent.delete(contentId);
    this.version++;
  }

  /** Forgets a content's art (its files stay while other content may share them). */
  remove(contentId: string): void {
    this.s.remove.run(contentId);
    this.byContent.delete(contentId);
    this.version++;
  }
}
