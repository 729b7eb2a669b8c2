import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import NodeMediaServer, { type NmsPacket, type NmsSession } from 'node-media-server';
import type { Logger } from '../logger.js';
import type { PublishAuthority, PublishHandler, PublishRefusal, RefusalCode } from './contract.js';
import { flvTagToUnit } from '../pipeline/demux/flv.js';
import { RefusalLog } from './refusal-log.js';
import { RtmpChunkGuard, type ChunkLimits } from './rtmp-guard.js';

/** Bounds on what a connection may cost before and after it publishes. */
export type RtmpLimits = ChunkLimits & {
  handshakeTimeoutMs: number;
  publishTimeoutMs: number;
  maxPendingPerAddress: number;
  maxPending: number;
};

export type RtmpIngestOptions = { host: string; port: number; dataDir: string; log: Logger; authority: PublishAuthority; limits: RtmpLimits };

type NmsLogger = { log: (message: string, level?: string) => void; level: string };
type RtmpSessionClass = new (socket: Socket) => NmsSession & { run(): void; onData: (data: Buffer) => void };
type NmsContext = { sessions: Map<string, unknown> };

/** The onStatus code an RTMP publisher gets for each refusal (as Flash Media Server and Wowza answer). */
const statusOfRefusal = {
  PUBLISH_KEY_UNKNOWN: 'NetStream.Publish.BadName',
  PUBLISH_APP_UNKNOWN: 'NetStream.Publish.BadName',
  PUBLISH_CONFLICT: 'NetStream.Publish.BadName',
  PUBLISH_UNAVAILABLE: 'NetStream.Publish.Denied',
} as const satisfies Record<RefusalCode, string>;

// node-media-server's own messages name stream paths (/app/<stream key>): never pass those on.
const nmsStreamPath = /(?<=[\s=])\/[\w-]+\/[^\s,]+/g;
const nmsNameField = /\bname=[^\s,]+/g;

/** One connection as the guard sees it. */
type Connection = { address: string; guard: RtmpChunkGuard; pending: boolean; timer: NodeJS.Timeout | null };


/**
 * node-media-server embedded as the RTMP listener. Its HTTP side, store, relay and recorder stay
 * off; its logs go to pino; its listen errors become our errors instead of process.exit. Every
 * connection passes a chunk guard before node-media-server's parser sees a byte, and must
 * finish its handshake and start publishing in time. Each accepted publisher's packets go
 * straight to its handler, never into node-media-server's shared broadcast, so a second
 * publisher on a key cannot touch the first one's stream.
 */
export class RtmpIngest {
  private nms: NodeMediaServer | null = null;
  private readonly connections = new Map<Socket, Connection>();
  private readonly pendingByAddress = new Map<string, number>();
  private pendingTotal = 0;
  private readonly refusals = new RefusalLog();
  private readonly log: Logger;

  constructor(private readonly options: RtmpIngestOptions) {
    this.log = options.log.child({ component: 'rtmp' });
  }

  async start(): Promise<number> {
    const require = createRequire(import.meta.url);
    const nmsLogger = require('node-media-server/src/core/logger.js') as NmsLogger;
    const RtmpSession = require('node-media-server/src/session/rtmp_session.js') as RtmpSessionClass;
    const context = require('node-media-server/src/core/context.js') as NmsContext;
    const rtmpLog = this.log;
    nmsLogger.log = (message: string, level = 'info') => {
      const safe = message.replace(nmsStreamPath, '/[stream path]').replace(nmsNameField, 'name=[stream key]').slice(0, 500);
      rtmpLog[level === 'error' ? 'warn' : 'debug']({ nmsLevel: level }, safe);
    };

    // A placeholder port makes it build its TCP server; we listen ourselves (port 0 allowed).
    this.nms = new NodeMediaServer({
      rtmp: { port: 1, chunk_size: 60000, gop_cache: false, ping: 30, ping_timeout: 60 },
      bind: this.options.host,
      // Its store is never opened (we do not call run()); should that change, it stays in our data dir.
      store: { path: join(this.options.dataDir, 'rtmp-store') },
    });
    // Signals belong to Weir: its store would otherwise hook SIGINT/SIGTERM when opened.
    this.nms.store.options.signals = false;
    const server = this.nms.rtmpServer.tcpServer;
    if (!server) throw new Error('node-media-server did not build its RTMP listener');
    // We accept connections ourselves, to put the guard in front of its parser.
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => this.accept(socket, RtmpSession, context));
    // node-media-server's events go through one process-wide emitter: with two servers in a
    // process (tests, embedding), each must act only on the sessions its own listener accepted.
    const own = (session: NmsSession) => this.connections.has(session.socket);
    this.nms.on('prePublish', (session) => own(session) && this.onPrePublish(session));
    // Its 30 s publish grace would silently resume a reconnect; the stream actor owns reconnects.
    this.nms.on('postPublish', (session) => {
      if (own(session) && session.broadcast) session.broadcast.publishGraceMs = 0;
    });
    this.nms.on('prePlay', (session) => {
      if (!own(session)) return;
      rtmpLog.info({ session: session.id, ip: session.ip }, 'refused RTMP playback (Weir serves HLS and DASH)');
      session.socket.destroy();
    });
    server.removeAllListeners('error');
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new Error(`RTMP port ${this.options.port} on ${this.options.host} is already in use; choose another with --rtmp-port or WEIR_RTMP_PORT (0 picks a free one).`)
            : error,
        ),
      );
      server.listen(this.options.port, this.options.host, () => {
        server.removeAllListeners('error');
        server.on('error', (error) => rtmpLog.error({ err: error }, 'RTMP listener error'));
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  private accept(socket: Socket, RtmpSession: RtmpSessionClass, context: NmsContext): void {
    const { limits } = this.options;
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = this.pendingByAddress.get(address) ?? 0;
    if (this.pendingTotal >= limits.maxPending || fromAddress >= limits.maxPendingPerAddress) {
      const which = fromAddress >= limits.maxPendingPerAddress ? `${limits.maxPendingPerAddress} from this address` : `${limits.maxPending} in all`;
      this.logRefusal(address, 'RTMP connection refused: too many not yet publishing', { limit: which });
      socket.destroy();
      return;
    }
    const connection: Connection = { address, guard: new RtmpChunkGuard(limits), pending: true, timer: null };
    this.connections.set(socket, connection);
    this.pendingTotal++;
    this.pendingByAddress.set(address, fromAddress + 1);
    connection.timer = setTimeout(() => {
      this.logRefusal(address, 'RTMP connection closed: no handshake in time', { detail: `no handshake within ${limits.handshakeTimeoutMs / 1000} s` });
      socket.destroy();
    }, limits.handshakeTimeoutMs);
    socket.once('close', () => {
      this.settle(connection);
      this.connections.delete(socket);
    });
    socket.on('error', () => {}); // the session logs it; a reset must not become an uncaught error

    const session = new RtmpSession(socket);
    const parse = session.onData;
    let handshaking = true;
    session.onData = (data: Buffer) => {
      // Bytes pass to the parser only once the guard has read them, a command at a time before
      // publishing: a publish it accepts raises the guard's limits for what follows.
      let rest = data;
      while (rest.length > 0 && !socket.destroyed && !socket.writableEnded) {
        const verdict = connection.guard.inspect(rest);
        if (!verdict.ok) {
          this.logRefusal(address, 'RTMP protocol violation; connection closed', { violation: verdict.violation.slice(0, 200) });
          socket.destroy();
          return;
        }
        if (handshaking && connection.guard.handshakeDone && connection.pending) {
          handshaking = false;
          clearTimeout(connection.timer!);
          connection.timer = setTimeout(() => {
            this.logRefusal(address, 'RTMP connection closed: not publishing in time', { detail: `not publishing after ${limits.publishTimeoutMs / 1000} s` });
            socket.destroy();
          }, limits.publishTimeoutMs);
        }
        try {
          parse(rest.subarray(0, verdict.consumed));
        } catch (error) {
          // Malformed commands (bad AMF, a tcUrl that is no URL) throw inside the parser.
          this.logRefusal(address, 'RTMP message could not be read; connection closed', { err: (error as Error).message.slice(0, 200) });
          socket.destroy();
          return;
        }
        rest = rest.subarray(verdict.consumed);
      }
    };
    // Publish.Start is sent once Weir accepts the publish, not before (see onPrePublish).
    const rtmp = session.rtmp as unknown as { respondPublish: () => void };
    rtmp.respondPublish = () => {};
    session.run();
    context.sessions.set(session.id, session);
    socket.once('close', () => context.sessions.delete(session.id));
  }

  /** The connection no longer counts as pending: it publishes, or it is gone. */
  private settle(connection: Connection): void {
    if (connection.timer) clearTimeout(connection.timer);
    connection.timer = null;
    if (!connection.pending) return;
    connection.pending = false;
    this.pendingTotal--;
    const left = (this.pendingByAddress.get(connection.address) ?? 1) - 1;
    if (left > 0) this.pendingByAddress.set(connection.address, left);
    else this.pendingByAddress.delete(connection.address);
  }

  /** One line per address and reason every 10 s, with a count (see RefusalLog). */
  private logRefusal(address: string, reason: string, fields: Record<string, unknown>): void {
    this.refusals.note(address, reason, (refusedSinceLastLine) => this.log.info({ ip: address, ...fields, refusedSinceLastLine }, reason));
  }

  private onPrePublish(session: NmsSession): void {
    const log = this.log.child({ session: session.id, ip: session.ip });
    const connection = this.connections.get(session.socket);
    const disconnect = () => session.socket.destroy();
    const rtmp = session.rtmp as unknown as { streamId: number; sendStatusMessage(sid: number, level: string, code: string, description: string): void };
    let decision: PublishHandler | PublishRefusal;
    try {
      decision = this.options.authority.authorize(
        { app: session.streamApp ?? '', streamKey: session.streamName ?? '', sessionId: session.id, ip: session.ip },
        disconnect,
      );
    } catch (error) {
      decision = { refused: `internal error: ${(error as Error).message}`, code: 'PUBLISH_UNAVAILABLE' };
    }
    if ('refused' in decision) {
      log.warn({ code: decision.code, reason: decision.refused }, 'refused RTMP publish');
      // Drop whatever arrives before the socket closes.
      session.rtmp.onPacketCallback = () => {};
      // Tell the encoder why, as an onStatus error, then close once it is written.
      rtmp.sendStatusMessage(rtmp.streamId, 'error', statusOfRefusal[decision.code], `Publish refused: ${decision.refused} (${decision.code}).`);
      // Closed as soon as that is flushed: node-media-server counts it as the path's publisher until then.
      session.socket.end(disconnect);
      return;
    }
    if (connection) {
      this.settle(connection);
      connection.guard.publishing();
    }
    rtmp.sendStatusMessage(rtmp.streamId, 'status', 'NetStream.Publish.Start', 'Publishing.');
    const handler = decision;
    session.rtmp.onPacketCallback = (packet: NmsPacket) => {
      try {
        // The parser reuses its buffer: the unit is copied out of it.
        const unit = flvTagToUnit(packet.codec_type, packet.dts, packet.data.subarray(0, packet.size));
        if (unit) handler.onUnit(unit, Date.now());
      } catch (error) {
        // node-media-server would close the session silently; say why first.
        log.error({ err: error }, 'RTMP packet could not be ingested; disconnecting');
        disconnect();
      }
    };
    session.socket.once('close', () => handler.onClose());
  }

  async stop(): Promise<void> {
    if (!this.nms) return;
    this.nms.rtmpServer.stop();
    for (const socket of this.connections.keys()) socket.destroy();
    await this.nms.stop();
    this.nms = null;
  }
}
