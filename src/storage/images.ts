import type { ObjectStore, StoredObject } from './objects.js';
import { contentTypeOf } from './title-media.js';

/** Catalog art in the bucket: one flat, content-addressed tree, as in the data dir. */
export function imageKey(file: string): string {
  return `images/${file}`;
}

/**
 * Catalog art kept in the bucket (see discovery/artwork.ts): each image is written there as it is
 * cut, so a node that did not cut it can still serve it.
 */
export function bucketImages(store: ObjectStore, delivery: 'proxy' | 'redirect', signedSeconds = 300) {
  return {
    put: (file: string, path: string): Promise<void> => store.putFile(imageKey(file), path, contentTypeOf(file)),
    get: (file: string, range?: string): Promise<StoredObject | null> => store.get(imageKey(file), range),
    signedUrl: delivery === 'redirect' ? (file: string): Promise<string> => store.signedUrl(imageKey(file), signedSeconds) : null,
  };
}
