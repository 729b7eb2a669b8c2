import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { Server as TusServer, EVENTS } from '@tus/server';
import { FileStore } from '@tus/file-store';
import type { Request, Response } from 'express';
import { hideServerPaths, WeirError } from '../errors.js';
import type { Logger } from '../logger.js';
import { titlePaths } from '../layout.js';

/** What the upload paths need of the title world: declared here, by their user. */
export type UploadTarget = {
  /** Throws a coded error unless the title exists and awaits its source (or failed, and may take a new one). */
  assertAwaitingUpload(titleId: string): void;
  sourceArrived(titleId: string, path: string): void | Promise<void>;
};

export type UploadDeps = { dataDir: string; maxBytes: number; target: UploadTarget; log: Logger };

// Title ids are our UUIDs; anything else never reaches a path.
const titleIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Moves a complete upload into place as the title's source and tells the title. The rename is
 * atomic, so a crash leaves either no source or a whole one.
 */
async function acceptSource(deps: UploadDeps, titleId: string, tempPath: string): Promise<void> {
  const destination = titlePaths(deps.dataDir, titleId).source;
  await mkdir(dirname(destination), { recursive: true });
  await rename(tempPath, destination);
  await deps.target.sourceArrived(titleId, destination);
}

/**
 * PUT /v1/titles/:id/source — the raw file as the body, streamed to disk, never held in memory.
 * The declared length is checked against the limit before reading; the streamed count after.
 */
export function createSourcePutHandler(deps: UploadDeps) {
  const inFlight = new Set<string>();
  return async (req: Request, res: Response): Promise<void> => {
    const titleId = String(req.params.id);
    deps.target.assertAwaitingUpload(titleId);
    const declared = req.header('content-length');
    const declaredBytes = declared === undefined ? null : Number(declared);
    if (declaredBytes !== null && declaredBytes > deps.maxBytes) {
      res.setHeader('connection', 'close');
      throw new WeirError('UPLOAD_TOO_LARGE', `The upload declares ${declaredBytes} bytes; the limit is ${deps.maxBytes} bytes.`);
    }
    if (inFlight.has(titleId)) throw new WeirError('UPLOAD_NOT_EXPECTED', `An upload for title ${titleId} is already in progress.`);
    inFlight.add(titleId);
    // The name is ours alone: never built from anything the client sent.
    const tempPath = join(titlePaths(deps.dataDir, titleId).root, `source.upload-${randomUUID()}`);
    try {
      await mkdir(dirname(tempPath), { recursive: true });
      let received = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          if (received > deps.maxBytes) {
            callback(new WeirError('UPLOAD_TOO_LARGE', `The upload passed the limit of ${deps.maxBytes} bytes.`));
            return;
          }
          callback(null, chunk);
        },
      });
      try {
        await pipeline(req, counter, createWriteStream(tempPath, { flags: 'wx' }));
      } catch (error) {
        if (error instanceof WeirError) {
          res.setHeader('connection', 'close');
          throw error;
        }
        throw new WeirError('UPLOAD_INCOMPLETE', hideServerPaths(`The upload stopped after ${received} bytes: ${(error as Error).message}.`));
      }
      if (declaredBytes !== null && received !== declaredBytes) {
        throw new WeirError('UPLOAD_INCOMPLETE', `The upload declared ${declaredBytes} bytes but ${received} arrived.`);
      }
      deps.target.assertAwaitingUpload(titleId);
      await acceptSource(deps, titleId, tempPath);
      req.log.info({ titleId, bytes: received }, 'source uploaded');
      res.status(202);
    } finally {
      inFlight.delete(titleId);
      await rm(tempPath, { force: true });
    }
  };
}

/** What uploads straight to the bucket need of it (declared here; storage/objects.ts provides it). */
export type UploadBucket = {
  signedPutUrl(key: string, seconds: number): Promise<string>;
  startMultipart(key: string, contentType: string): Promise<string>;
  signedPartUrl(key: string, uploadId: string, partNumber: number, seconds: number): Promise<string>;
  completeMultipart(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[]): Promise<{ refused: string | null }>;
  size(key: string): Promise<number | null>;
  download(key: string, path: string): Promise<void>;
  remove(key: string): Promise<void>;
};

/** What a client may say when it asks where to upload: the file's size, and a multipart upload it began. */
export type UploadUrlRequest = { bytes?: number | undefined; uploadId?: string | undefined; fromPart?: number | undefined };
/** What a client says when its upload is in the bucket: for a multipart upload, its id and each part's ETag. */
export type UploadedRequest = { uploadId?: string | undefined; parts?: { partNumber: number; etag: string }[] | undefined };

/** Where a title's source waits in the bucket: the key is built from the title's own id. */
const bucketSourceKey = (titleId: string) => `uploads/${titleId}/source`;

const mebibyte = 1024 * 1024;
/** S3's rules for multipart uploads: at most 10 000 parts, each but the last of 5 MiB or more. */
export const maxUploadParts = 10_000;
const minPartBytes = 5 * mebibyte;
/** Part URLs signed per answer: a 10 000-part upload is signed in pages, so no answer is megabytes of JSON. */
const partsPerAnswer = 1000;

/** The part size for a file: the configured one, or larger (in whole MiB) when that would need more than 10 000 parts. */
export function partBytesFor(bytes: number, configured: number): number {
  const needed = Math.ceil(bytes / maxUploadParts / mebibyte) * mebibyte;
  return Math.max(configured, needed, minPartBytes);
}

/**
 * Uploads that skip this node: POST /v1/titles/:id/source/upload-url gives a signed URL the
 * client PUTs the file to (or, for a file past one part, a multipart upload with a signed URL per
 * part); POST /v1/titles/:id/source/uploaded then joins the parts if there are any, fetches the
 * file from the bucket (checked against the size limit first), makes it the title's source and
 * removes it there.
 */
export function createBucketUploadHandlers(deps: UploadDeps & { bucket: UploadBucket | null; signedSeconds: number; partBytes: number }) {
  const bucketOf = (): UploadBucket => {
    if (!deps.bucket) throw new WeirError('DIRECT_UPLOAD_UNAVAILABLE', 'This server keeps media on local disk (storage.kind = local): upload with PUT /v1/titles/{id}/source or tus at /v1/uploads.');
    return deps.bucket;
  };
  const inFlight = new Set<string>();
  return {
    uploadUrl: async (req: Request, res: Response, request: UploadUrlRequest): Promise<void> => {
      const bucket = bucketOf();
      const titleId = String(req.params.id);
      deps.target.assertAwaitingUpload(titleId);
      const { bytes, uploadId } = request;
      if (bytes !== undefined && bytes > deps.maxBytes) {
        throw new WeirError('UPLOAD_TOO_LARGE', `The file has ${bytes} bytes; the limit is ${deps.maxBytes} bytes.`);
      }
      const key = bucketSourceKey(titleId);
      const expiresAt = new Date(Date.now() + deps.signedSeconds * 1000).toISOString();
      if (uploadId === undefined && (bytes === undefined || bytes <= deps.partBytes)) {
        res.json({ method: 'PUT', url: await bucket.signedPutUrl(key, deps.signedSeconds), expiresAt, maxBytes: deps.maxBytes });
        return;
      }
      if (bytes === undefined) throw new WeirError('VALIDATION_FAILED', 'Invalid upload body: bytes: the file\'s size is needed to sign the parts of a multipart upload.');
      const partBytes = partBytesFor(bytes, deps.partBytes);
      const count = Math.ceil(bytes / partBytes);
      const first = request.fromPart ?? 1;
      if (first > 1 && uploadId === undefined) throw new WeirError('VALIDATION_FAILED', 'Invalid upload body: fromPart: later parts belong to an upload already begun; name its uploadId.');
      if (first > count) throw new WeirError('VALIDATION_FAILED', `Invalid upload body: fromPart: a file of ${bytes} bytes has ${count} parts of ${partBytes} bytes, but part ${first} was asked for.`);
      // Given an upload id, the parts of that upload are signed again (the first URLs expire on a long upload).
      const id = uploadId ?? (await bucket.startMultipart(key, 'application/octet-stream'));
      const last = Math.min(count, first + partsPerAnswer - 1);
      const parts: { partNumber: number; url: string }[] = [];
      for (let partNumber = first; partNumber <= last; partNumber++) {
        parts.push({ partNumber, url: await bucket.signedPartUrl(key, id, partNumber, deps.signedSeconds) });
        // Signing is CPU work (about half a millisecond a URL): let requests waiting meanwhile through.
        if (partNumber % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      if (!uploadId) req.log.info({ titleId, bytes, parts: count }, 'multipart upload begun in the bucket');
      res.json({ method: 'multipart', uploadId: id, partBytes, parts, nextPart: last < count ? last + 1 : null, expiresAt, maxBytes: deps.maxBytes });
    },
    uploaded: async (req: Request, res: Response, request: UploadedRequest): Promise<void> => {
      const bucket = bucketOf();
      const titleId = String(req.params.id);
      deps.target.assertAwaitingUpload(titleId);
      if ((request.uploadId === undefined) !== (request.parts === undefined)) {
        throw new WeirError('VALIDATION_FAILED', 'Invalid upload body: a multipart upload is completed with both uploadId and parts; a single PUT with neither.');
      }
      const parts = request.parts ?? [];
      const misplaced = parts.findIndex((part, i) => i > 0 && part.partNumber <= parts[i - 1]!.partNumber);
      if (misplaced > 0) {
        throw new WeirError('VALIDATION_FAILED', `Invalid upload body: parts: part numbers must rise, but part ${parts[misplaced]!.partNumber} follows part ${parts[misplaced - 1]!.partNumber}.`);
      }
      if (inFlight.has(titleId)) throw new WeirError('UPLOAD_NOT_EXPECTED', `The source of title ${titleId} is already being fetched from the bucket.`);
      inFlight.add(titleId);
      const key = bucketSourceKey(titleId);
      const tempPath = join(titlePaths(deps.dataDir, titleId).root, `source.upload-${randomUUID()}`);
      try {
        if (request.uploadId !== undefined) {
          const { refused } = await bucket.completeMultipart(key, request.uploadId, parts);
          if (refused) throw new WeirError('UPLOAD_PARTS_REFUSED', `The bucket would not join the ${parts.length} parts named into the source: ${refused}`);
          req.log.info({ titleId, parts: parts.length }, 'multipart upload completed in the bucket');
        }
        const bytes = await bucket.size(key);
        if (bytes === null) throw new WeirError('SOURCE_NOT_IN_BUCKET', `Nothing was uploaded for title ${titleId}: PUT the file to the URL from POST /v1/titles/${titleId}/source/upload-url first.`);
        if (bytes > deps.maxBytes) {
          await bucket.remove(key);
          throw new WeirError('UPLOAD_TOO_LARGE', `The file in the bucket has ${bytes} bytes; the limit is ${deps.maxBytes} bytes. It was removed.`);
        }
        if (bytes === 0) throw new WeirError('SOURCE_EMPTY', 'The file in the bucket is empty.');
        await mkdir(dirname(tempPath), { recursive: true });
        await bucket.download(key, tempPath);
        deps.target.assertAwaitingUpload(titleId);
        await acceptSource(deps, titleId, tempPath);
        await bucket.remove(key);
        req.log.info({ titleId, bytes }, 'source fetched from the bucket');
        res.status(202);
      } finally {
        inFlight.delete(titleId);
        await rm(tempPath, { force: true });
      }
    },
  };
}

/** tus hooks throw plain objects with these fields; the server turns them into responses. */
function tusRefusal(error: WeirError): { status_code: number; body: string } {
  return { status_code: error.status, body: JSON.stringify({ error: error.toJSON() }) };
}

/**
 * Resumable uploads (tus 1.0) at /v1/uploads, linked to a title by the `titleId` metadata.
 * A broken connection resumes from the last byte the server holds.
 */
export type TusDeps = UploadDeps & {
  authorize: (authorization: string | null) => WeirError | null;
  /** Unfinished uploads untouched this long are deleted. */
  abandonedAfterMs: number;
};

export function createTusServer(deps: TusDeps): TusServer {
  const directory = join(deps.dataDir, 'uploads');
  const server = new TusServer({
    path: '/v1/uploads',
    datastore: new FileStore({ directory, expirationPeriodInMilliseconds: deps.abandonedAfterMs }),
    maxSize: deps.maxBytes,
    // The app strips forwarded headers from clients that are not trusted proxies before tus sees them.
    respectForwardedHeaders: true,
    async onIncomingRequest(req) {
      const refusal = deps.authorize(req.headers.get('authorization'));
      if (refusal) throw tusRefusal(refusal);
    },
    async onUploadCreate(_req, upload) {
      const titleId = upload.metadata?.titleId;
      if (!titleId) throw tusRefusal(new WeirError('VALIDATION_FAILED', 'Upload-Metadata must name the title: "titleId <base64 id>".'));
      if (!titleIdPattern.test(titleId)) throw tusRefusal(new WeirError('TITLE_NOT_FOUND', `No title with id ${JSON.stringify(titleId.slice(0, 64))}.`));
      try {
        deps.target.assertAwaitingUpload(titleId);
      } catch (error) {
        if (error instanceof WeirError) throw tusRefusal(error);
        throw error;
      }
      return {};
    },
    async onUploadFinish(_req, upload) {
      const titleId = upload.metadata?.titleId;
      const files = [join(directory, upload.id), join(directory, `${upload.id}.json`)];
      try {
        if (!titleId) throw new WeirError('VALIDATION_FAILED', 'Upload-Metadata must name the title: "titleId <base64 id>".');
        deps.target.assertAwaitingUpload(titleId);
        await acceptSource(deps, titleId, files[0]!);
        deps.log.info({ titleId, bytes: upload.size }, 'source uploaded (tus)');
      } catch (error) {
        if (error instanceof WeirError) throw tusRefusal(error);
        throw error;
      } finally {
        // A refused upload is not kept: nothing can claim it later.
        await Promise.all(files.map((file) => rm(file, { force: true })));
      }
      return {};
    },
  });
  server.on(EVENTS.POST_CREATE, (_req, upload) => deps.log.debug({ uploadId: upload.id, size: upload.size }, 'tus upload created'));
  return server;
}

/** Deletes resumable uploads abandoned for longer than the configured period. */
export async function removeAbandonedUploads(server: TusServer, log: Logger): Promise<void> {
  try {
    const removed = await server.cleanUpExpiredUploads();
    if (removed > 0) log.info({ removed }, 'removed abandoned uploads');
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'could not clean up abandoned uploads');
  }
}
