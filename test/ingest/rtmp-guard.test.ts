import t from 'tap';
import { RtmpChunkGuard } from '../../src/ingest/rtmp-guard.js';

const publishing = { maxMessageBytes: 8 * 2 ** 20, maxChunkStreams: 16 };
const handshake = () => Buffer.concat([Buffer.from([3]), Buffer.alloc(3072, 7)]);

/** One RTMP message cut into chunks of `chunkSize`, the first with a type 0 header (RTMP 1.0, 5.3.1). */
function message(csid: number, type: number, payload: Buffer, chunkSize: number, timestamp = 0): Buffer {
  const parts: Buffer[] = [];
  const extended = timestamp >= 0xffffff;
  const ext = () => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(timestamp);
    return extended ? [b] : [];
  };
  const header = Buffer.alloc(11);
  header.writeUIntBE(extended ? 0xffffff : timestamp, 0, 3);
  header.writeUIntBE(payload.length, 3, 3);
  header[6] = type;
  header.writeUInt32LE(1, 7);
  parts.push(Buffer.from([csid]), header, ...ext());
  for (let at = 0; at < payload.length || at === 0; at += chunkSize) {
    if (at > 0) parts.push(Buffer.from([0xc0 | csid]), ...ext());
    parts.push(payload.subarray(at, at + chunkSize));
    if (payload.length === 0) break;
  }
  return Buffer.concat(parts);
}

const setChunkSize = (size: number) => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(size);
  return message(2, 1, payload, 128);
};

/** Everything the guard lets through of `bytes`, read as the ingest reads it (a command at a time before publishing). */
function inspectAll(guard: RtmpChunkGuard, bytes: Buffer): { ok: true } | { ok: false; violation: string } {
  let rest = bytes;
  let verdict = guard.inspect(Buffer.alloc(0));
  while (rest.length > 0 && verdict.ok) {
    verdict = guard.inspect(rest);
    if (verdict.ok) rest = rest.subarray(verdict.consumed);
  }
  return verdict.ok ? { ok: true } : verdict;
}

/** Feeds bytes in pieces of a given size, as TCP may deliver them. */
function feed(guard: RtmpChunkGuard, bytes: Buffer, piece: number) {
  let verdict: { ok: true } | { ok: false; violation: string } = { ok: true };
  for (let at = 0; at < bytes.length && verdict.ok; at += piece) verdict = inspectAll(guard, bytes.subarray(at, at + piece));
  return verdict;
}

t.test('a publisher-shaped stream passes the guard however TCP splits it', async (t) => {
  const command = message(3, 20, Buffer.alloc(300, 1), 128);
  const keyframe = Buffer.alloc(3 * 2 ** 20, 2);
  const stream = Buffer.concat([
    handshake(),
    command,
    setChunkSize(4096),
    message(3, 20, Buffer.alloc(200, 3), 4096),
    message(6, 9, keyframe, 4096),
    message(4, 8, Buffer.alloc(20, 4), 4096, 0x1000000),
    message(4, 8, Buffer.alloc(0), 4096),
    message(5, 18, Buffer.alloc(500, 5), 4096),
  ]);
  for (const piece of [1, 7, 128, 1500, 65536, stream.length]) {
    const guard = new RtmpChunkGuard(publishing, { maxMessageBytes: 4 * 2 ** 20, maxChunkStreams: 8 });
    t.same(feed(guard, stream, piece), { ok: true }, `in pieces of ${piece} bytes`);
  }
});

t.test('chunks of different chunk streams may interleave', async (t) => {
  const guard = new RtmpChunkGuard(publishing, publishing);
  const video = message(6, 9, Buffer.alloc(300, 1), 128);
  const audio = message(4, 8, Buffer.alloc(100, 2), 128);
  // The video message's first chunk (12 + 128 bytes), the whole audio message, then the rest of the video.
  t.same(inspectAll(guard, Buffer.concat([handshake(), video.subarray(0, 140), audio, video.subarray(140)])), { ok: true });
});

t.test('what no real publisher sends is a violation, found at the header', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['another handshake version', Buffer.concat([Buffer.from([6]), Buffer.alloc(3072)]), /handshake version 6/],
    ['a message over the limit before publishing', Buffer.concat([handshake(), message(3, 20, Buffer.alloc(20_000), 128).subarray(0, 12)]), /20000 bytes .*before publishing/],
    ['a new chunk stream opened without a full header', Buffer.concat([handshake(), Buffer.from([0x45, 0, 0, 0, 0, 0, 10, 9])]), /starts with a type 1 header/],
    ['an unknown message type', Buffer.concat([handshake(), message(3, 99, Buffer.alloc(4), 128)]), /type 99/],
    ['too many chunk streams', Buffer.concat([handshake(), ...Array.from({ length: 9 }, (_, i) => message(3 + i, 20, Buffer.alloc(10), 128))]), /more than 8 chunk streams/],
    ['a chunk size of zero', Buffer.concat([handshake(), setChunkSize(0)]), /chunk size of 0/],
    ['a short set-chunk-size', Buffer.concat([handshake(), message(2, 1, Buffer.alloc(2), 128)]), /set-chunk-size message of 2 bytes/],
  ];
  for (const [name, bytes, reason] of cases) {
    const verdict = inspectAll(new RtmpChunkGuard(publishing), bytes);
    t.notOk(verdict.ok, name);
    if (!verdict.ok) t.match(verdict.violation, reason, `${name}: says why`);
  }
});

t.test('a header that changes a message halfway is refused, and a verdict once given stays', async (t) => {
  const guard = new RtmpChunkGuard(publishing, publishing);
  const first = message(6, 9, Buffer.alloc(300), 128).subarray(0, 140);
  const changed = Buffer.from([0x06, 0, 0, 0, 0, 0, 50, 9, 1, 0, 0, 0]);
  const verdict = inspectAll(guard, Buffer.concat([handshake(), first, changed]));
  t.match(verdict, { ok: false, violation: /changes its message header/ });
  t.match(guard.inspect(Buffer.from([1, 2, 3])), { ok: false }, 'later bytes are not read');
});

t.test('publishing raises the limits from those of a connection that only sends commands', async (t) => {
  const guard = new RtmpChunkGuard(publishing);
  t.same(inspectAll(guard, Buffer.concat([handshake(), setChunkSize(65536)])), { ok: true });
  guard.publishing();
  t.same(inspectAll(guard, message(6, 9, Buffer.alloc(2 * 2 ** 20), 65536)), { ok: true }, 'a 2 MiB keyframe once publishing');
  t.match(guard.inspect(message(7, 9, Buffer.alloc(9 * 2 ** 20), 65536).subarray(0, 12)), { ok: false, violation: /limit is 8388608\)/ });
});

t.test('before publishing the guard stops after each command, so a keyframe right behind publish is read with the raised limits', async (t) => {
  const publish = message(3, 20, Buffer.from([2, 0, 7, ...Buffer.from('publish')]), 128);
  const keyframe = message(6, 9, Buffer.alloc(200_000), 65536);
  const bytes = Buffer.concat([handshake(), setChunkSize(65536), publish, keyframe]);
  const guard = new RtmpChunkGuard(publishing);
  const first = guard.inspect(bytes);
  t.same(first, { ok: true, consumed: bytes.length - keyframe.length }, 'it stops at the end of the publish command');
  guard.publishing(); // what an accepted publish does
  t.same(guard.inspect(bytes.subarray(bytes.length - keyframe.length)), { ok: true, consumed: keyframe.length });

  const refused = new RtmpChunkGuard(publishing);
  const stop = refused.inspect(bytes);
  t.ok(stop.ok);
  t.match(refused.inspect(bytes.subarray(stop.ok ? stop.consumed : 0)), { ok: false, violation: /before publishing/ }, 'without an accepted publish the keyframe is too large');
});
