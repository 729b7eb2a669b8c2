import t from 'tap';
import { LoginThrottle } from '../../src/viewers/login-throttle.js';

t.test('failures are counted per account and per address over a sliding window, and a success clears the account', async (t) => {
  let now = 0;
  const throttle = new LoginThrottle({ perAccount: 3, perAddress: 5, windowMs: 60_000, clock: { now: () => now } });
  for (let i = 0; i < 3; i++) {
    t.equal(throttle.retryAfterSeconds('ann@example.com', '192.0.2.1'), 0, `attempt ${i + 1} may go ahead`);
    throttle.failed('ann@example.com', '192.0.2.1');
    now += 1000;
  }
  t.equal(throttle.retryAfterSeconds('ann@example.com', '192.0.2.9'), 57, 'the account is held from any address until its oldest failure leaves the window');
  t.equal(throttle.retryAfterSeconds('bob@example.com', '192.0.2.1'), 0, 'another account from that address is not');
  now += 57_000;
  t.equal(throttle.retryAfterSeconds('ann@example.com', '192.0.2.9'), 0, 'the window slid on');

  // Two of the first three failures are still in the window; three more accounts make five.
  for (const account of ['c@x', 'd@x', 'e@x']) throttle.failed(account, '192.0.2.1');
  t.equal(throttle.retryAfterSeconds('f@x', '192.0.2.1'), 1, 'five failures from one address hold it for every account');

  throttle.succeeded('ann@example.com');
  t.equal(throttle.retryAfterSeconds('ann@example.com', '198.51.100.1'), 0);
});

t.test('memory stays bounded however many addresses fail', async (t) => {
  const throttle = new LoginThrottle({ perAccount: 3, perAddress: 3, windowMs: 60_000, clock: { now: () => 0 }, maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) throttle.failed(`user${i}@x`, `10.0.${i >> 8}.${i & 255}`);
  t.ok((throttle as unknown as { failures: Map<string, unknown> }).failures.size <= 100);
});
