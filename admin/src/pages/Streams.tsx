import { useCallback, useEffect, useState } from 'preact/hooks';
import { AccessEditor } from '../access';
import { MetadataEditor } from '../metadata';
import { type Stream, api, describeError } from '../api';
import { useEvents } from '../events';
import { Preview } from '../preview';

/** Live streams: create, see where to publish, preview, reset the key, edit access. */
export function Streams() {
  const [streams, setStreams] = useState<Stream[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const load = useCallback(() => void api<{ items: Stream[] }>('/v1/live-streams').then((r) => setStreams(r.items)), []);
  useEffect(load, [load]);
  const refresh = (id: string) => void api<Stream>(`/v1/live-streams/${id}`).then((stream) => setStreams((list) => (list.some((s) => s.id === id) ? list.map((s) => (s.id === id ? stream : s)) : [...list, stream])), () => undefined);
  useEvents((event) => {
    const id = String(event.data.id);
    if (event.type === 'stream.changed') refresh(id);
    if (event.type === 'stream.removed') setStreams((list) => list.filter((s) => s.id !== id));
  }, load);

  const create = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    try {
      const stream = await api<Stream>('/v1/live-streams', { method: 'POST', json: { name: String(data.get('name')), mode: String(data.get('mode')), protection: String(data.get('protection')), archive: data.get('archive') === 'on' } });
      setStreams((list) => [...list.filter((s) => s.id !== stream.id), stream]);
      setError(null);
      form.reset();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  const resetKey = async (stream: Stream) => {
    if (!confirm(`Reset the key of ${stream.name}? A publisher using the old key is cut.`)) return;
    const updated = await api<Stream>(`/v1/live-streams/${stream.id}/reset-key`, { method: 'POST', json: {} });
    setStreams((list) => list.map((s) => (s.id === stream.id ? updated : s)));
  };
  const remove = async (stream: Stream) => {
    if (!confirm(`Delete ${stream.name}?`)) return;
    await api(`/v1/live-streams/${stream.id}`, { method: 'DELETE' });
  };
  return (
    <>
      <section aria-labelledby="new-stream">
        <h2 id="new-stream">New live stream</h2>
        <form class="inline" onSubmit={create} aria-label="Create a live stream">
          <div>
            <label for="stream-name">Name</label>
            <input id="stream-name" name="name" required maxLength={200} />
          </div>
          <div>
            <label for="stream-mode">Mode</label>
            <select id="stream-mode" name="mode">
              <option value="passthrough">passthrough</option>
              <option value="ladder">ladder (transcode)</option>
            </select>
          </div>
          <div>
            <label for="stream-protection">Protection</label>
            <select id="stream-protection" name="protection">
              <option value="none">none</option>
              <option value="cenc">cenc</option>
              <option value="cbcs">cbcs</option>
            </select>
          </div>
          <div>
            <label>
              <input type="checkbox" name="archive" /> Archive as a title
            </label>
          </div>
          <button type="submit">Create stream</button>
          {error && (
            <p role="alert" class="error">
              {error}
            </p>
          )}
        </form>
      </section>
      <section aria-labelledby="streams">
        <h2 id="streams">Live streams</h2>
        <div class="cards">
          {streams.map((stream) => (
            <div class="card" key={stream.id} data-stream={stream.id} data-state={stream.state}>
              <h3>{stream.name}</h3>
              <p>
                <span class="state" data-state={stream.state}>
                  {stream.state}
                </span>{' '}
                {stream.mode}, {stream.protection}
              </p>
              <p>
                RTMP: <code data-ingest="rtmp">{stream.ingest.rtmp}</code>
              </p>
              <p>
                SRT: <code data-ingest="srt">{stream.ingest.srt}</code>
              </p>
              {stream.state === 'live' && <Preview contentId={stream.id} label={stream.name} />}
              <p>
                <button type="button" class="secondary" onClick={() => void resetKey(stream)}>
                  Reset key
                </button>{' '}
                <button type="button" class="secondary" onClick={() => setEditing(editing === stream.id ? null : stream.id)} aria-expanded={editing === stream.id}>
                  Edit
                </button>{' '}
                <button type="button" class="secondary" onClick={() => void remove(stream)}>
                  Delete
                </button>
              </p>
              {editing === stream.id && (
                <>
                  <MetadataEditor path={`/v1/live-streams/${stream.id}`} label={stream.name} />
                  <AccessEditor path={`/v1/live-streams/${stream.id}`} label={stream.name} />
                </>
              )}
            </div>
          ))}
        </div>
      </section>
    </>
  );
}
