import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** The S3 server tests talk to: s3rver, which speaks the S3 REST protocol, in this process. */
export type TestBucket = {
  endpoint: string;
  bucket: string;
  /** What a server needs in its environment to reach it (s3rver's fixed test keys). */
  env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string };
  stop(): Promise<void>;
};

export async function startTestBucket(bucket = 'weir-media'): Promise<TestBucket> {
  const directory = mkdtempSync(join(tmpdir(), 'weir-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver joins whatever parts it is given; S3 itself refuses unknown uploads and wrong parts with
 * coded XML errors. This server answers CompleteMultipartUpload as S3 documents those refusals.
 */
export async function refusingBucket(answers: { status: number; code: string }[]): Promise<{ endpoint: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      if (req.method === 'HEAD') return void res.writeHead(200).end();
      const answer = answers.shift() ?? { status: 500, code: 'InternalError' };
      res.writeHead(answer.status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${answer.code}</Code><Message>${answer.code} as S3 says it</Message><RequestId>1</RequestId></Error>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
