/**
 * SRT packets (draft-sharabayko-srt §3), big-endian: a 16-byte header, then a data payload or a
 * control information field. Facts checked against libsrt 1.5.1 are in shared/notes/srt.md.
 */

export const controlType = {
  handshake: 0x0000,
  keepalive: 0x0001,
  ack: 0x0002,
  nak: 0x0003,
  shutdown: 0x0005,
  ackack: 0x0006,
  dropreq: 0x0007,
  user: 0x7fff,
} as const;

export const handshakeType = { induction: 1, conclusion: 0xffffffff } as const;

/** Rejection codes sent as the handshake type (SRT_REJECT_REASON + 1000, or application 2000 + HTTP-like). */
export const rejection = {
  version: 1008,
  badSecret: 1010,
  unsecure: 1011,
  messageApi: 1012,
  congestion: 1013,
  filter: 1014,
  group: 1015,
  unauthorized: 2401,
  forbidden: 2403,
  notFound: 2404,
  conflict: 2409,
  unavailable: 2503,
} as const;

export const extensionType = { hsreq: 1, hsrsp: 2, kmreq: 3, kmrsp: 4, sid: 5, congestion: 6, filter: 7, group: 8 } as const;

/** HSREQ/HSRSP flags. */
export const hsFlags = { tsbpdSnd: 0x01, tsbpdRcv: 0x02, crypt: 0x04, tlpktDrop: 0x08, periodicNak: 0x10, rexmitFlag: 0x20, stream: 0x40, packetFilter: 0x80 } as const;

export const srtMagic = 0x4a17;
export const maxSequence = 0x80000000; // sequence numbers are 31-bit

/** Modular distance a - b between 31-bit sequence numbers, in (-2^30, 2^30]. */
export function seqDiff(a: number, b: number): number {
  let d = (a - b) % maxSequence;
  if (d > maxSequence / 2) d -= maxSequence;
  else if (d <= -maxSequence / 2) d += maxSequence;
  return d;
}

export const seqAdd = (a: number, n: number): number => (((a + n) % maxSequence) + maxSequence) % maxSequence;

export type DataPacket = { kind: 'data'; seq: number; keyFlags: number; retransmitted: boolean; msgno: number; timestamp: number; dest: number; payload: Buffer };
export type ControlPacket = { kind: 'control'; type: number; subtype: number; info: number; timestamp: number; dest: number; body: Buffer };

export function parsePacket(buffer: Buffer): DataPacket | ControlPacket | null {
  if (buffer.length < 16) return null;
  const word0 = buffer.readUInt32BE(0);
  const word1 = buffer.readUInt32BE(4);
  const timestamp = buffer.readUInt32BE(8);
  const dest = buffer.readUInt32BE(12);
  if (word0 & 0x80000000) {
    return { kind: 'control', type: (word0 >>> 16) & 0x7fff, subtype: word0 & 0xffff, info: word1, timestamp, dest, body: buffer.subarray(16) };
  }
  return {
    kind: 'data',
    seq: word0 & 0x7fffffff,
    keyFlags: (word1 >>> 27) & 0x3,
    retransmitted: ((word1 >>> 26) & 0x1) === 1,
    msgno: word1 & 0x3ffffff,
    timestamp,
    dest,
    payload: buffer.subarray(16),
  };
}

/** A data packet: a whole message (PP=11), with its key flags and retransmission flag. */
export function dataPacket(p: { seq: number; msgno: number; timestamp: number; dest: number; payload: Buffer; keyFlags?: number; retransmitted?: boolean }): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(p.seq & 0x7fffffff, 0);
  header.writeUInt32BE(((0b11 << 30) | ((p.keyFlags ?? 0) << 27) | ((p.retransmitted ? 1 : 0) << 26) | (p.msgno & 0x3ffffff)) >>> 0, 4);
  header.writeUInt32BE(p.timestamp >>> 0, 8);
  header.writeUInt32BE(p.dest >>> 0, 12);
  return Buffer.concat([header, p.payload]);
}

export function controlPacket(type: number, subtype: number, info: number, timestamp: number, dest: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE((0x80000000 | (type << 16) | subtype) >>> 0, 0);
  header.writeUInt32BE(info >>> 0, 4);
  header.writeUInt32BE(timestamp >>> 0, 8);
  header.writeUInt32BE(dest >>> 0, 12);
  return Buffer.concat([header, body]);
}

export type Handshake = {
  version: number;
  encryption: number;
  extension: number;
  initialSeq: number;
  mtu: number;
  flowWindow: number;
  type: number;
  socketId: number;
  cookie: number;
  peerIp: Buffer;
  extensions: { type: number; body: Buffer }[];
};

export function parseHandshake(body: Buffer): Handshake | null {
  if (body.length < 48) return null;
  const extensions: { type: number; body: Buffer }[] = [];
  let offset = 48;
  while (offset + 4 <= body.length) {
    const type = body.readUInt16BE(offset);
    const words = body.readUInt16BE(offset + 2);
    const end = offset + 4 + words * 4;
    if (end > body.length) return null;
    extensions.push({ type, body: body.subarray(offset + 4, end) });
    offset = end;
  }
  return {
    version: body.readUInt32BE(0),
    encryption: body.readUInt16BE(4),
    extension: body.readUInt16BE(6),
    initialSeq: body.readUInt32BE(8),
    mtu: body.readUInt32BE(12),
    flowWindow: body.readUInt32BE(16),
    type: body.readUInt32BE(20),
    socketId: body.readUInt32BE(24),
    cookie: body.readUInt32BE(28),
    peerIp: Buffer.from(body.subarray(32, 48)),
    extensions,
  };
}

export function handshakeBody(hs: Omit<Handshake, 'extensions'> & { extensions?: { type: number; body: Buffer }[] }): Buffer {
  const cif = Buffer.alloc(48);
  cif.writeUInt32BE(hs.version, 0);
  cif.writeUInt16BE(hs.encryption, 4);
  cif.writeUInt16BE(hs.extension, 6);
  cif.writeUInt32BE(hs.initialSeq >>> 0, 8);
  cif.writeUInt32BE(hs.mtu, 12);
  cif.writeUInt32BE(hs.flowWindow, 16);
  cif.writeUInt32BE(hs.type >>> 0, 20);
  cif.writeUInt32BE(hs.socketId >>> 0, 24);
  cif.writeUInt32BE(hs.cookie >>> 0, 28);
  hs.peerIp.copy(cif, 32, 0, 16);
  const parts: Buffer[] = [cif];
  for (const ext of hs.extensions ?? []) {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(ext.type, 0);
    head.writeUInt16BE(ext.body.length / 4, 2);
    parts.push(head, ext.body);
  }
  return Buffer.concat(parts);
}

/** SID and congestion strings: UTF-8, NUL-padded to whole words, each 4-byte word byte-reversed. */
export function decodeExtensionString(body: Buffer): string {
  const bytes = Buffer.alloc(body.length);
  for (let i = 0; i + 4 <= body.length; i += 4) {
    bytes[i] = body[i + 3]!;
    bytes[i + 1] = body[i + 2]!;
    bytes[i + 2] = body[i + 1]!;
    bytes[i + 3] = body[i]!;
  }
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

export function encodeExtensionString(text: string): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  const body = Buffer.alloc(Math.ceil(utf8.length / 4) * 4);
  utf8.copy(body);
  for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(body.readUInt32BE(i), i);
  return body;
}

/**
 * The publish request in a stream id: `#!::r=<key>,m=publish` (access-control form) or a bare
 * key. Some tools percent-encode the whole id (`%23!%3A%3Ar%3D…`), and Debian's ffmpeg passes
 * that through as it is: such an id is decoded first.
 */
export function parseStreamId(raw: string): { key: string; mode: string } {
  let sid = raw;
  if (/^%23/i.test(raw)) {
    try {
      sid = decodeURIComponent(raw);
    } catch {
      sid = raw; // not valid percent-encoding: taken as it is, and refused as an unknown key
    }
  }
  if (!sid.startsWith('#!::')) return { key: sid, mode: 'publish' };
  const fields = new Map(
    sid
      .slice(4)
      .split(',')
      .map((pair) => {
        const at = pair.indexOf('=');
        return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()] as const;
      }),
  );
  return { key: fields.get('r') ?? '', mode: fields.get('m') ?? 'request' };
}
