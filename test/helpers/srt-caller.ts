import { createSocket, type Socket } from 'node:dgram';
import {
  controlPacket,
  controlType,
  dataPacket,
  encodeExtensionString,
  extensionType,
  handshakeBody,
  handshakeType,
  hsFlags,
  parseHandshake,
  parsePacket,
  type ControlPacket,
  type Handshake,
} from '../../src/ingest/srt/packet.js';

/**
 * A scripted SRT caller speaking the wire protocol packet by packet, for what libsrt cannot be
 * told to do: start its sequence numbers or clock just before they wrap, leave chosen gaps,
 * send DROPREQ, or offer modes libsrt 1.5.1 lacks (AES-GCM). Every other test uses libsrt.
 */
export type SrtTestCaller = {
  /** The listener's socket id (the destination of everything sent). */
  peerSocketId: number;
  /** Sequence numbers named by each NAK received, ranges expanded. */
  naks: number[][];
  /** The acknowledged sequence number of each full ACK received. */
  acks: number[];
  shutdown: boolean;
  keepalives: number;
  /** Sends a datagram from another UDP port, as a spoofer or a NAT rebinding would. */
  sendDataFrom(other: Socket, seq: number, timestamp: number, payload: Buffer): void;
  sendData(seq: number, timestamp: number, payload: Buffer, retransmitted?: boolean): void;
  sendDropRequest(msgno: number, first: number, last: number): void;
  sendKeepalive(): void;
  close(): Promise<void>;
};

export type CallerOptions = {
  streamId: string;
  initialSeq?: number;
  latencyMs?: number;
  /** Changes the conclusion before it is sent: other versions, flags, extensions. */
  conclusion?: (hs: Handshake) => Handshake;
};

/** Performs induction and conclusion; resolves with the connected caller, or the rejection code. */
export async function callSrt(port: number, options: CallerOptions): Promise<{ caller: SrtTestCaller } | { rejected: number }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const socketId = 0x1234567;
  const send = (packet: Buffer) => socket.send(packet, port, '127.0.0.1');
  const handshake = async (hs: Handshake): Promise<Handshake> => {
    const answer = nextHandshake(socket);
    send(controlPacket(controlType.handshake, 0, 0, 0, 0, handshakeBody(hs)));
    return answer;
  };
  const base: Handshake = { version: 4, encryption: 0, extension: 2, initialSeq: options.initialSeq ?? 1000, mtu: 1500, flowWindow: 8192, type: handshakeType.induction, socketId, cookie: 0, peerIp: Buffer.from([1, 0, 0, 127, ...Array(12).fill(0)]), extensions: [] };
  const induction = await handshake(base);
  const latency = options.latencyMs ?? 120;
  const hsreq = Buffer.alloc(12);
  hsreq.writeUInt32BE(0x00010501, 0);
  hsreq.writeUInt32BE(hsFlags.tsbpdSnd | hsFlags.tsbpdRcv | hsFlags.tlpktDrop | hsFlags.periodicNak | hsFlags.rexmitFlag, 4);
  hsreq.writeUInt16BE(latency, 8);
  hsreq.writeUInt16BE(latency, 10);
  let conclusion: Handshake = {
    ...base,
    version: 5,
    extension: 1 | 4,
    type: handshakeType.conclusion,
    cookie: induction.cookie,
    extensions: [
      { type: extensionType.hsreq, body: hsreq },
      { type: extensionType.sid, body: encodeExtensionString(options.streamId) },
    ],
  };
  if (options.conclusion) conclusion = options.conclusion(conclusion);
  const answer = await handshake(conclusion);
  if (answer.type !== handshakeType.conclusion) {
    socket.close();
    return { rejected: answer.type };
  }

  let closed = false;
  const caller: SrtTestCaller = {
    peerSocketId: answer.socketId,
    naks: [],
    acks: [],
    shutdown: false,
    keepalives: 0,
    sendDataFrom: (other, seq, timestamp, payload) => other.send(dataPacket({ seq, msgno: seq % 0x3ffffff || 1, timestamp, dest: answer.socketId, payload }), port, '127.0.0.1'),
    sendData: (seq, timestamp, payload, retransmitted = false) => send(dataPacket({ seq, msgno: seq % 0x3ffffff || 1, timestamp, dest: answer.socketId, payload, retransmitted })),
    sendKeepalive: () => send(controlPacket(controlType.keepalive, 0, 0, 0, answer.socketId, Buffer.alloc(4))),
    sendDropRequest: (msgno, first, last) => {
      const body = Buffer.alloc(8);
      body.writeUInt32BE(first, 0);
      body.writeUInt32BE(last, 4);
      send(controlPacket(controlType.dropreq, 0, msgno, 0, answer.socketId, body));
    },
    close: () =>
      new Promise((resolve) => {
        if (closed) return resolve();
        closed = true;
        // Close only once the SHUTDOWN has left, or it would be discarded.
        socket.send(controlPacket(controlType.shutdown, 0, 0, 0, answer.socketId, Buffer.alloc(4)), port, '127.0.0.1', () => socket.close(() => resolve()));
      }),
  };
  socket.on('message', (message) => {
    const packet = parsePacket(message);
    if (!packet || packet.kind !== 'control') return;
    if (packet.type === controlType.ack && packet.body.length >= 4) {
      caller.acks.push(packet.body.readUInt32BE(0));
      send(controlPacket(controlType.ackack, 0, packet.info, 0, answer.socketId));
    } else if (packet.type === controlType.nak) caller.naks.push(expandLossList(packet));
    else if (packet.type === controlType.shutdown) caller.shutdown = true;
    else if (packet.type === controlType.keepalive) caller.keepalives++;
  });
  return { caller };
}

function nextHandshake(socket: Socket): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error('the listener did not answer the handshake'));
    }, 5000);
    const onMessage = (message: Buffer) => {
      const packet = parsePacket(message);
      if (!packet || packet.kind !== 'control' || packet.type !== controlType.handshake) return;
      const hs = parseHandshake(packet.body);
      if (!hs) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(hs);
    };
    socket.on('message', onMessage);
  });
}

/** A NAK's loss list: single numbers, or a first (top bit set) and last pair for a range. */
function expandLossList(packet: ControlPacket): number[] {
  const seqs: number[] = [];
  for (let i = 0; i + 4 <= packet.body.length; i += 4) {
    const word = packet.body.readUInt32BE(i);
    if (word & 0x80000000 && i + 8 <= packet.body.length) {
      const last = packet.body.readUInt32BE(i + 4);
      for (let s = word & 0x7fffffff; s !== last; s = (s + 1) & 0x7fffffff) seqs.push(s);
      seqs.push(last);
      i += 4;
    } else seqs.push(word);
  }
  return seqs;
}
