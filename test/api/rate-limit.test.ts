import t from 'tap';
import { RateLimiter } from '../../src/api/rate-limit.js';

t.test('a caller may spend a minute’s allowance at once, then gets one more as each share refills', async (t) => {
  let now = 0;
  const limiter = new RateLimiter({ perMinute: 6, now: () => now });
  t.same(Array.from({ length: 7 }, () => limiter.take('a')), [0, 0, 0, 0, 0, 0, 10], 'six at once; the seventh is told to wait 10 s');
  t.equal(limiter.take('b'), 0, 'another address has its own allowance');
  now += 10_000;
  t.equal(limiter.take('a'), 0, 'after 10 s one more');
  t.equal(limiter.take('a'), 10);
});

t.test('memory is bounded: past maxKeys the least recently seen caller is forgotten, and starts again in full', async (t) => {
  const limiter = new RateLimiter({ perMinute: 1, maxKeys: 2, now: () => 0 });
  t.equal(limiter.take('a'), 0);
  t.ok(limiter.take('a') > 0, 'a has spent its allowance');
  limiter.take('b');
  limiter.take('c'); // a is evicted
  t.equal(limiter.take('a'), 0, 'a, forgotten, is served again');
});
