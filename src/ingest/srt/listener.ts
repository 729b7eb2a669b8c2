import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { RefusalLog } from '../refusal-log.js';
import type { Logger } from '../../logger.js';
import { TsDemuxer } from '../../pipeline/demux/mpegts.js';
import type { PublishAuthority, PublishHandler, RefusalCode } from '../contract.js';
import { kmCipher, parseKeyMaterial, SrtDecryptor } from './crypto.js';
import {
  controlPacket,
  controlType,
  decodeExtensionString,
  extensionType,
  handshakeBody,
  handshakeType,
  hsFlags,
  parseHandshake,
  parsePacket,
  parseStreamId,
  rejection,
  seqAdd,
  seqDiff,
  srtMagic,
  type ControlPacket,
  type DataPacket,
  type Handshake,
} from './packet.js';

export type SrtListenerOptions = {
  host: string;
  port: number;
  /** Receiver latency (TSBPD) offered, ms; the agreed one is the larger of both sides'. */
  latencyMs: number;
  log: Logger;
  authority: SrtPublishAuthority;
  /** Sees each publisher's transport stream exactly as delivered, in order, before demuxing (raw capture). */
  capture?: (streamKey: string, payload: Buffer) => void;
};

/** The SRT rejection code (srt.h SRT_REJX_*) a publisher gets for each refusal in the error catalog. */
const rejectionOfRefusal = {
  PUBLISH_KEY_UNKNOWN: rejection.unauthorized,
  PUBLISH_APP_UNKNOWN: rejection.unauthorized,
  PUBLISH_CONFLICT: rejection.conflict,
  PUBLISH_UNAVAILABLE: rejection.unavailable,
} as const satisfies Record<RefusalCode, number>;

/** What SRT also needs of the stream world: the passphrase of the stream a key publishes to. */
export type SrtPublishAuthority = PublishAuthority & { srtPassphraseFor(streamKey: string): string | null | undefined };

export type SrtStats = {
  packetsReceived: number;
  packetsLost: number;
  packetsRetransmitted: number;
  packetsDropped: number;
  packetsDuplicate: number;
  bytesReceived: number;
  rttMs: number;
  rttVarMs: number;
  decryptionFailures: number;
  keyRefreshes: number;
};

const maxBufferedPackets = 8192;
const idleTimeoutMs = 5000;
const keepaliveMs = 1000;
const ackIntervalMs = 10;
const srtVersion = 0x00010501;

type Peer = { address: string; port: number };

/** One publisher: an SRT receiver feeding the TS demuxer and, through it, the live broadcast. */
class SrtConnection {
  readonly started = Date.now();
  lastReceived = Date.now();
  lastSent = Date.now();
  nextExpected: number;
  private readonly buffer = new Map<number, { payload: Buffer; deadline: number }>();
  /** Missing packets: when each stops being useful, and when it was last reported (NAK). */
  private readonly lost = new Map<number, { deadline: number; reportedAt: number }>();
  private ackNumber = 1;
  private readonly acksSent = new Map<number, number>();
  private lastAckedSeq = -1;
  private timeBase: number | null = null;
  rttUs = 100_000;
  rttVarUs = 50_000;
  readonly stats: SrtStats = { packetsReceived: 0, packetsLost: 0, packetsRetransmitted: 0, packetsDropped: 0, packetsDuplicate: 0, bytesReceived: 0, rttMs: 100, rttVarMs: 50, decryptionFailures: 0, keyRefreshes: 0 };
  readonly demuxer: TsDemuxer;
  closed = false;
  decryptor: SrtDecryptor | null = null;

  constructor(
    readonly socketId: number,
    readonly peerSocketId: number,
    readonly peer: Peer,
    initialSeq: number,
    readonly latencyMs: number,
    private readonly handler: PublishHandler,
    private readonly send: (packet: Buffer) => void,
    readonly log: Logger,
    private readonly capture?: (payload: Buffer) => void,
  ) {
    this.nextExpected = initialSeq;
    this.demuxer = new TsDemuxer((unit) => this.handler.onUnit(unit, Date.now()));
  }

  now(): number {
    return (Date.now() - this.started) * 1000;
  }

  control(type: number, info: number, body?: Buffer, subtype = 0): void {
    this.send(controlPacket(type, subtype, info, this.now(), this.peerSocketId, body));
    this.lastSent = Date.now();
  }

  private lastTimestamp = 0;
  private timestampWraps = 0;

  /**
   * When a packet stamped `timestamp` (µs, sender clock) must be delivered (TSBPD, ms epoch).
   * Stamps wrap at 2^32 µs (about 71.6 minutes): each wrap adds 2^32 to the timeline.
   */
  private deadline(timestamp: number): number {
    const half = 2 ** 31;
    if (timestamp < this.lastTimestamp - half) this.timestampWraps++;
    else if (timestamp > this.lastTimestamp + half && this.timestampWraps > 0) {
      // A retransmission stamped just before the last wrap.
      return this.timeBase! + (timestamp + (this.timestampWraps - 1) * 2 ** 32) / 1000 + this.latencyMs;
    }
    this.lastTimestamp = timestamp;
    const unwrapped = timestamp + this.timestampWraps * 2 ** 32;
    this.timeBase ??= Date.now() - unwrapped / 1000;
    return this.timeBase + unwrapped / 1000 + this.latencyMs;
  }

  onData(packet: DataPacket): void {
    this.stats.packetsReceived++;
    this.stats.bytesReceived += packet.payload.length;
    if (packet.retransmitted) this.stats.packetsRetransmitted++;
    const distance = seqDiff(packet.seq, this.nextExpected);
    if (distance < 0 || this.buffer.has(packet.seq)) {
      this.stats.packetsDuplicate++;
      return;
    }
    if (distance >= maxBufferedPackets) {
      this.stats.packetsDropped++;
      return; // beyond what the receiver holds: the sender will resend after the ACK moves
    }
    this.lost.delete(packet.seq);
    const deadline = this.deadline(packet.timestamp);
    if (distance > 0) {
      // A gap: report it at once (immediate NAK), remember when each missing packet stops being useful.
      const newlyLost: number[] = [];
      for (let s = this.nextExpected; seqDiff(s, packet.seq) < 0; s = seqAdd(s, 1)) {
        if (!this.buffer.has(s) && !this.lost.has(s)) {
          this.lost.set(s, { deadline, reportedAt: Date.now() });
          newlyLost.push(s);
        }
      }
      if (newlyLost.length > 0) {
        this.stats.packetsLost += newlyLost.length;
        this.sendNak(newlyLost);
      }
    }
    this.buffer.set(packet.seq, { payload: Buffer.from(packet.payload), deadline });
    this.deliver();
  }

  /** Contiguous data goes out at once; data behind a gap waits until the gap's deadline passes. */
  private deliver(): void {
    for (;;) {
      const entry = this.buffer.get(this.nextExpected);
      if (!entry) return;
      this.buffer.delete(this.nextExpected);
      this.nextExpected = seqAdd(this.nextExpected, 1);
      this.capture?.(entry.payload);
      try {
        this.demuxer.push(entry.payload);
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, 'undecodable transport stream data');
      }
    }
  }

  /** Too-late drop: a gap whose packets can no longer be played in time is skipped (ACKed past). */
  dropLate(now: number): void {
    if (this.buffer.size === 0) return;
    const deadline = this.lost.get(this.nextExpected)?.deadline;
    if (deadline === undefined || deadline > now) return;
    while (!this.buffer.has(this.nextExpected) && this.buffer.size > 0) {
      this.lost.delete(this.nextExpected);
      this.stats.packetsDropped++;
      this.nextExpected = seqAdd(this.nextExpected, 1);
    }
    this.deliver();
  }

  /** DROPREQ: the sender gave up on a range. */
  dropRange(first: number, last: number): void {
    for (let s = first; seqDiff(s, last) <= 0; s = seqAdd(s, 1)) {
      if (seqDiff(s, this.nextExpected) < 0) continue;
      this.lost.delete(s);
      if (s === this.nextExpected && !this.buffer.has(s)) {
        this.nextExpected = seqAdd(s, 1);
        this.stats.packetsDropped++;
      }
    }
    this.deliver();
  }

  private sendNak(seqs: number[]): void {
    const words: number[] = [];
    let i = 0;
    while (i < seqs.length) {
      let j = i;
      while (j + 1 < seqs.length && seqDiff(seqs[j + 1]!, seqs[j]!) === 1) j++;
      if (j > i) words.push((seqs[i]! | 0x80000000) >>> 0, seqs[j]!);
      else words.push(seqs[i]!);
      i = j + 1;
    }
    const body = Buffer.alloc(words.length * 4);
    words.forEach((w, k) => body.writeUInt32BE(w >>> 0, k * 4));
    this.control(controlType.nak, 0, body);
  }

  /** Bytes received at one-second marks over the last few seconds, for the current bitrate. */
  private readonly rateMarks: { at: number; bytes: number }[] = [{ at: Date.now(), bytes: 0 }];

  /** The bitrate over the last ~5 s (since the start, for a younger connection). */
  bitrateKbps(now: number): number {
    const oldest = this.rateMarks[0]!;
    const seconds = Math.max(1, (now - oldest.at) / 1000);
    return Math.round(((this.stats.bytesReceived - oldest.bytes) * 8) / seconds / 1000);
  }

  /** Every 10 ms: a full ACK when there is news; the periodic NAK; late drops. */
  tick(now: number): void {
    if (now - this.rateMarks.at(-1)!.at >= 1000) {
      this.rateMarks.push({ at: now, bytes: this.stats.bytesReceived });
      if (this.rateMarks.length > 6) this.rateMarks.shift();
    }
    this.dropLate(now);
    if (this.nextExpected !== this.lastAckedSeq) this.sendAck();
    const nakPeriod = Math.max(20, (this.rttUs + 4 * this.rttVarUs) / 2000);
    // Each loss is reported again once a period has passed since its own last report: a timer
    // shared by all losses would be pushed back by every new loss and starve the old ones.
    const due: number[] = [];
    for (const [seq, loss] of this.lost) {
      if (now - loss.reportedAt < nakPeriod) continue;
      loss.reportedAt = now;
      due.push(seq);
    }
    if (due.length > 0) this.sendNak(due.sort((a, b) => seqDiff(a, b)));
    if (now - this.lastSent >= keepaliveMs) this.control(controlType.keepalive, 0, Buffer.alloc(4));
  }

  private sendAck(): void {
    const body = Buffer.alloc(28);
    body.writeUInt32BE(this.nextExpected, 0); // first not yet received: everything before is acknowledged
    body.writeUInt32BE(this.rttUs >>> 0, 4);
    body.writeUInt32BE(this.rttVarUs >>> 0, 8);
    body.writeUInt32BE(Math.max(2, maxBufferedPackets - this.buffer.size), 12); // real free space
    body.writeUInt32BE(0, 16);
    body.writeUInt32BE(0, 20);
    body.writeUInt32BE(0, 24);
    const number = this.ackNumber++;
    this.acksSent.set(number, Date.now());
    if (this.acksSent.size > 1000) this.acksSent.delete(number - 1000);
    this.control(controlType.ack, number, body);
    this.lastAckedSeq = this.nextExpected;
  }

  onControl(packet: ControlPacket): void {
    switch (packet.type) {
      case controlType.ackack: {
        const sent = this.acksSent.get(packet.info);
        if (sent === undefined) return;
        this.acksSent.delete(packet.info);
        const sample = (Date.now() - sent) * 1000;
        this.rttVarUs = Math.round((3 * this.rttVarUs + Math.abs(this.rttUs - sample)) / 4);
        this.rttUs = Math.round((7 * this.rttUs + sample) / 8);
        this.stats.rttMs = this.rttUs / 1000;
        this.stats.rttVarMs = this.rttVarUs / 1000;
        return;
      }
      case controlType.dropreq:
        if (packet.body.length >= 8) this.dropRange(packet.body.readUInt32BE(0), packet.body.readUInt32BE(4));
        return;
      case controlType.user:
        // Key refresh (KMREQ, subtype 3): install the announced key, answer with the same payload (KMRSP).
        if (packet.subtype === 3 && this.decryptor) {
          const km = parseKeyMaterial(packet.body);
          try {
            if (km) this.decryptor.install(km);
            this.stats.keyRefreshes++;
            this.control(controlType.user, 0, packet.body, 4);
          } catch {
            this.log.warn('a refreshed SRT key could not be unwrapped');
          }
        }
        return;
      default:
        return; // keepalives only refresh lastReceived
    }
  }

  close(reason: string, notifyPeer: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (notifyPeer) this.control(controlType.shutdown, 0, Buffer.alloc(4));
    this.demuxer.flush();
    this.log.info({ reason, ...this.stats, continuityErrors: this.demuxer.stats.continuityErrors }, 'SRT publisher closed');
    this.handler.onClose();
  }
}

/**
 * One UDP port for every SRT publisher: stateless SYN-cookie induction, HSv5 conclusion with
 * stream-id routing through the same publish authority as RTMP, and a receiver per connection.
 */
export class SrtListener {
  private socket: Socket | null = null;
  private readonly connections = new Map<number, SrtConnection>();
  /** Conclusion responses by peer and caller socket id: a repeated conclusion gets the same answer. */
  private readonly conclusions = new Map<string, { packet: Buffer; at: number }>();
  private readonly secret = randomBytes(32);
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: SrtListenerOptions) {}

  async start(): Promise<number> {
    const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    this.socket = socket;
    socket.on('message', (message, remote) => {
      try {
        this.onMessage(message, remote);
      } catch (error) {
        this.options.log.debug({ err: (error as Error).message, from: remote.address }, 'SRT datagram ignored');
      }
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new Error(`SRT port ${this.options.port} on ${this.options.host} is already in use; choose another with --srt-port or WEIR_SRT_PORT (0 picks a free one).`) : error),
      );
      socket.bind(this.options.port, this.options.host, () => resolve());
    });
    socket.removeAllListeners('error');
    socket.on('error', (error) => this.options.log.error({ err: error }, 'SRT socket error'));
    this.timer = setInterval(() => this.tick(), ackIntervalMs);
    return socket.address().port;
  }

  /** Per-connection statistics of a live publisher, with its current bitrate. */
  statsOf(socketId: number): (SrtStats & { bitrateKbps: number; continuityErrors: number }) | undefined {
    const connection = this.connections.get(socketId);
    if (!connection) return undefined;
    return {
      ...connection.stats,
      bitrateKbps: connection.bitrateKbps(Date.now()),
      continuityErrors: connection.demuxer.stats.continuityErrors,
    };
  }

  private unsent = 0;
  private onDrained: (() => void) | null = null;

  private send(packet: Buffer, peer: Peer): void {
    if (!this.socket) return;
    this.unsent++;
    this.socket.send(packet, peer.port, peer.address, () => {
      if (--this.unsent === 0) this.onDrained?.();
    });
  }

  private cookie(peer: Peer, minute: number): number {
    return createHmac('sha256', this.secret).update(`${peer.address}:${peer.port}:${minute}`).digest().readUInt32BE(0);
  }

  private onMessage(message: Buffer, remote: RemoteInfo): void {
    const packet = parsePacket(message);
    if (!packet) return;
    const peer = { address: remote.address, port: remote.port };
    if (packet.kind === 'control' && packet.type === controlType.handshake) {
      this.onHandshake(packet, peer);
      return;
    }
    const connection = this.connections.get(packet.dest);
    // Packets for a connection must come from the address that opened it.
    if (!connection || connection.peer.address !== peer.address || connection.peer.port !== peer.port) return;
    connection.lastReceived = Date.now();
    if (packet.kind === 'data') {
      if (packet.keyFlags !== 0) {
        const clear = connection.decryptor?.decrypt(packet.seq, packet.keyFlags, packet.payload);
        if (!clear) {
          connection.stats.decryptionFailures++;
          return;
        }
        connection.onData({ ...packet, payload: clear });
        return;
      }
      connection.onData(packet);
    } else if (packet.type === controlType.shutdown) {
      this.remove(connection, 'the publisher closed the connection', false);
    } else {
      connection.onControl(packet);
    }
  }

  private onHandshake(packet: ControlPacket, peer: Peer): void {
    const hs = parseHandshake(packet.body);
    if (!hs) return;
    const minute = Math.floor(Date.now() / 60_000);
    if (hs.type === handshakeType.induction) {
      const response = handshakeBody({ ...hs, version: 5, encryption: 0, extension: srtMagic, type: handshakeType.induction, socketId: this.cookie(peer, minute) >>> 1, cookie: this.cookie(peer, minute), extensions: [] });
      this.send(controlPacket(controlType.handshake, 0, 0, 0, hs.socketId, response), peer);
      return;
    }
    if (hs.type !== handshakeType.conclusion) return;
    const cacheKey = `${peer.address}:${peer.port}:${hs.socketId}`;
    const cached = this.conclusions.get(cacheKey);
    if (cached) {
      this.send(cached.packet, peer);
      return;
    }
    if (hs.cookie !== this.cookie(peer, minute) && hs.cookie !== this.cookie(peer, minute - 1)) return; // not from an induction of ours
    const reply = (type: number, socketId: number, extensions: Handshake['extensions'], extension: number) => {
      const body = handshakeBody({ ...hs, version: 5, encryption: 0, extension, type, socketId, cookie: 0, extensions });
      const response = controlPacket(controlType.handshake, 0, 0, 0, hs.socketId, body);
      this.conclusions.set(cacheKey, { packet: response, at: Date.now() });
      this.send(response, peer);
    };
    const reject = (code: number, reason: string) => {
      this.logRefusal(peer, code, reason);
      reply(code, 0, [], 0);
    };
    if (hs.version !== 5) return reject(rejection.version, 'HSv4 callers are not supported');
    const ext = (type: number) => hs.extensions.find((e) => e.type === type);
    const hsreq = ext(extensionType.hsreq);
    if (!hsreq || hsreq.body.length < 12) return reject(rejection.version, 'no HSREQ extension');
    const flags = hsreq.body.readUInt32BE(4);
    if (flags & hsFlags.stream) return reject(rejection.messageApi, 'file (stream) mode is not supported; use live mode');
    const congestion = ext(extensionType.congestion);
    if (congestion && decodeExtensionString(congestion.body) !== 'live') return reject(rejection.congestion, 'only live congestion control is supported');
    if (ext(extensionType.filter)) return reject(rejection.filter, 'packet filters (FEC) are not supported');
    if (ext(extensionType.group)) return reject(rejection.group, 'socket groups are not supported');
    const sidExt = ext(extensionType.sid);
    const { key, mode } = parseStreamId(sidExt ? decodeExtensionString(sidExt.body) : '');
    if (mode !== 'publish') return reject(rejection.forbidden, `stream id mode ${JSON.stringify(mode.slice(0, 32))} is not served; publish with m=publish`);
    const passphrase = this.options.authority.srtPassphraseFor(key);
    const kmreq = ext(extensionType.kmreq);
    let decryptor: SrtDecryptor | null = null;
    if (passphrase !== undefined) {
      if (kmreq && passphrase === null) return reject(rejection.unsecure, 'the caller encrypts but the stream has no SRT passphrase');
      if (!kmreq && passphrase !== null) return reject(rejection.unsecure, 'the stream requires an SRT passphrase');
      if (kmreq && passphrase !== null) {
        const km = parseKeyMaterial(kmreq.body);
        if (!km) return reject(rejection.badSecret, 'unreadable key material');
        if (km.cipher === kmCipher.gcm) return reject(rejection.unsecure, 'AES-GCM is not supported; use the default AES-CTR');
        try {
          decryptor = new SrtDecryptor(km, passphrase);
        } catch {
          return reject(rejection.badSecret, 'wrong passphrase');
        }
      }
    }

    const socketId = (randomBytes(4).readUInt32BE(0) & 0x3fffffff) || 1;
    let connection: SrtConnection | undefined;
    const decision = this.options.authority.authorize(
      { app: 'live', streamKey: key, sessionId: `srt-${socketId}`, ip: `${peer.address}:${peer.port}` },
      () => connection && this.remove(connection, 'disconnected by the server', true),
    );
    if ('refused' in decision) {
      // A refusal that clears by itself (keys being prepared, server stopping) says "try again".
      const code = rejectionOfRefusal[decision.code];
      return reject(code, decision.refused);
    }
    const callerRcv = hsreq.body.readUInt16BE(8);
    const callerSnd = hsreq.body.readUInt16BE(10);
    const latencyMs = Math.max(this.options.latencyMs, callerSnd);
    const capture = this.options.capture;
    connection = new SrtConnection(
      socketId,
      hs.socketId,
      peer,
      hs.initialSeq,
      latencyMs,
      decision,
      (p) => this.send(p, peer),
      this.options.log.child({ srtSocket: socketId, peer: `${peer.address}:${peer.port}` }),
      capture && ((payload) => capture(key, payload)),
    );
    connection.decryptor = decryptor;
    this.connections.set(socketId, connection);
    const hsrsp = Buffer.alloc(12);
    hsrsp.writeUInt32BE(srtVersion, 0);
    hsrsp.writeUInt32BE(hsFlags.tsbpdSnd | hsFlags.tsbpdRcv | hsFlags.tlpktDrop | hsFlags.periodicNak | hsFlags.rexmitFlag, 4);
    hsrsp.writeUInt16BE(latencyMs, 8);
    hsrsp.writeUInt16BE(Math.max(this.options.latencyMs, callerRcv), 10);
    const extensions: Handshake["extensions"] = [{ type: extensionType.hsrsp, body: hsrsp }];
    // The accepted key material is echoed back as KMRSP.
    if (kmreq && decryptor) extensions.push({ type: extensionType.kmrsp, body: kmreq.body });
    reply(handshakeType.conclusion, socketId, extensions, kmreq && decryptor ? 1 | 2 : 1);
    connection.log.info({ streamKeyKnown: true, latencyMs }, 'SRT publisher connected');
  }

  /**
   * Refused callers retry every few ms: one line per address and code every 10 s, with a count.
   * The key holds nothing the caller wrote, and the logged reason is cut short.
   */
  private readonly refusals = new RefusalLog();
  private prunedAt = 0;

  private logRefusal(peer: Peer, code: number, reason: string): void {
    this.refusals.note(peer.address, code, (refusedSinceLastLine) =>
      this.options.log.info({ peer: `${peer.address}:${peer.port}`, code, reason: reason.slice(0, 200), refusedSinceLastLine }, 'refused SRT caller'),
    );
  }

  private remove(connection: SrtConnection, reason: string, notifyPeer: boolean): void {
    this.connections.delete(connection.socketId);
    connection.close(reason, notifyPeer);
  }

  private tick(): void {
    const now = Date.now();
    for (const connection of this.connections.values()) {
      if (now - connection.lastReceived > idleTimeoutMs) {
        this.remove(connection, 'no packets for 5 s', true);
        continue;
      }
      connection.tick(now);
    }
    // Expiry is coarse: once a second is enough, and callers' retries can make these maps large.
    if (now - this.prunedAt < 1000) return;
    this.prunedAt = now;
    for (const [key, entry] of this.conclusions) if (now - entry.at > 10_000) this.conclusions.delete(key);
    this.refusals.prune();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const connection of [...this.connections.values()]) this.remove(connection, 'server stopping', true);
    // Closing the socket at once would discard the SHUTDOWNs just queued.
    if (this.unsent > 0) await new Promise<void>((resolve) => (this.onDrained = resolve));
    await new Promise<void>((resolve) => (this.socket ? this.socket.close(() => resolve()) : resolve()));
    this.socket = null;
  }
}
