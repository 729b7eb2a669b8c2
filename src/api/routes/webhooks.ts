import { randomBytes, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { Router } from 'express';
import { z } from 'zod';
import type { Clock } from '../../clock.js';
import { WeirError } from '../../errors.js';
import { testEventType, webhookEventTypes } from '../../operator/webhooks/events.js';
import type { AddressPolicy } from '../../operator/webhooks/send.js';
import type { WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookStore } from '../../operator/webhooks/store.js';
import { jsonBody, parseInput } from '../http.js';

// Standard Webhooks secrets: whsec_ and 24 to 64 random bytes in base64.
const secretPattern = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/;
const url = z.url({ protocol: /^https?$/ }).max(2000);

export const createWebhookBody = z.strictObject({
  url,
  events: z.array(z.enum(webhookEventTypes)).min(1).max(webhookEventTypes.length),
  description: z.string().trim().max(500).optional(),
  /** Given, it is used (a secret shared with a receiver already); otherwise one is made. */
  secret: z.string().regex(secretPattern, 'whsec_ and 24 to 64 bytes in base64').optional(),
  enabled: z.boolean().optional(),
});
export const updateWebhookBody = createWebhookBody.omit({ secret: true }).partial();
export const deliveryLogQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The `next` of the page before. */
  before: z.string().regex(/^\d{1,15}\.msg_[0-9a-f]{32}$/, 'the next cursor of the page before').optional(),
});

export type WebhookRoutesDeps = {
  store: WebhookStore;
  /** Which addresses an endpoint may name (literal addresses are judged when registered, names when sent). */
  allowed: AddressPolicy;
  /** Puts a message for one endpoint in the outbox; returns its id. */
  sendTest(endpointId: string): string;
  /** An endpoint changed (turned back on, say): messages of it that fell due meanwhile go now. */
  changed(): void;
  clock: Clock;
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function endpointResource(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    events: endpoint.eventTypes,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    createdAt: iso(endpoint.createdAt)!,
    updatedAt: iso(endpoint.updatedAt)!,
  };
}

function attemptResource(attempt: WebhookAttempt) {
  return { attempt: attempt.attempt, at: iso(attempt.at)!, durationMs: attempt.durationMs, status: attempt.status, error: attempt.error, detail: attempt.detail };
}

function messageResource(message: WebhookMessage & { attemptLog: WebhookAttempt[] }) {
  return {
    id: message.id,
    type: message.eventType,
    state: message.state,
    attempts: message.attempts,
    nextAttemptAt: iso(message.nextAttemptAt),
    createdAt: iso(message.createdAt)!,
    finishedAt: iso(message.finishedAt),
    payload: JSON.parse(message.payload) as unknown,
    attemptLog: message.attemptLog.map(attemptResource),
  };
}

const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** Webhook endpoints (admin): register, change, test, read the delivery log. */
export function webhookRoutes(deps: WebhookRoutesDeps): Router {
  const router = Router();
  const json = jsonBody('16kb');
  const { store, clock } = deps;

  /** Refuses a URL whose host is, by its very form, an address webhooks may not reach. */
  const checkUrl = (text: string): string => {
    const parsed = new URL(text);
    if (parsed.username || parsed.password) throw new WeirError('WEBHOOK_URL_REFUSED', 'A webhook URL may not carry a user name or password; sign requests with the secret instead.');
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    // "localhost" is loopback by definition (RFC 6761), whatever a resolver says.
    const literal = isIP(host) ? host : /(^|\.)localhost\.?$/i.test(host) ? '127.0.0.1' : null;
    if (literal !== null && !deps.allowed(literal)) {
      throw new WeirError('WEBHOOK_URL_REFUSED', `Webhooks may not reach ${host}: it is a private, loopback, link-local or reserved address (allow its range in webhooks.allowedAddresses).`);
    }
    return parsed.href;
  };

  const find = (id: string): WebhookEndpoint => {
    const endpoint = store.endpoint(id);
    if (!endpoint) throw new WeirError('WEBHOOK_NOT_FOUND', `No webhook endpoint with id ${JSON.stringify(id)}.`);
    return endpoint;
  };

  router.post('/v1/webhooks', json, (req, res) => {
    const body = parseInput(createWebhookBody, req.body ?? {}, 'webhook body');
    const secret = body.secret ?? newSecret();
    const endpoint = store.createEndpoint(
      { id: randomUUID(), url: checkUrl(body.url), description: body.description ?? '', eventTypes: [...new Set(body.events)], secret, enabled: body.enabled ?? true },
      clock.now(),
    );
    req.log.info({ webhookId: endpoint.id, events: endpoint.eventTypes }, 'webhook endpoint created');
    // The secret is shown here and by rotate-secret only; it is kept sealed.
    res.status(201).location(`/v1/webhooks/${endpoint.id}`).json({ ...endpointResource(endpoint), secret });
  });

  router.get('/v1/webhooks', (_req, res) => {
    res.json({ items: store.endpoints().map(endpointResource) });
  });

  router.get('/v1/webhooks/:id', (req, res) => {
    res.json(endpointResource(find(req.params.id)));
  });

  router.patch('/v1/webhooks/:id', json, (req, res) => {
    const endpoint = find(String(req.params.id));
    const body = parseInput(updateWebhookBody, req.body ?? {}, 'webhook body');
    const updated = store.updateEndpoint(
      {
        ...endpoint,
        url: body.url === undefined ? endpoint.url : checkUrl(body.url),
        description: body.description ?? endpoint.description,
        eventTypes: body.events ? [...new Set(body.events)] : endpoint.eventTypes,
        enabled: body.enabled ?? endpoint.enabled,
      },
      clock.now(),
    );
    deps.changed();
    res.json(endpointResource(updated));
  });

  router.delete('/v1/webhooks/:id', (req, res) => {
    find(req.params.id);
    store.removeEndpoint(req.params.id);
    res.status(204).end();
  });

  router.post('/v1/webhooks/:id/rotate-secret', (req, res) => {
    find(req.params.id);
    const secret = newSecret();
    store.replaceSecret(req.params.id, secret, clock.now());
    req.log.info({ webhookId: req.params.id }, 'webhook secret rotated');
    res.json({ secret });
  });

  router.post('/v1/webhooks/:id/test', (req, res) => {
    const endpoint = find(req.params.id);
    if (!endpoint.enabled) throw new WeirError('WEBHOOK_DISABLED', 'The endpoint is turned off; enable it (PATCH enabled: true) before sending it a test.');
    res.status(202).json({ messageId: deps.sendTest(endpoint.id), type: testEventType });
  });

  router.get('/v1/webhooks/:id/deliveries', (req, res) => {
    find(req.params.id);
    const query = parseInput(deliveryLogQuery, req.query, 'query');
    const cursor = query.before ? { createdAt: Number(query.before.slice(0, query.before.indexOf('.'))), id: query.before.slice(query.before.indexOf('.') + 1) } : null;
    const page = store.deliveryLog(req.params.id, query.limit, cursor);
    const last = page.at(-1);
    res.json({ items: page.map(messageResource), next: page.length === query.limit && last ? `${last.createdAt}.${last.id}` : null });
  });

  return router;
}
