import t from 'tap';
import { addressPolicy, httpSender } from '../../../src/operator/webhooks/send.js';
import { startReceiver } from '../../helpers/webhook-receiver.js';

t.test('only public unicast addresses are reachable unless a range is allowed', async (t) => {
  const policy = addressPolicy([]);
  for (const refused of ['127.0.0.1', '10.1.2.3', '172.16.0.9', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-address']) {
    t.notOk(policy(refused), `${refused} is refused`);
  }
  for (const reached of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) t.ok(policy(reached), `${reached} is reachable`);
  const loopback = addressPolicy(['127.0.0.0/8', '::1/128']);
  t.ok(loopback('127.0.0.1') && loopback('127.9.9.9') && loopback('::1') && loopback('::ffff:127.0.0.1'), 'allowed ranges are reachable, IPv4-mapped included');
  t.notOk(loopback('10.0.0.1') || loopback('169.254.169.254'), 'other private ranges stay refused');
});

t.test('the sender refuses a loopback receiver, by literal address or by a name that resolves to it, without sending it anything', async (t) => {
  const receiver = await startReceiver();
  t.teardown(() => receiver.close());
  const send = httpSender({ allowed: addressPolicy([]), timeoutMs: 2_000, userAgent: 'test' });
  const literal = await send({ url: receiver.url, headers: {}, body: '{}' });
  t.equal(literal.error, 'ADDRESS_REFUSED');
  t.match(literal.detail, /127\.0\.0\.1/);
  const named = await send({ url: `http://localhost:${receiver.port}/hooks`, headers: {}, body: '{}' });
  t.equal(named.error, 'ADDRESS_REFUSED', 'a name is judged by what it resolves to');
  t.equal(receiver.received.length, 0, 'the receiver got nothing');
});

t.test('the sender reports the status, a refused connection and a receiver that does not answer in time', async (t) => {
  const receiver = await startReceiver(() => 503);
  t.teardown(() => receiver.close());
  const send = httpSender({ allowed: addressPolicy(['127.0.0.0/8']), timeoutMs: 300, userAgent: 'Weir-Webhooks/1' });
  const failed = await send({ url: receiver.url, headers: { 'webhook-id': 'msg_1' }, body: '{"a":1}' });
  t.same(failed, { status: 503, error: 'HTTP_STATUS', detail: 'answered 503' });
  t.equal(receiver.received[0]!.body, '{"a":1}');
  t.equal(receiver.received[0]!.headers['content-type'], 'application/json');
  t.equal(receiver.received[0]!.headers['webhook-id'], 'msg_1');
  receiver.answer = () => 204;
  t.same(await send({ url: receiver.url, headers: {}, body: '{}' }), { status: 204, error: null, detail: null });

  const { createServer } = await import('node:net');
  const silent = createServer(() => {}); // accepts and never answers
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const timedOut = await send({ url: `http://127.0.0.1:${port}/`, headers: {}, body: '{}' });
  t.equal(timedOut.error, 'TIMEOUT');
  silent.close();
  const closed = await send({ url: `http://127.0.0.1:${port}/`, headers: {}, body: '{}' });
  t.equal(closed.error, 'CONNECTION_FAILED', `nothing listening: ${closed.detail}`);
});
