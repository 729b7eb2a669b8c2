import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { RefusalLog } from '../refusal-log.js';
import type { Logger } from '../../logger.js';
import { TsDemuxer } from '../../pipeline/demux/mpegts.js';
import type { PublishAuthority, PublishHandler } from '../contract.js';
import { acceptanceResponse, inductionResponse, judgeConclusion, rejectionOfRefusal, rejectionResponse } from './handshake.js';
import { controlPacket, controlType, handshakeType, parseHandshake, parsePacket, type ControlPacket } from './packet.js';
import { SrtReceiver, type Peer, type SrtStats } from './receiver.js';

export type { SrtStats };

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

/** What SRT also needs of the stream world: the passphrase of the stream a key publishes to. */
export type SrtPublishAuthority = PublishAuthority & { srtPassphraseFor(streamKey: string): string | null | undefined };

const idleTimeoutMs = 5000;
const ackIntervalMs = 10;

/** One accepted publisher: its receiver, and the demuxer that turns what it delivers into media units. */
type Publisher = { receiver: SrtReceiver; demuxer: TsDemuxer; handler: PublishHandler };

/**
 * The socket: one UDP port for every SRT publisher. Stateless SYN-cookie induction, HSv5
 * conclusion judged by the handshake rules then routed by stream id through the same publish
 * authority as RTMP, and datagrams dispatched to each connection's receiver.
 */
export class SrtListener {
  private socket: Socket | null = null;
  private readonly connections = new Map<number, Publisher>();
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
    const publisher = this.connections.get(socketId);
    if (!publisher) return undefined;
    return {
      ...publisher.receiver.stats,
      bitrateKbps: publisher.receiver.bitrateKbps(Date.now()),
      continuityErrors: publisher.demuxer.stats.continuityErrors,
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
    const publisher = this.connections.get(packet.dest);
    const connection = publisher?.receiver;
    // Packets for a connection must come from the address that opened it.
    if (!publisher || !connection || connection.peer.address !== peer.address || connection.peer.port !== peer.port) return;
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
      this.remove(publisher, 'the publisher closed the connection', false);
    } else {
      connection.onControl(packet);
    }
  }

  private onHandshake(packet: ControlPacket, peer: Peer): void {
    const hs = parseHandshake(packet.body);
    if (!hs) return;
    const minute = Math.floor(Date.now() / 60_000);
    const answer = (body: Buffer) => controlPacket(controlType.handshake, 0, 0, 0, hs.socketId, body);
    if (hs.type === handshakeType.induction) {
      this.send(answer(inductionResponse(hs, this.cookie(peer, minute))), peer);
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
    // A caller whose answer is lost repeats its conclusion: it gets the same answer, not a second connection.
    const reply = (body: Buffer) => {
      const response = answer(body);
      this.conclusions.set(cacheKey, { packet: response, at: Date.now() });
      this.send(response, peer);
    };
    const reject = (code: number, reason: string) => {
      this.logRefusal(peer, code, reason);
      reply(rejectionResponse(hs, code));
    };
    const judgement = judgeConclusion(hs, this.options.latencyMs, (key) => this.options.authority.srtPassphraseFor(key));
    if ('refused' in judgement) return reject(judgement.refused.code, judgement.refused.reason);
    const agreement = judgement.agreed;
    const key = agreement.streamKey;

    const socketId = (randomBytes(4).readUInt32BE(0) & 0x3fffffff) || 1;
    let publisher: Publisher | undefined;
    const decision = this.options.authority.authorize(
      { app: 'live', streamKey: key, sessionId: `srt-${socketId}`, ip: `${peer.address}:${peer.port}` },
      () => publisher && this.remove(publisher, 'disconnected by the server', true),
    );
    // A refusal that clears by itself (keys being prepared, server stopping) says "try again".
    if ('refused' in decision) return reject(rejectionOfRefusal[decision.code], decision.refused);
    const log = this.options.log.child({ srtSocket: socketId, peer: `${peer.address}:${peer.port}` });
    const demuxer = new TsDemuxer((unit) => decision.onUnit(unit, Date.now()));
    const capture = this.options.capture;
    const receiver = new SrtReceiver(socketId, hs.socketId, peer, hs.initialSeq, agreement.latencyMs, (p) => this.send(p, peer), (payload) => {
      capture?.(key, payload);
      try {
        demuxer.push(payload);
      } catch (error) {
        log.warn({ err: (error as Error).message }, 'undecodable transport stream data');
      }
    }, log);
    receiver.decryptor = agreement.decryptor;
    publisher = { receiver, demuxer, handler: decision };
    this.connections.set(socketId, publisher);
    reply(acceptanceResponse(hs, socketId, agreement));
    log.info({ streamKeyKnown: true, latencyMs: agreement.latencyMs }, 'SRT publisher connected');
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

  private remove(publisher: Publisher, reason: string, notifyPeer: boolean): void {
    const { receiver, demuxer, handler } = publisher;
    this.connections.delete(receiver.socketId);
    if (!receiver.close(notifyPeer)) return;
    demuxer.flush();
    receiver.log.info({ reason, ...receiver.stats, continuityErrors: demuxer.stats.continuityErrors }, 'SRT publisher closed');
    handler.onClose();
  }

  private tick(): void {
    const now = Date.now();
    for (const publisher of this.connections.values()) {
      if (now - publisher.receiver.lastReceived > idleTimeoutMs) {
        this.remove(publisher, 'no packets for 5 s', true);
        continue;
      }
      publisher.receiver.tick(now);
    }
    // Expiry is coarse: once a second is enough, and callers' retries can make these maps large.
    if (now - this.prunedAt < 1000) return;
    this.prunedAt = now;
    for (const [key, entry] of this.conclusions) if (now - entry.at > 10_000) this.conclusions.delete(key);
    this.refusals.prune();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const publisher of [...this.connections.values()]) this.remove(publisher, 'server stopping', true);
    // Closing the socket at once would discard the SHUTDOWNs just queued.
    if (this.unsent > 0) await new Promise<void>((resolve) => (this.onDrained = resolve));
    await new Promise<void>((resolve) => (this.socket ? this.socket.close(() => resolve()) : resolve()));
    this.socket = null;
  }
}
