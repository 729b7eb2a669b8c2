import type { EventHub, OperatorEvent } from '../events.js';

/** The events an endpoint can ask for: the event socket's, less ingest statistics and encode progress. */
export const webhookEventTypes = ['title.changed', 'title.removed', 'stream.changed', 'stream.removed', 'session.started', 'session.ended'] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** Sent by POST /v1/webhooks/:id/test to that endpoint alone, whatever it asked for. */
export const testEventType = 'webhook.test';

/**
 * Hands the hub's events to the webhook outbox. A title's changes are passed on only when its
 * state changes: encode progress would be a request per percent per endpoint.
 */
export function forwardToWebhooks(hub: EventHub, enqueue: (type: WebhookEventType, data: Record<string, unknown>) => void): () => void {
  const titleStates = new Map<string, unknown>();
  const types = new Set<string>(webhookEventTypes);
  const { stop } = hub.listen(
    {
      topics: new Set(['titles', 'streams', 'sessions'] as const),
      deliver(event: OperatorEvent) {
        if (!types.has(event.type)) return;
        if (event.type === 'title.changed') {
          const id = String(event.data.id);
          if (titleStates.get(id) === event.data.state) return;
          titleStates.set(id, event.data.state);
          const { progress: _progress, ...data } = event.data;
          enqueue('title.changed', data);
          return;
        }
        if (event.type === 'title.removed') titleStates.delete(String(event.data.id));
        enqueue(event.type as WebhookEventType, event.data);
      },
    },
    null,
  );
  return stop;
}
