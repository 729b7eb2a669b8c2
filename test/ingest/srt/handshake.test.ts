import t from 'tap';
import { acceptanceResponse, judgeConclusion } from '../../../src/ingest/srt/handshake.js';
import { encodeExtensionString, extensionType, handshakeType, hsFlags, parseHandshake, rejection, type Handshake } from '../../../src/ingest/srt/packet.js';

/** A libsrt-like HSv5 conclusion: HSREQ with receive and send latencies, then the stream id. */
function conclusion(streamId: string, latency = { rcv: 120, snd: 120 }, change: (hs: Handshake) => Handshake = (hs) => hs): Handshake {
  const hsreq = Buffer.alloc(12);
  hsreq.writeUInt32BE(0x00010501, 0);
  hsreq.writeUInt32BE(hsFlags.tsbpdSnd | hsFlags.tsbpdRcv | hsFlags.tlpktDrop | hsFlags.periodicNak | hsFlags.rexmitFlag, 4);
  hsreq.writeUInt16BE(latency.rcv, 8);
  hsreq.writeUInt16BE(latency.snd, 10);
  return change({
    version: 5, encryption: 0, extension: 1 | 4, initialSeq: 1000, mtu: 1500, flowWindow: 8192, type: handshakeType.conclusion, socketId: 77, cookie: 1,
    peerIp: Buffer.alloc(16),
    extensions: [
      { type: extensionType.hsreq, body: hsreq },
      { type: extensionType.sid, body: encodeExtensionString(streamId) },
    ],
  });
}

const passphrases: Record<string, string | null> = { open: null, locked: 'a-long-passphrase' };
const passphraseFor = (key: string) => passphrases[key];
const withExtension = (type: number, body: Buffer) => (hs: Handshake) => ({ ...hs, extensions: [...hs.extensions, { type, body }] });

t.test('a conclusion is judged on its own, without a socket: each mode Weir does not serve has its rejection code', async (t) => {
  const cases: { what: string; hs: Handshake; code: number }[] = [
    { what: 'HSv4', hs: conclusion('open', undefined, (hs) => ({ ...hs, version: 4 })), code: rejection.version },
    { what: 'no HSREQ', hs: conclusion('open', undefined, (hs) => ({ ...hs, extensions: hs.extensions.filter((e) => e.type !== extensionType.hsreq) })), code: rejection.version },
    { what: 'file congestion control', hs: conclusion('open', undefined, withExtension(extensionType.congestion, encodeExtensionString('file'))), code: rejection.congestion },
    { what: 'a packet filter', hs: conclusion('open', undefined, withExtension(extensionType.filter, encodeExtensionString('fec'))), code: rejection.filter },
    { what: 'a socket group', hs: conclusion('open', undefined, withExtension(extensionType.group, Buffer.alloc(8))), code: rejection.group },
    { what: 'm=request', hs: conclusion('#!::r=open,m=request'), code: rejection.forbidden },
    { what: 'no key material for a stream with a passphrase', hs: conclusion('locked'), code: rejection.unsecure },
    { what: 'unreadable key material', hs: conclusion('locked', undefined, withExtension(extensionType.kmreq, Buffer.alloc(4))), code: rejection.badSecret },
  ];
  for (const { what, hs, code } of cases) {
    const judgement = judgeConclusion(hs, 120, passphraseFor);
    t.same('refused' in judgement ? judgement.refused.code : 'agreed', code, what);
  }
});

t.test('an acceptable conclusion agrees on the larger latency each way and names its stream key, known or not', async (t) => {
  const judgement = judgeConclusion(conclusion('#!::r=open,m=publish', { rcv: 300, snd: 500 }), 200, passphraseFor);
  if (!('agreed' in judgement)) return t.fail(`refused: ${judgement.refused.reason}`);
  t.match(judgement.agreed, { streamKey: 'open', latencyMs: 500, peerLatencyMs: 300, decryptor: null, keyMaterial: null });
  const answer = parseHandshake(acceptanceResponse(conclusion('open'), 9, judgement.agreed))!;
  const hsrsp = answer.extensions.find((e) => e.type === extensionType.hsrsp)!.body;
  t.same([answer.type, answer.socketId, hsrsp.readUInt16BE(8), hsrsp.readUInt16BE(10)], [handshakeType.conclusion, 9, 500, 300], 'the answer carries both latencies in HSRSP');
  // Whether the key exists is the publish authority's call (it refuses with its own code).
  t.ok('agreed' in judgeConclusion(conclusion('nobody-knows'), 120, passphraseFor), 'an unknown key passes the handshake rules');
});
