import { useCallback, useEffect, useState } from 'preact/hooks';
import { type Delivery, type Webhook, api, describeError } from '../api';

const eventTypes = ['title.changed', 'title.removed', 'stream.changed', 'stream.removed', 'session.started', 'session.ended'];

function DeliveryLog({ id }: { id: string }) {
  const [items, setItems] = useState<Delivery[] | null>(null);
  useEffect(() => void api<{ items: Delivery[] }>(`/v1/webhooks/${id}/deliveries?limit=50`).then((r) => setItems(r.items)), [id]);
  if (!items) return null;
  if (items.length === 0) return <p>No deliveries yet.</p>;
  return (
    <div class="table-wrap">
      <table aria-label="Delivery log">
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">State</th>
            <th scope="col">Attempts</th>
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={item.id}>
              <td>
                {item.type}
                <br />
                <small>{item.createdAt}</small>
              </td>
              <td>
                <span class="state" data-state={item.state === 'delivered' ? 'ready' : item.state}>
                  {item.state}
                </span>
              </td>
              <td>{item.attemptLog.map((a) => `#${a.attempt} ${a.status ?? a.error} (${a.durationMs} ms)`).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Webhooks() {
  const [hooks, setHooks] = useState<Webhook[]>([]);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const load = useCallback(() => void api<{ items: Webhook[] }>('/v1/webhooks').then((r) => setHooks(r.items)), []);
  useEffect(load, [load]);
  const create = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    try {
      const created = await api<Webhook & { secret: string }>('/v1/webhooks', { method: 'POST', json: { url: String(data.get('url')), description: String(data.get('description') ?? ''), events: data.getAll('events').map(String) } });
      setSecret(created.secret);
      setError(null);
      form.reset();
      load();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  const act = async (hook: Webhook, action: 'test' | 'toggle' | 'delete' | 'rotate') => {
    try {
      if (action === 'test') await api(`/v1/webhooks/${hook.id}/test`, { method: 'POST' });
      if (action === 'toggle') await api(`/v1/webhooks/${hook.id}`, { method: 'PATCH', json: { enabled: !hook.enabled } });
      if (action === 'delete' && confirm(`Remove the webhook to ${hook.url}?`)) await api(`/v1/webhooks/${hook.id}`, { method: 'DELETE' });
      if (action === 'rotate') setSecret((await api<{ secret: string }>(`/v1/webhooks/${hook.id}/rotate-secret`, { method: 'POST' })).secret);
      load();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <>
      <section aria-labelledby="new-webhook">
        <h2 id="new-webhook">New webhook</h2>
        <form class="inline" onSubmit={create} aria-label="Register a webhook">
          <div>
            <label for="hook-url">URL</label>
            <input id="hook-url" name="url" type="url" required size={40} />
          </div>
          <div>
            <label for="hook-description">Description</label>
            <input id="hook-description" name="description" />
          </div>
          <fieldset>
            <legend>Events</legend>
            {eventTypes.map((type) => (
              <label key={type}>
                <input type="checkbox" name="events" value={type} /> {type}{' '}
              </label>
            ))}
          </fieldset>
          <button type="submit">Register</button>
        </form>
        {secret && (
          <p role="status">
            Signing secret (shown once): <code>{secret}</code>
          </p>
        )}
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </section>
      <section aria-labelledby="webhooks">
        <h2 id="webhooks">Webhooks</h2>
        {hooks.map((hook) => (
          <div class="card" key={hook.id}>
            <p>
              <code>{hook.url}</code> {hook.enabled ? '' : <span class="state">off{hook.disabledReason ? `: ${hook.disabledReason}` : ''}</span>}
            </p>
            <p>{hook.events.join(', ')}</p>
            <p>
              {(['test', 'toggle', 'rotate', 'delete'] as const).map((action) => (
                <button key={action} type="button" class="secondary" onClick={() => void act(hook, action)}>
                  {{ test: 'Send test', toggle: hook.enabled ? 'Turn off' : 'Turn on', rotate: 'Rotate secret', delete: 'Remove' }[action]}
                </button>
              ))}{' '}
              <button type="button" class="link" aria-expanded={open === hook.id} onClick={() => setOpen(open === hook.id ? null : hook.id)}>
                Delivery log
              </button>
            </p>
            {open === hook.id && <DeliveryLog id={hook.id} />}
          </div>
        ))}
      </section>
    </>
  );
}
