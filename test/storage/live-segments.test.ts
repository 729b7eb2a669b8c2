import t from 'tap';
import { createLogger } from '../../src/logger.js';
import { openS3Store } from '../../src/storage/objects.js';
import { liveWriteThrough } from '../../src/storage/live-segments.js';
import { startTestBucket } from '../helpers/s3.js';
import { waitUntil } from '../helpers/wait.js';

t.test("a deleted stream leaves nothing in the bucket: writes under way land before the removal, queued ones are dropped, later ones refused", async (t) => {
  const bucket = await startTestBucket();
  t.teardown(() => bucket.stop());
  const store = await openS3Store({ endpoint: bucket.endpoint, bucket: bucket.bucket, region: 'us-east-1', forcePathStyle: true, prefix: '' }, bucket.env);
  const copies = liveWriteThrough(store, createLogger('silent'), { maxPending: 200, concurrency: 4 });
  const segment = (msn: number) => ({ renditionId: 'v0', msn, bytes: new Uint8Array(64 * 1024).fill(msn), initVersion: 0, init: msn === 0 ? new Uint8Array(512) : null });
  const doomed = copies.sink('doomed', 1);
  const kept = copies.sink('kept', 1);
  for (let msn = 0; msn < 12; msn++) {
    doomed(segment(msn));
    kept(segment(msn));
  }
  t.ok(copies.pending() > 4, `writes are queued behind the ones under way (${copies.pending()})`);
  await copies.remove('doomed');
  doomed(segment(12)); // the broadcast's last segment, handed over as it ends
  await waitUntil(() => copies.pending() === 0, 'the writes landing');
  t.same(await store.list('streams/doomed/'), [], 'nothing of the deleted stream is left');
  t.equal((await store.list('streams/kept/')).length, 13, "the other stream's 12 segments and init segment are all there");
});
