// The parts of node-media-server 4.x that Weir uses (the package ships no types).
declare module 'node-media-server' {
  import type { Server, Socket } from 'node:net';

  export type NmsPacket = { codec_type: number; dts: number; size: number; data: Buffer };
  export type NmsSession = {
    id: string;
    ip: string;
    streamApp?: string;
    streamName?: string;
    streamPath?: string;
    socket: Socket;
    rtmp: { onPacketCallback: (packet: NmsPacket) => void };
    broadcast?: { publishGraceMs: number };
  };
  export default class NodeMediaServer {
    constructor(config: Record<string, unknown>);
    on(event: string, listener: (session: NmsSession) => void): void;
    stop(): Promise<void>;
    rtmpServer: { tcpServer?: Server; stop(): void; handleRequest: (socket: Socket) => void };
    store: { options: { signals: boolean } };
  }
}
