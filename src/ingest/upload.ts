import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { Server as TusServer, EVENTS } from '@tus/server';
import { FileStore } from '@tus/file-store';
import type { Request, Response } from 'express';
import { titlePaths } from '../actors/title.stages.js';
import { WeirError } from '../errors.js';
import type { Logger } from '../logger.js';

/** What the upload paths need of the title world: declared here, by their user. */
export type UploadTarget = {
  /** Throws a coded error unless the title exists and awaits its source. */
  assertAwaitingUpload(titleId: string): void;
  sourceArrived(titleId: string, path: string): void;
};

export type UploadDeps = { dataDir: string; maxBytes: number; target: UploadTarget; log: Logger };

/**
 * Moves a complete upload into place as the title's source and tells the title. The rename is
 * atomic, so a crash leaves either no source or a whole one.
 */
async function acceptSource(deps: UploadDeps, titleId: string, tempPath: string): Promise<void> {
  const destination = titlePaths(deps.dataDir, titleId).source;
  await mkdir(dirname(destination), { recursive: true });
  await rename(tempPath, destination);
  deps.target.sourceArrived(titleId, destination);
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
    const tempPath = join(titlePaths(deps.dataDir, titleId).root, `source.upload-${req.id}`);
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
        throw new WeirError('UPLOAD_INCOMPLETE', `The upload stopped after ${received} bytes: ${(error as Error).message}.`);
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

/** tus hooks throw plain objects with these fields; the server turns them into responses. */
function tusRefusal(error: WeirError): { status_code: number; body: string } {
  return { status_code: error.status, body: JSON.stringify({ error: error.toJSON() }) };
}

/**
 * Resumable uploads (tus 1.0) at /v1/uploads, linked to a title by the `titleId` metadata.
 * A broken connection resumes from the last byte the server holds.
 */
export function createTusServer(deps: UploadDeps & { authorize: (authorization: string | null) => WeirError | null }): TusServer {
  const directory = join(deps.dataDir, 'uploads');
  const server = new TusServer({
    path: '/v1/uploads',
    datastore: new FileStore({ directory }),
    maxSize: deps.maxBytes,
    respectForwardedHeaders: true,
    async onIncomingRequest(req) {
      const refusal = deps.authorize(req.headers.get('authorization'));
      if (refusal) throw tusRefusal(refusal);
    },
    async onUploadCreate(_req, upload) {
      const titleId = upload.metadata?.titleId;
      if (!titleId) throw tusRefusal(new WeirError('VALIDATION_FAILED', 'Upload-Metadata must name the title: "titleId <base64 id>".'));
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
      if (!titleId) return {};
      try {
        deps.target.assertAwaitingUpload(titleId);
        await acceptSource(deps, titleId, join(directory, upload.id));
        await rm(join(directory, `${upload.id}.json`), { force: true });
        deps.log.info({ titleId, bytes: upload.size }, 'source uploaded (tus)');
      } catch (error) {
        if (error instanceof WeirError) throw tusRefusal(error);
        throw error;
      }
      return {};
    },
  });
  server.on(EVENTS.POST_CREATE, (_req, upload) => deps.log.debug({ uploadId: upload.id, size: upload.size }, 'tus upload created'));
  return server;
}
