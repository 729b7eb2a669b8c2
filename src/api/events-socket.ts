import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../logger.js';
import { eventTopics, type EventHub, type EventTopic } from '../operator/events.js';
import { secretMatcher } from '../secrets.js';
import { bearerOf } from './http.js';

export const eventsPath = '/v1/events';

/** Close codes of the event socket (4000–4999 are the application's). */
export const eventCloseCodes = { badRequest: 4000, tooSlow: 4008, stopping: 1001 } as const;

export type EventSocketOptions = {
  hub: EventHub;
  adminToken: string;
  /** Past this many bytes waiting to be sent to one client, it is too slow: closed, never buffered without bound. */
  maxBufferedBytes: number;
  log: Logger;
};

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = ({ 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found' } as Record<number, string>)[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/**
 * The operator's live events over a WebSocket at /v1/events (admin token as a bearer header, or
 * `access_token` in the query for browsers, which cannot set headers on a WebSocket). The query
 * picks topics (`topics=titles,streams`; all by default) and, for a reconnecting client, where to
 * resume (`after=<last id seen>`). The first message says whether the replay was complete.
 */
export function attachEventSocket(server: Server, options: EventSocketOptions): { close(): void } {
  const matches = secretMatcher(options.adminToken);
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://weir');
    if (url.pathname.toLowerCase() !== eventsPath) {
      refuse(socket, 404, 'NOT_FOUND', `Only ${eventsPath} takes a WebSocket.`);
      return;
    }
    const given = bearerOf(req.headers.authorization) ?? url.searchParams.get('access_token');
    if (!given || !matches(given)) {
      refuse(socket, 401, 'ADMIN_AUTH_REQUIRED', given ? 'The admin bearer token is not valid.' : 'The event socket needs "Authorization: Bearer <admin token>" (or access_token in the query).');
      return;
    }
    const asked = url.searchParams.get('topics');
    const topics = asked === null ? [...eventTopics] : asked.split(',').filter(Boolean);
    const unknown = topics.filter((topic) => !(eventTopics as readonly string[]).includes(topic));
    const after = url.searchParams.get('after');
    if (unknown.length > 0 || topics.length === 0 || (after !== null && !/^\d{1,15}$/.test(after))) {
      refuse(socket, 400, 'VALIDATION_FAILED', `topics must be some of ${eventTopics.join(', ')} and after a non-negative integer; received topics=${JSON.stringify(asked?.slice(0, 100))}, after=${JSON.stringify(after?.slice(0, 20))}.`);
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => serve(ws, new Set(topics as EventTopic[]), after === null ? null : Number(after)));
  };

  const serve = (ws: WebSocket, topics: ReadonlySet<EventTopic>, after: number | null) => {
    let closing = false;
    const tooSlow = () => {
      closing = true;
      subscription.stop();
      options.log.warn({ buffered: ws.bufferedAmount }, 'event socket client too slow; closing it');
      ws.close(eventCloseCodes.tooSlow, 'too slow: events were not read');
      // A client that reads nothing reads no close frame either.
      setTimeout(() => ws.terminate(), 5_000).unref();
    };
    const deliver = (event: unknown) => {
      if (closing) return;
      if (ws.bufferedAmount > options.maxBufferedBytes) return tooSlow();
      ws.send(JSON.stringify(event));
    };
    const pending: unknown[] = [];
    let ready = false;
    const subscription = options.hub.listen({ topics, deliver: (event) => (ready ? deliver(event) : pending.push(event)) }, after);
    deliver({ type: 'hello', topics: [...topics], complete: subscription.complete });
    ready = true;
    for (const event of pending) deliver(event);
    ws.on('close', () => subscription.stop());
    ws.on('error', () => subscription.stop());
    // Clients only listen; what they send is ignored (bounded by maxPayload).
  };

  server.on('upgrade', onUpgrade);
  return {
    close: () => {
      server.off('upgrade', onUpgrade);
      for (const ws of sockets.clients) ws.close(eventCloseCodes.stopping, 'server stopping');
      sockets.close();
    },
  };
}
