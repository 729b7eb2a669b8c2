import { useEffect, useRef } from 'preact/hooks';
import { tokenStore } from './api';

export type LiveEvent = { id: number; topic: string; type: string; data: Record<string, unknown> };

/**
 * Listens to Weir's event socket (live state arrives here, not by polling). A dropped socket
 * reconnects after a pause and asks for the events after the last one it saw.
 */
export function useEvents(onEvent: (event: LiveEvent) => void, onResync: () => void): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const resync = useRef(onResync);
  resync.current = onResync;
  useEffect(() => {
    let socket: WebSocket | null = null;
    let lastId: number | null = null;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const connect = () => {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const after = lastId === null ? '' : `&after=${lastId}`;
      socket = new WebSocket(`${scheme}://${location.host}/v1/events?access_token=${encodeURIComponent(tokenStore.get() ?? '')}${after}`);
      socket.onmessage = (message) => {
        const event = JSON.parse(String(message.data)) as LiveEvent & { complete?: boolean };
        if (event.type === 'hello') {
          if (event.complete === false) resync.current(); // missed some: read the state afresh
          return;
        }
        lastId = event.id;
        handler.current(event);
      };
      socket.onclose = () => {
        if (!stopped) retry = setTimeout(connect, 2000);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      socket?.close();
    };
  }, []);
}
