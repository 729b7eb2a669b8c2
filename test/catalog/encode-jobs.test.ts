import t from 'tap';
import { EncodeJobStore } from '../../src/catalog/encode-jobs.js';
import { onEachEngine, type TestCatalog } from '../helpers/catalog.js';

onEachEngine(t, 'workers claim the oldest job; a lapsed lease is taken over, and the old owner can then write nothing', async (t, catalog) => {
  const jobs = new EncodeJobStore(catalog.db);
  jobs.enqueue('first', '{"n":1}', 1000);
  jobs.enqueue('second', '{"n":2}', 2000);
  const a = jobs.claim('worker-a', 5000, 3000)!;
  t.match(a, { titleId: 'first', state: 'running', worker: 'worker-a', attempts: 1 });
  t.match(jobs.claim('worker-b', 5000, 3000), { titleId: 'second' }, 'the next worker gets the next job');
  t.equal(jobs.claim('worker-c', 5000, 3000), null, 'nothing left while both leases run');
  t.ok(jobs.renew('first', 'worker-a', 5000, 0.4, 6000), 'the owner renews until 11000');
  t.ok(jobs.renew('second', 'worker-b', 5000, 0.2, 9000), 'the other until 14000');
  t.equal(jobs.claim('worker-c', 5000, 10_999), null);
  const takeover = jobs.claim('worker-c', 5000, 11_001)!;
  t.match(takeover, { titleId: 'first', worker: 'worker-c', attempts: 2, progress: 0 }, 'taken over from the start once the lease lapsed');
  t.notOk(jobs.renew('first', 'worker-a', 5000, 0.9, 11_002), 'the old owner cannot renew');
  t.notOk(jobs.finish('first', 'worker-a', { state: 'done' }, 11_003), 'nor finish');
  t.ok(jobs.finish('first', 'worker-c', { state: 'done' }, 12_000));
  t.match(jobs.get('first'), { state: 'done', progress: 1 });
});

onEachEngine(t, 'queuing a running job changes nothing; a finished or failed one is queued again; a stopping worker gives its job back', async (t, catalog) => {
  const jobs = new EncodeJobStore(catalog.db);
  jobs.enqueue('x', '{"v":1}', 1);
  jobs.claim('w', 1000, 2);
  jobs.enqueue('x', '{"v":2}', 3);
  t.match(jobs.get('x'), { state: 'running', worker: 'w', input: '{"v":1}' });
  jobs.finish('x', 'w', { state: 'failed', error: '{"error":{}}' }, 4);
  jobs.enqueue('x', '{"v":3}', 5);
  t.match(jobs.get('x'), { state: 'queued', worker: null, input: '{"v":3}', error: null });
  jobs.claim('w2', 1000, 6);
  jobs.release('x', 'someone-else', 7);
  t.match(jobs.get('x'), { state: 'running', worker: 'w2' }, 'only the owner can give it back');
  jobs.release('x', 'w2', 8);
  t.match(jobs.claim('w3', 1000, 9), { titleId: 'x', worker: 'w3' }, 'given back, it is claimed at once');
  t.same([...jobs.countsByState()], [['running', 1]]);
});
