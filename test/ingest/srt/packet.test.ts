import t from 'tap';
import {
  controlPacket,
  controlType,
  dataPacket,
  decodeExtensionString,
  encodeExtensionString,
  handshakeBody,
  handshakeType,
  parseHandshake,
  parsePacket,
  parseStreamId,
  seqAdd,
  seqDiff,
} from '../../../src/ingest/srt/packet.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

t.test('an induction captured from ffmpeg with libsrt 1.5.1 parses to its fields and serializes back to the same bytes', async (t) => {
  const wire = hex('80000000 00000000 00000208 00000000 00000004 00000002 46cb7aa8 000005dc 00002000 00000001 3dade0ac 00000000 0100007f 00000000 00000000 00000000');
  const packet = parsePacket(wire);
  t.match(packet, { kind: 'control', type: controlType.handshake, timestamp: 0x208, dest: 0 });
  const hs = parseHandshake((packet as { body: Buffer }).body)!;
  t.match(hs, { version: 4, encryption: 0, extension: 2, initialSeq: 0x46cb7aa8, mtu: 1500, flowWindow: 8192, type: handshakeType.induction, socketId: 0x3dade0ac, cookie: 0 });
  t.ok(controlPacket(controlType.handshake, 0, 0, 0x208, 0, handshakeBody(hs)).equals(wire));
});

t.test('the HSREQ extension as libsrt 1.5.1 sends it is read as type 1 with three words', async (t) => {
  const body = Buffer.concat([Buffer.alloc(48), hex('00010003 00010501 000000bf 00c800c8')]);
  const hs = parseHandshake(body)!;
  t.equal(hs.extensions.length, 1);
  t.equal(hs.extensions[0]!.type, 1);
  t.same([...hs.extensions[0]!.body], [...hex('00010501 000000bf 00c800c8')]);
  t.equal(parseHandshake(Buffer.concat([Buffer.alloc(48), hex('00010004 00010501')])), null, 'an extension longer than the datagram is refused');
});

t.test('stream id strings are NUL-padded words with each word byte-reversed, and round-trip', async (t) => {
  t.same([...encodeExtensionString('live')], [...Buffer.from('evil')]);
  t.same([...encodeExtensionString('#!::r=ab')], [...Buffer.from('::!#ba=r')]);
  t.same([...encodeExtensionString('abcde')], [...Buffer.from('dcba'), 0, 0, 0, 0x65], 'the last word is NUL-padded before reversing');
  for (const text of ['#!::r=live/cam1,m=publish', 'k', 'abcde', 'clé-ünïcode']) t.equal(decodeExtensionString(encodeExtensionString(text)), text);
});

t.test('stream ids: the access-control form and a bare key', async (t) => {
  t.same(parseStreamId('#!::r=abc123,m=publish'), { key: 'abc123', mode: 'publish' });
  t.same(parseStreamId('#!::m=request, r=abc123'), { key: 'abc123', mode: 'request' });
  t.same(parseStreamId('%23!%3A%3Ar%3Dabc123%2Cm%3Dpublish'), { key: 'abc123', mode: 'publish' }, 'a percent-encoded id is decoded');
  t.same(parseStreamId('%23!%3a%3ar%3dabc-_123'), { key: 'abc-_123', mode: 'request' }, 'in lower case too');
  t.same(parseStreamId('%23%E0%A4%A'), { key: '%23%E0%A4%A', mode: 'publish' }, 'broken encoding stays as it came');
  t.same(parseStreamId('#!::r=abc123'), { key: 'abc123', mode: 'request' }, 'the access-control default mode is request');
  t.same(parseStreamId('abc123'), { key: 'abc123', mode: 'publish' }, 'a bare key publishes');
});

t.test('31-bit sequence numbers compare and add across the wrap', async (t) => {
  t.equal(seqAdd(0x7fffffff, 1), 0);
  t.equal(seqAdd(0, -1), 0x7fffffff);
  t.equal(seqDiff(2, 0x7ffffffe), 4);
  t.equal(seqDiff(0x7ffffffe, 2), -4);
  t.equal(seqDiff(5, 5), 0);
});

t.test('a data packet round-trips with its key flags, retransmission flag and message number', async (t) => {
  const payload = Buffer.from('payload');
  const parsed = parsePacket(dataPacket({ seq: 0x7fffffff, msgno: 0x3ffffff, timestamp: 0xffffffff, dest: 42, payload, keyFlags: 2, retransmitted: true }));
  t.match(parsed, { kind: 'data', seq: 0x7fffffff, msgno: 0x3ffffff, timestamp: 0xffffffff, dest: 42, keyFlags: 2, retransmitted: true });
  t.same([...(parsed as { payload: Buffer }).payload], [...payload]);
  t.equal(parsePacket(Buffer.alloc(15)), null, 'a datagram shorter than a header is not a packet');
});
