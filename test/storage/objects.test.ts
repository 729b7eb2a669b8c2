import t from 'tap';
import { openS3Store } from '../../src/storage/objects.js';
import { refusingBucket, startTestBucket } from '../helpers/s3.js';

const settings = (endpoint: string, bucket: string) => ({ endpoint, bucket, region: 'us-east-1', forcePathStyle: true, prefix: 'p/' });
const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

t.test('a multipart upload is joined from its signed parts into one object under the prefix', async (t) => {
  const bucket = await startTestBucket();
  t.teardown(() => bucket.stop());
  const store = await openS3Store(settings(bucket.endpoint, bucket.bucket), bucket.env);
  const body = Buffer.concat([Buffer.alloc(5 * 1024 * 1024, 1), Buffer.alloc(1000, 2)]);
  const uploadId = await store.startMultipart('big', 'application/octet-stream');
  const parts = [];
  for (const [i, slice] of [body.subarray(0, 5 * 1024 * 1024), body.subarray(5 * 1024 * 1024)].entries()) {
    const put = await fetch(await store.signedPartUrl('big', uploadId, i + 1, 60), { method: 'PUT', body: slice });
    t.equal(put.status, 200, `part ${i + 1} PUT to its signed URL`);
    parts.push({ partNumber: i + 1, etag: put.headers.get('etag')! });
  }
  t.same(await store.completeMultipart('big', uploadId, parts), { refused: null });
  t.equal(await store.size('big'), body.length, 'one object of both parts');
  t.same(await store.list(''), ['big']);
});

t.test("the bucket's refusal to join parts is returned with S3's code; its other failures are thrown", async (t) => {
  const bucket = await refusingBucket([
    { status: 404, code: 'NoSuchUpload' },
    { status: 400, code: 'InvalidPart' },
    { status: 400, code: 'EntityTooSmall' },
  ]);
  t.teardown(() => bucket.close());
  const store = await openS3Store(settings(bucket.endpoint, 'weir'), env);
  const parts = [{ partNumber: 1, etag: '"abc"' }];
  t.match(await store.completeMultipart('source', 'gone', parts), { refused: /^NoSuchUpload: NoSuchUpload as S3 says it/ });
  t.match(await store.completeMultipart('source', 'u', parts), { refused: /^InvalidPart/ });
  t.match(await store.completeMultipart('source', 'u', parts), { refused: /^EntityTooSmall/ });
  // (after the SDK's own retries of a 500)
  await t.rejects(store.completeMultipart('source', 'u', parts), { name: 'InternalError' }, 'a failing bucket is an error, not a refusal');
  t.ok(bucket.seen.some((line) => line.startsWith('POST /weir/p/source?uploadId=gone')), 'the completion named the upload and the prefixed key');
});
