import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export type S3Settings = {
  /** An S3-compatible endpoint (MinIO, Garage, Ceph, a test server); null for AWS itself. */
  endpoint: string | null;
  bucket: string;
  region: string;
  /** Bucket in the path (most S3-compatible servers) rather than in the host name. */
  forcePathStyle: boolean;
  /** Prepended to every key, so several deployments can share a bucket. */
  prefix: string;
};

export type StoredObject = {
  body: Readable;
  /** Bytes in this answer (the range's, for a range). */
  length: number;
  /** "bytes a-b/total" when a range was asked for and given. */
  contentRange: string | null;
  etag: string | null;
  contentType: string | null;
};

export type UploadedPart = { partNumber: number; etag: string };

// What S3 answers when the parts named cannot be joined: the client's mistake, not the bucket's failure.
const partRefusals = new Set(['NoSuchUpload', 'InvalidPart', 'InvalidPartOrder', 'EntityTooSmall', 'MalformedXML']);

/** What Weir asks of object storage (the S3 protocol, through the AWS SDK). */
export type ObjectStore = {
  putFile(key: string, path: string, contentType: string): Promise<void>;
  putBytes(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** The object, or the byte range of it (an HTTP Range value); null when there is none. */
  get(key: string, range?: string): Promise<StoredObject | null>;
  getText(key: string): Promise<string | null>;
  list(prefix: string): Promise<string[]>;
  /** Removes every object under the prefix; returns how many. */
  removePrefix(prefix: string): Promise<number>;
  /** A URL that reads the object without credentials until it expires. */
  signedUrl(key: string, seconds: number): Promise<string>;
  /** A URL that writes the object (one PUT of the whole body, at most 5 GB) until it expires. */
  signedPutUrl(key: string, seconds: number): Promise<string>;
  /** Begins a multipart upload of the object (for bodies past one PUT); returns its upload id. */
  startMultipart(key: string, contentType: string): Promise<string>;
  /** A URL that writes one part of a multipart upload until it expires. */
  signedPartUrl(key: string, uploadId: string, partNumber: number, seconds: number): Promise<string>;
  /** Joins the parts into the object; a refusal by the bucket (unknown upload, wrong part) is returned, not thrown. */
  completeMultipart(key: string, uploadId: string, parts: readonly UploadedPart[]): Promise<{ refused: string | null }>;
  /** The object's size, or null when there is none. */
  size(key: string): Promise<number | null>;
  /** Streams the object into a new file at `path`. */
  download(key: string, path: string): Promise<void>;
  remove(key: string): Promise<void>;
};

/**
 * An S3 bucket through the maintained AWS SDK, loaded only when configured (it is large, and
 * a server on local disk never needs it).
 */
export async function openS3Store(settings: S3Settings, env: NodeJS.ProcessEnv): Promise<ObjectStore> {
  const s3 = await import('@aws-sdk/client-s3');
  const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
  // Keys in the server's environment; otherwise the SDK's own chain (a profile, an instance role).
  const credentials = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN } : undefined;
  const client = new s3.S3Client({
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    // Checksums only where S3 requires them: the SDK's default wraps streamed uploads in
    // aws-chunked framing that not every S3-compatible server unwraps (some store it as content).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Bounded: a bucket that stops answering fails the request (a player retries) instead of holding it.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
  });
  const Bucket = settings.bucket;
  const full = (key: string) => `${settings.prefix}${key}`;
  const missing = (error: unknown) => {
    const name = (error as { name?: string }).name;
    return name === 'NoSuchKey' || name === 'NotFound' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404;
  };

  const listFull = async (prefix: string): Promise<string[]> => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new s3.ListObjectsV2Command({ Bucket, Prefix: full(prefix), ContinuationToken: token }));
      for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  };

  // Fails at start, with a clear message, when the bucket cannot be reached or read.
  try {
    await client.send(new s3.HeadBucketCommand({ Bucket }));
  } catch (error) {
    throw new Error(`The bucket ${Bucket} at ${settings.endpoint ?? `AWS ${settings.region}`} cannot be reached: ${(error as Error).name} ${(error as Error).message}`, { cause: error });
  }

  return {
    putFile: async (key, path, contentType) => {
      const { size } = await stat(path);
      await client.send(new s3.PutObjectCommand({ Bucket, Key: full(key), Body: createReadStream(path), ContentLength: size, ContentType: contentType }));
    },
    putBytes: async (key, bytes, contentType) => {
      await client.send(new s3.PutObjectCommand({ Bucket, Key: full(key), Body: bytes, ContentLength: bytes.byteLength, ContentType: contentType }));
    },
    get: async (key, range) => {
      try {
        const answer = await client.send(new s3.GetObjectCommand({ Bucket, Key: full(key), ...(range ? { Range: range } : {}) }));
        return {
          body: answer.Body as Readable,
          length: answer.ContentLength ?? 0,
          contentRange: answer.ContentRange ?? null,
          etag: answer.ETag ?? null,
          contentType: answer.ContentType ?? null,
        };
      } catch (error) {
        if (missing(error)) return null;
        // An unsatisfiable range is the client's error, as a file on disk would give it.
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) throw Object.assign(new Error('range not satisfiable'), { statusCode: 416 });
        throw error;
      }
    },
    getText: async (key) => {
      try {
        const answer = await client.send(new s3.GetObjectCommand({ Bucket, Key: full(key) }));
        return (await answer.Body?.transformToString('utf8')) ?? null;
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
    list: async (prefix) => (await listFull(prefix)).map((key) => key.slice(settings.prefix.length)),
    removePrefix: async (prefix) => {
      const keys = await listFull(prefix);
      // DeleteObjects takes at most 1000 keys a request.
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        await client.send(new s3.DeleteObjectsCommand({ Bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      }
      return keys.length;
    },
    signedUrl: (key, seconds) => getSignedUrl(client, new s3.GetObjectCommand({ Bucket, Key: full(key) }), { expiresIn: seconds }),
    signedPutUrl: (key, seconds) => getSignedUrl(client, new s3.PutObjectCommand({ Bucket, Key: full(key) }), { expiresIn: seconds }),
    startMultipart: async (key, contentType) => {
      const answer = await client.send(new s3.CreateMultipartUploadCommand({ Bucket, Key: full(key), ContentType: contentType }));
      if (!answer.UploadId) throw new Error(`The bucket ${Bucket} began a multipart upload without an upload id.`);
      return answer.UploadId;
    },
    signedPartUrl: (key, uploadId, partNumber, seconds) =>
      getSignedUrl(client, new s3.UploadPartCommand({ Bucket, Key: full(key), UploadId: uploadId, PartNumber: partNumber }), { expiresIn: seconds }),
    completeMultipart: async (key, uploadId, parts) => {
      try {
        await client.send(
          new s3.CompleteMultipartUploadCommand({ Bucket, Key: full(key), UploadId: uploadId, MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) } }),
        );
        return { refused: null };
      } catch (error) {
        const name = (error as { name?: string }).name ?? '';
        if (partRefusals.has(name)) return { refused: `${name}: ${(error as Error).message}` };
        throw error;
      }
    },
    size: async (key) => {
      try {
        return (await client.send(new s3.HeadObjectCommand({ Bucket, Key: full(key) }))).ContentLength ?? 0;
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
    download: async (key, path) => {
      const answer = await client.send(new s3.GetObjectCommand({ Bucket, Key: full(key) }));
      await pipeline(answer.Body as Readable, createWriteStream(path, { flags: 'wx' }));
    },
    remove: async (key) => {
      await client.send(new s3.DeleteObjectCommand({ Bucket, Key: full(key) }));
    },
  };
}
