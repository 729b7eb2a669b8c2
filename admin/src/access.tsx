import { useEffect, useState } from 'preact/hooks';
import { type Access, api, describeError } from './api';

const localInput = (iso: string | null) => (iso ? iso.slice(0, 16) : '');
const isoOf = (local: string) => (local ? new Date(`${local}Z`).toISOString() : null);

/** Edits who may watch a title or stream: packages, availability window (UTC), geo and rating. */
export function AccessEditor({ path, label }: { path: string; label: string }) {
  const [access, setAccess] = useState<Access | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    void api<Access>(`${path}/access`).then(setAccess, (e: Error) => setMessage(e.message));
  }, [path]);
  if (!access) return message ? <p class="error">{message}</p> : null;
  const save = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const countries = String(form.get('countries') ?? '')
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((c) => c.toUpperCase());
    const body = {
      packages: String(form.get('packages') ?? '')
        .split(/[\s,]+/)
        .filter(Boolean),
      availableFrom: isoOf(String(form.get('from') ?? '')),
      availableUntil: isoOf(String(form.get('until') ?? '')),
      geo: countries.length > 0 ? { mode: String(form.get('geoMode')) as 'allow' | 'deny', countries } : null,
      rating: String(form.get('rating') ?? '') || null,
    };
    try {
      setAccess(await api<Access>(`${path}/access`, { method: 'PUT', json: body }));
      setMessage('Saved.');
    } catch (caught) {
      setMessage(describeError(caught));
    }
  };
  const id = path.replace(/\W/g, '-');
  return (
    <form class="inline" onSubmit={save} aria-label={`Access of ${label}`}>
      <div>
        <label for={`${id}-packages`}>Packages</label>
        <input id={`${id}-packages`} name="packages" defaultValue={access.packages.join(', ')} />
      </div>
      <div>
        <label for={`${id}-from`}>Available from (UTC)</label>
        <input id={`${id}-from`} name="from" type="datetime-local" defaultValue={localInput(access.availableFrom)} />
      </div>
      <div>
        <label for={`${id}-until`}>until (UTC)</label>
        <input id={`${id}-until`} name="until" type="datetime-local" defaultValue={localInput(access.availableUntil)} />
      </div>
      <div>
        <label for={`${id}-geo`}>Countries</label>
        <select id={`${id}-geo`} name="geoMode" defaultValue={access.geo?.mode ?? 'allow'} aria-label="Geo mode">
          <option value="allow">only in</option>
          <option value="deny">everywhere but</option>
        </select>
        <input name="countries" aria-label="Country codes" placeholder="DE, FR" defaultValue={access.geo?.countries.join(', ') ?? ''} />
      </div>
      <div>
        <label for={`${id}-rating`}>Rating</label>
        <input id={`${id}-rating`} name="rating" defaultValue={access.rating ?? ''} size={6} />
      </div>
      <button type="submit">Save access</button>
      {message && <p role="status">{message}</p>}
    </form>
  );
}
