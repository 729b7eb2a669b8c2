import pg from 'pg';
import type { Logger } from '../../logger.js';

export type ChangeListenerOptions = {
  url: string;
  log: Logger;
  /** A committed change to `table` (as the schema's triggers announce it) touching `key`. */
  onChange(table: string, key: string): void;
  /** Called after a reconnect: changes made while nobody listened were missed, so everything held may be stale. */
  onResync(): void;
  /** The first wait before reconnecting; it doubles up to 30 s. */
  retryMs?: number;
  /** How the connection is named in pg_stat_activity. */
  applicationName?: string;
};

export type ChangeListener = { stop(): Promise<void> };

/**
 * Hears the catalog changes every node makes (the `weir_changes` channel that the schema's triggers
 * notify on commit), so a node drops what it holds in memory of a changed key at once. Its own
 * connection, async on the main thread; it reconnects with backoff when the server goes away.
 */
export function listenForChanges(options: ChangeListenerOptions): ChangeListener {
  const log = options.log.child({ component: 'catalog-changes' });
  const firstRetryMs = options.retryMs ?? 500;
  let client: pg.Client | null = null;
  let stopped = false;
  let retryMs = firstRetryMs;
  let timer: NodeJS.Timeout | null = null;
  let connectedBefore = false;

  const connect = async (): Promise<void> => {
    if (stopped) return;
    const next = new pg.Client({ connectionString: options.url, application_name: options.applicationName ?? 'weir changes' });
    client = next;
    const retry = () => {
      if (stopped || client !== next) return;
      client = null;
      void next.end().catch(() => undefined);
      timer = setTimeout(() => void connect(), retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    };
    next.on('error', (error) => {
      log.warn({ err: error.message }, 'lost the catalog change channel; reconnecting');
      retry();
    });
    next.on('end', retry);
    next.on('notification', (message) => {
      const payload = message.payload ?? '';
      const colon = payload.indexOf(':');
      if (colon > 0) options.onChange(payload.slice(0, colon), payload.slice(colon + 1));
    });
    try {
      await next.connect();
      await next.query('LISTEN weir_changes');
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'could not listen for catalog changes; retrying');
      retry();
      return;
    }
    retryMs = firstRetryMs;
    if (connectedBefore) options.onResync();
    connectedBefore = true;
  };

  void connect();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      const current = client;
      client = null;
      await current?.end().catch(() => undefined);
    },
  };
}
