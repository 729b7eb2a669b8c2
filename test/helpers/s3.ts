import { mkdtempSync, rmSync } from 'node:fs';
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
