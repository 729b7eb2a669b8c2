import type { Request, Response } from 'express';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A file as the bucket answered it (see storage/objects.ts). */
export type BucketObject = { body: Readable; length: number; contentRange: string | null; etag: string | null };

/** Streams an object from the bucket to the player: the byte range asked for, with its headers. */
export async function sendBucketObject(req: Request, res: Response, object: BucketObject, name: string): Promise<void> {
  res.status(object.contentRange ? 206 : 200);
  res.type(name);
  res.setHeader('content-length', String(object.length));
  res.setHeader('accept-ranges', 'bytes');
  if (object.contentRange) res.setHeader('content-range', object.contentRange);
  if (object.etag) res.setHeader('etag', object.etag);
  if (req.method === 'HEAD') {
    object.body.destroy();
    res.end();
    return;
  }
  // Either side ending early ends both: a player that goes away must not leave the bucket's answer open.
  await pipeline(object.body, res).catch(() => undefined);
}
