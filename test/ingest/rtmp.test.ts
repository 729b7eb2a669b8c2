import t from 'tap';
import { publishRtmp } from '../helpers/publisher.js';
import { startTestServer } from '../helpers/server.js';

t.test('two servers in one process each act only on the RTMP publishers their own listener accepted', async (t) => {
  // node-media-server announces every session on one process-wide emitter.
  const live = { partTargetMs: 200, segmentSeconds: 1, dvrWindowSeconds: 10, stallTimeoutSeconds: 5, reconnectWindowSeconds: 1 };
  const [first, second] = await Promise.all([startTestServer({ live }), startTestServer({ live })]);
  t.teardown(async () => {
    await first.stop();
    await second.stop();
  });
  const [a, b] = await Promise.all([first.createStream({ name: 'on the first' }), second.createStream({ name: 'on the second' })]);
  const publishers = [publishRtmp({ url: a.ingest.rtmp, seconds: 30 }), publishRtmp({ url: b.ingest.rtmp, seconds: 30 })];
  t.teardown(() => Promise.all(publishers.map((p) => p.stop())));
  await Promise.all([first.waitForStream(a.id, (v) => v.state === 'live', 20_000), second.waitForStream(b.id, (v) => v.state === 'live', 20_000)]);
  t.pass('both streams went live, neither refused by the other server');
  t.ok(publishers.every((p) => p.child.exitCode === null), 'both publishers are still connected');
});
