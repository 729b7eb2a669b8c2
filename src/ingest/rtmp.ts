import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import NodeMediaServer, { type NmsPacket, type NmsSession } from 'node-media-server';
import type { Logger } from '../logger.js';

/** What an accepted publisher's packets go to. */
export type PublishHandler = {
  onPacket(tagType: number, timestampMs: number, body: Uint8Array, arrivalMs: number): void;
  onClose(): void;
};

export type PublishRequest = { app: string; streamKey: string; sessionId: string; ip: string };

/** The stream world as RTMP ingest needs it: declared here, by its user. */
export type PublishAuthority = {
  /** Decides synchronously (node-media-server cannot wait): a handler, or why not. */
  authorize(request: PublishRequest, disconnect: () => void): PublishHandler | { refused: string };
};

export type RtmpIngestOptions = { host: string; port: number; dataDir: string; log: Logger; authority: PublishAuthority };

type NmsLogger = { log: (message: string, level?: string) => void; level: string };

/**
 * node-media-server embedded as the RTMP listener. Its HTTP side, store, relay and recorder stay
 * off; its logs go to pino; its listen errors become our errors instead of process.exit. Each
 * accepted publisher's packets go straight to its handler, never into node-media-server's
 * shared broadcast, so a second publisher on a key cannot touch the first one's stream.
 */
export class RtmpIngest {
  private nms: NodeMediaServer | null = null;

  constructor(private readonly options: RtmpIngestOptions) {}

  async start(): Promise<number> {
    const { log } = this.options;
    const require = createRequire(import.meta.url);
    const nmsLogger = require('node-media-server/src/core/logger.js') as NmsLogger;
    const rtmpLog = log.child({ component: 'rtmp' });
    nmsLogger.log = (message: string, level = 'info') => {
      rtmpLog[level === 'error' ? 'warn' : 'debug']({ nmsLevel: level }, message);
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
    // node-media-server's events go through one process-wide emitter: with two servers in a
    // process (tests, embedding), each must act only on the sessions its own listener accepted.
    const ours = new WeakSet<object>();
    server.on('connection', (socket) => ours.add(socket));
    const own = (session: NmsSession) => ours.has(session.socket);
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

  private onPrePublish(session: NmsSession): void {
    const log = this.options.log.child({ component: 'rtmp', session: session.id, ip: session.ip });
    const disconnect = () => session.socket.destroy();
    let decision: PublishHandler | { refused: string };
    try {
      decision = this.options.authority.authorize(
        { app: session.streamApp ?? '', streamKey: session.streamName ?? '', sessionId: session.id, ip: session.ip },
        disconnect,
      );
    } catch (error) {
      decision = { refused: `internal error: ${(error as Error).message}` };
    }
    if ('refused' in decision) {
      log.warn({ reason: decision.refused }, 'refused RTMP publish');
      // Drop whatever arrives before the socket closes.
      session.rtmp.onPacketCallback = () => {};
      disconnect();
      return;
    }
    const handler = decision;
    session.rtmp.onPacketCallback = (packet: NmsPacket) => {
      try {
        // The parser reuses its buffer: the handler copies what it keeps.
        handler.onPacket(packet.codec_type, packet.dts, packet.data.subarray(0, packet.size), Date.now());
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
    await this.nms.stop();
    this.nms = null;
  }
}
