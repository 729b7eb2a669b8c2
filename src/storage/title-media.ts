import { readdir } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import type { ObjectStore, StoredObject } from './objects.js';

/** The key of a title's published file in the bucket: the same tree as the data dir's media dir. */
export function titleMediaKey(titleId: string, file: string): string {
  return `titles/${titleId}/media/${file}`;
}

const contentTypes: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
  '.ts': 'video/mp2t',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.vtt': 'text/vtt',
  '.json': 'application/json',
};

export function contentTypeOf(file: string): string {
  return contentTypes[extname(file)] ?? 'application/octet-stream';
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
}

/**
 * Copies a title's published set into the bucket, a few files at a time. Run before the title
 * is ready, so no node is told of a title whose files are not all there; running it again (a
 * retry) writes the same keys again.
 */
export async function uploadTitleMedia(store: ObjectStore, titleId: string, mediaDir: string, concurrency = 8): Promise<number> {
  const files = await filesUnder(mediaDir);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      await store.putFile(titleMediaKey(titleId, file), join(mediaDir, file), contentTypeOf(file));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return files.length;
}

export function removeTitleMedia(store: ObjectStore, titleId: string): Promise<number> {
  return store.removePrefix(`titles/${titleId}/`);
}

/** Delivery's reader of title files kept in the bucket (see delivery/media.ts). */
export function bucketTitleFiles(store: ObjectStore, delivery: 'proxy' | 'redirect', signedSeconds = 300) {
  return {
    readText: (titleId: string, file: string): Promise<string | null> => store.getText(titleMediaKey(titleId, file)),
    get: (titleId: string, file: string, range?: string): Promise<StoredObject | null> => store.get(titleMediaKey(titleId, file), range),
    signedUrl: delivery === 'redirect' ? (titleId: string, file: string): Promise<string> => store.signedUrl(titleMediaKey(titleId, file), signedSeconds) : null,
  };
}
