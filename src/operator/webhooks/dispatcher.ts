import { Webhook } from 'standardwebhooks';
import { RefusalLog } from '../../ingest/refusal-log.js';
import type { Logger } from '../../logger.js';
import { timeOrderedId } from '../../playback/ids.js';
import type { WebhookSender } from './send.js';
import type { WebhookMessage, WebhookStore } from './store.js';

export type DispatcherOptions = {
  store: WebhookStore;
  send: WebhookSender;
  now: () => number;
  log: Logger;
  /** Requests in flight at once, over all endpoints. */
  concurrency: number;
  /** Attempts before a message is given up (marked failed). */
  maxAttempts: number;
  /** The wait after the first failure; each further failure multiplies it by 4, up to maxRetryMs. */
  retryBaseMs: number;
  maxRetryMs: number;
  /** [0, 1): jitter. */
  random?: () => number;
  /** Told of each attempt's outcome (metrics). */
  onAttempt?: (outcome: 'delivered' | 'failed' | 'gave_up') => void;
};

/** The wait before attempt `failures + 1`: exponential, capped, with jitter so retries of many messages spread out. */
export function retryDelayMs(failures: number, baseMs: number, maxMs: number, random: number): number {
  const exponential = Math.min(maxMs, baseMs * 4 ** Math.max(0, failures - 1));
  return Math.round(exponential * (0.5 + random / 2));
}

/**
 * Delivers the outbox. Events become messages (one per matching endpoint) synchronously, in the
 * catalog database; sending happens after, a few at a time, signed per Standard Webhooks
 * (webhook-id, webhook-timestamp, webhook-signature). A failed attempt is retried with backoff
 * until maxAttempts; the message id stays the same so receivers can drop duplicates.
 */
export class WebhookDispatcher {
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private stopped = true;
  /** Aborts attempts in flight when stopping: their messages stay pending and go after a restart. */
  private readonly stopping = new AbortController();
  private readonly random: () => number;
  /** A dead receiver fails every message: one line per endpoint and error a minute, with a count. */
  private readonly failureLog: RefusalLog;

  constructor(private readonly options: DispatcherOptions) {
    this.random = options.random ?? Math.random;
    this.failureLog = new RefusalLog(60_000, 1_000, options.now);
  }

  /** Puts an event in the outbox of every enabled endpoint that asked for its type; returns the messages' ids. */
  enqueue(eventType: string, data: Record<string, unknown>, only?: string): string[] {
    const now = this.options.now();
    const endpoints = this.options.store.enabledEndpoints().filter((endpoint) => (only ? endpoint.id === only : endpoint.eventTypes.includes(eventType)));
    if (endpoints.length === 0) return [];
    const payload = JSON.stringify({ type: eventType, timestamp: new Date(now).toISOString(), data });
    const messages = endpoints.map((endpoint) => ({ id: `msg_${timeOrderedId(now).replaceAll('-', '')}`, endpointId: endpoint.id, eventType, payload }));
    this.options.store.enqueue(messages, now);
    this.wake(now);
    return messages.map((message) => message.id);
  }

  start(): void {
    this.stopped = false;
    this.wake(this.options.now());
  }

  /** Stops sending; attempts in flight are cut and not recorded (they are sent again after a restart). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all(this.inFlight.values());
  }

  /** Sends what is due now (when there is room), then sleeps until the next message falls due. */
  wake(now = this.options.now()): void {
    if (this.stopped) return;
    const room = this.options.concurrency - this.inFlight.size;
    if (room > 0) {
      // Fetch past the ones in flight so a slow receiver does not hide the messages behind it.
      for (const message of this.options.store.due(now, room + this.inFlight.size)) {
        if (this.inFlight.size >= this.options.concurrency) break;
        if (this.inFlight.has(message.id)) continue;
        const attempt = this.attempt(message).finally(() => {
          this.inFlight.delete(message.id);
          this.wake();
        });
        this.inFlight.set(message.id, attempt);
      }
    }
    this.schedule();
  }

  /**
   * Sleeps until the next message falls due. Messages due now but not taken are in flight or wait
   * for room: the end of an attempt wakes the dispatcher for them.
   */
  private schedule(): void {
    const next = this.options.store.nextDueAfter(this.options.now());
    if (next === null || this.stopped) return;
    if (this.timer && next >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, next - this.options.now());
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Infinity;
        this.wake();
      },
      Math.min(delay + 1, 60_000),
    );
    this.timer.unref();
  }

  private async attempt(message: WebhookMessage): Promise<void> {
    const { store, send, now, log } = this.options;
    const secret = store.secretOf(message.endpointId);
    const endpoint = store.endpoint(message.endpointId);
    if (!secret || !endpoint) return; // removed meanwhile, with its messages
    const at = now();
    const started = performance.now();
    const headers = {
      'webhook-id': message.id,
      'webhook-timestamp': String(Math.floor(at / 1000)),
      'webhook-signature': new Webhook(secret).sign(message.id, new Date(at), message.payload),
    };
    const result = await send({ url: endpoint.url, headers, body: message.payload, signal: this.stopping.signal });
    if (this.stopping.signal.aborted) return;
    const attempt = { attempt: message.attempts + 1, at, durationMs: Math.round(performance.now() - started), ...result };
    const delivered = result.error === null;
    const gone = result.status === 410;
    const givenUp = !delivered && (gone || attempt.attempt >= this.options.maxAttempts);
    if (!store.message(message.id)) return; // the endpoint was removed while this was in flight
    store.recordAttempt(message, attempt, {
      state: delivered ? 'delivered' : givenUp ? 'failed' : 'pending',
      nextAttemptAt: delivered || givenUp ? null : now() + retryDelayMs(attempt.attempt, this.options.retryBaseMs, this.options.maxRetryMs, this.random()),
    });
    this.options.onAttempt?.(delivered ? 'delivered' : givenUp ? 'gave_up' : 'failed');
    if (gone) {
      // 410 Gone: the receiver asks not to be called again (Standard Webhooks); the operator can turn it back on.
      store.updateEndpoint({ ...endpoint, enabled: false, disabledReason: 'The receiver answered 410 Gone.' }, now());
      log.warn({ endpointId: endpoint.id }, 'webhook endpoint answered 410 Gone: turned off');
    } else if (!delivered) {
      this.failureLog.note(endpoint.id, result.error ?? 'unknown', (alsoFailed) =>
        log.info({ endpointId: endpoint.id, messageId: message.id, attempt: attempt.attempt, error: result.error, status: result.status, givenUp, alsoFailed }, 'webhook attempt failed'),
      );
    }
  }
}
