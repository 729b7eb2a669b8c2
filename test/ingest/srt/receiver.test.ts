import t from 'tap';
import { createLogger } from '../../../src/logger.js';
import { SrtReceiver } from '../../../src/ingest/srt/receiver.js';
import { controlType, parsePacket } from '../../../src/ingest/srt/packet.js';

t.test('a periodic NAK names at most 256 losses, oldest first, so it fits one datagram; the others follow on the next tick', async (t) => {
  const sent: Buffer[] = [];
  const receiver = new SrtReceiver(1, 2, { address: '127.0.0.1', port: 9 }, 0, 3000, (packet) => sent.push(packet), () => {}, createLogger('silent'));
  // 600 scattered losses: every other packet is missing.
  for (let n = 0; n <= 1200; n += 2) receiver.onData({ kind: 'data', seq: n, keyFlags: 0, retransmitted: false, msgno: n, timestamp: n * 1000, dest: 1, payload: Buffer.alloc(188) });
  const naks = () => sent.map((p) => parsePacket(p)).filter((p) => p?.kind === 'control' && p.type === controlType.nak).map((p) => (p as { body: Buffer }).body);
  const immediate = naks().length;
  sent.length = 0;
  const later = Date.now() + 1000;
  receiver.tick(later);
  const first = naks();
  t.equal(first.length, 1, `one periodic NAK (after ${immediate} immediate ones)`);
  t.equal(first[0]!.length / 4, 256, 'naming 256 losses, not all 600');
  t.equal(first[0]!.readUInt32BE(0), 1, 'the oldest first');
  sent.length = 0;
  receiver.tick(later + 10);
  t.equal(naks()[0]!.length / 4, 256, 'the next 256 on the next tick');
});
