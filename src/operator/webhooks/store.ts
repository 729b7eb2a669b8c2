import type { Db } from '../../catalog/database.js';

/** Seals and opens an endpoint's signing secret (the master key's AES-GCM, bound to the endpoint). */
export type SecretSealer = { seal(context: string, plaintext: string): string; open(context: string, text: string): string };

export type WebhookEndpoint = {
  id: string;
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
  /** Why Weir turned it off (the receiver answered 410 Gone); null when enabled or turned off by an operator. */
  disabledReason: string | null;
  createdAt: number;
  updatedAt: number;
};

export const messageStates = ['pending', 'delivered', 'failed'] as const;
export type MessageState = (typeof messageStates)[number];

/** One event on its way to one endpoint; its id is the webhook-id header, the same on every attempt. */
export type WebhookMessage = {
  id: string;
  endpointId: string;
  eventType: string;
  payload: string;
  state: MessageState;
  attempts: number;
  nextAttemptAt: number | null;
  createdAt: number;
  finishedAt: number | null;
};

/** What came of one attempt: the receiver's status, or the code of what stopped it reaching one. */
export type WebhookAttempt = { attempt: number; at: number; durationMs: number; status: number | null; error: string | null; detail: string | null };

type EndpointRow = { id: string; url: string; description: string; event_types: string; secret: string; enabled: number; disabled_reason: string | null; created_at: number; updated_at: number };
type MessageRow = { id: string; endpoint_id: string; event_type: string; payload: string; state: MessageState; attempts: number; next_attempt_at: number | null; created_at: number; finished_at: number | null };
type AttemptRow = { message_id: string; attempt: number; at: number; duration_ms: number; status: number | null; error: string | null; detail: string | null };

const endpointOf = (row: EndpointRow): WebhookEndpoint => ({
  id: row.id,
  url: row.url,
  description: row.description,
  eventTypes: JSON.parse(row.event_types) as string[],
  enabled: row.enabled === 1,
  disabledReason: row.disabled_reason,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const messageOf = (row: MessageRow): WebhookMessage => ({
  id: row.id,
  endpointId: row.endpoint_id,
  eventType: row.event_type,
  payload: row.payload,
  state: row.state,
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at,
  createdAt: row.created_at,
  finishedAt: row.finished_at,
});

const attemptOf = (row: AttemptRow): WebhookAttempt => ({ attempt: row.attempt, at: row.at, durationMs: row.duration_ms, status: row.status, error: row.error, detail: row.detail });

/**
 * Webhook endpoints, their outbox and their delivery log, in the catalog database. Messages are
 * written in the same synchronous step that learns of the event, so a process killed a moment
 * later still has them; the dispatcher reads due ones from here after a restart.
 */
export class WebhookStore {
  private readonly statements;
  /** Enabled endpoints, kept in memory: every event is matched against them. */
  private enabledCache: WebhookEndpoint[] | null = null;

  constructor(
    private readonly db: Db,
    private readonly sealer: SecretSealer,
  ) {
    this.statements = {
      insertEndpoint: db.prepare(
        `INSERT INTO webhook_endpoints (id, url, description, event_types, secret, enabled, disabled_reason, created_at, updated_at)
         VALUES (@id, @url, @description, @eventTypes, @secret, @enabled, NULL, @now, @now)`,
      ),
      endpoint: db.prepare(`SELECT * FROM webhook_endpoints WHERE id = ?`),
      endpoints: db.prepare(`SELECT * FROM webhook_endpoints ORDER BY created_at, id`),
      updateEndpoint: db.prepare(
        `UPDATE webhook_endpoints SET url = @url, description = @description, event_types = @eventTypes, enabled = @enabled, disabled_reason = @disabledReason, updated_at = @now WHERE id = @id`,
      ),
      updateSecret: db.prepare(`UPDATE webhook_endpoints SET secret = ?, updated_at = ? WHERE id = ?`),
      removeEndpoint: db.prepare(`DELETE FROM webhook_endpoints WHERE id = ?`),
      insertMessage: db.prepare(
        `INSERT INTO webhook_messages (id, endpoint_id, event_type, payload, state, attempts, next_attempt_at, created_at)
         VALUES (@id, @endpointId, @eventType, @payload, 'pending', 0, @now, @now)`,
      ),
      due: db.prepare(
        `SELECT m.* FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
         WHERE m.state = 'pending' AND m.next_attempt_at <= ? AND e.enabled = 1
         ORDER BY m.next_attempt_at, m.id LIMIT ?`,
      ),
      nextDue: db.prepare(
        `SELECT MIN(m.next_attempt_at) AS at FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
         WHERE m.state = 'pending' AND m.next_attempt_at > ? AND e.enabled = 1`,
      ),
      pending: db.prepare(`SELECT COUNT(*) AS count FROM webhook_messages WHERE state = 'pending'`),
      message: db.prepare(`SELECT * FROM webhook_messages WHERE id = ?`),
      insertAttempt: db.prepare(
        `INSERT INTO webhook_attempts (message_id, attempt, at, duration_ms, status, error, detail) VALUES (@messageId, @attempt, @at, @durationMs, @status, @error, @detail)`,
      ),
      settle: db.prepare(`UPDATE webhook_messages SET state = @state, attempts = @attempts, next_attempt_at = @nextAttemptAt, finished_at = @finishedAt WHERE id = @id`),
      log: db.prepare(`SELECT * FROM webhook_messages WHERE endpoint_id = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?`),
      attempts: db.prepare(`SELECT * FROM webhook_attempts WHERE message_id = ? ORDER BY attempt`),
      prune: db.prepare(`DELETE FROM webhook_messages WHERE state <> 'pending' AND finished_at < ?`),
    };
  }

  private secretContext(id: string): string {
    return `webhook-secret|${id}`;
  }

  createEndpoint(input: { id: string; url: string; description: string; eventTypes: string[]; secret: string; enabled: boolean }, now: number): WebhookEndpoint {
    this.statements.insertEndpoint.run({
      id: input.id,
      url: input.url,
      description: input.description,
      eventTypes: JSON.stringify(input.eventTypes),
      secret: this.sealer.seal(this.secretContext(input.id), input.secret),
      enabled: input.enabled ? 1 : 0,
      now,
    });
    this.enabledCache = null;
    return this.endpoint(input.id)!;
  }

  endpoint(id: string): WebhookEndpoint | null {
    const row = this.statements.endpoint.get(id) as EndpointRow | undefined;
    return row ? endpointOf(row) : null;
  }

  endpoints(): WebhookEndpoint[] {
    return (this.statements.endpoints.all() as EndpointRow[]).map(endpointOf);
  }

  enabledEndpoints(): readonly WebhookEndpoint[] {
    return (this.enabledCache ??= this.endpoints().filter((endpoint) => endpoint.enabled));
  }

  /** The endpoint's signing secret, opened from its sealed form. */
  secretOf(id: string): string | null {
    const row = this.statements.endpoint.get(id) as EndpointRow | undefined;
    return row ? this.sealer.open(this.secretContext(id), row.secret) : null;
  }

  updateEndpoint(endpoint: WebhookEndpoint, now: number): WebhookEndpoint {
    this.statements.updateEndpoint.run({
      id: endpoint.id,
      url: endpoint.url,
      description: endpoint.description,
      eventTypes: JSON.stringify(endpoint.eventTypes),
      enabled: endpoint.enabled ? 1 : 0,
      disabledReason: endpoint.enabled ? null : endpoint.disabledReason,
      now,
    });
    this.enabledCache = null;
    return this.endpoint(endpoint.id)!;
  }

  replaceSecret(id: string, secret: string, now: number): void {
    this.statements.updateSecret.run(this.sealer.seal(this.secretContext(id), secret), now, id);
  }

  /** Removes the endpoint with its messages and their attempts. */
  removeEndpoint(id: string): boolean {
    this.enabledCache = null;
    return this.statements.removeEndpoint.run(id).changes > 0;
  }

  /** Adds messages to the outbox, all or none. */
  enqueue(messages: { id: string; endpointId: string; eventType: string; payload: string }[], now: number): void {
    if (messages.length === 0) return;
    this.db.transaction(() => {
      for (const message of messages) this.statements.insertMessage.run({ ...message, now });
    })();
  }

  /** Pending messages of enabled endpoints whose next attempt is due, oldest first. */
  due(now: number, limit: number): WebhookMessage[] {
    return (this.statements.due.all(now, limit) as MessageRow[]).map(messageOf);
  }

  /** When the next pending message of an enabled endpoint falls due after `now`; null when none waits. */
  nextDueAfter(now: number): number | null {
    return (this.statements.nextDue.get(now) as { at: number | null }).at;
  }

  pendingCount(): number {
    return (this.statements.pending.get() as { count: number }).count;
  }

  message(id: string): WebhookMessage | null {
    const row = this.statements.message.get(id) as MessageRow | undefined;
    return row ? messageOf(row) : null;
  }

  /** Records an attempt and what the message becomes after it, in one transaction. */
  recordAttempt(message: WebhookMessage, attempt: WebhookAttempt, next: { state: MessageState; nextAttemptAt: number | null }): void {
    this.db.transaction(() => {
      this.statements.insertAttempt.run({ messageId: message.id, ...attempt });
      this.statements.settle.run({ id: message.id, state: next.state, attempts: attempt.attempt, nextAttemptAt: next.nextAttemptAt, finishedAt: next.state === 'pending' ? null : attempt.at });
    })();
  }

  /** The endpoint's messages, newest first, each with its attempts; `before` continues a page. */
  deliveryLog(endpointId: string, limit: number, before: { createdAt: number; id: string } | null): (WebhookMessage & { attemptLog: WebhookAttempt[] })[] {
    const from = before ?? { createdAt: Number.MAX_SAFE_INTEGER, id: '' };
    const rows = this.statements.log.all(endpointId, from.createdAt, from.createdAt, from.id, limit) as MessageRow[];
    return rows.map((row) => ({ ...messageOf(row), attemptLog: (this.statements.attempts.all(row.id) as AttemptRow[]).map(attemptOf) }));
  }

  /** Forgets delivered and failed messages finished before `olderThan`; pending ones stay whatever their age. */
  prune(olderThan: number): number {
    return this.statements.prune.run(olderThan).changes;
  }
}
